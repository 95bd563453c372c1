"""The cores a process may use: its affinity, bounded by a container's CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.cores import available_cores, model_threads

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", AFFINITY),  # no limit: the CPUs it may run on
        ("100000 100000\n", 1),  # one CPU's worth of time
        ("150000 100000\n", min(AFFINITY, 2)),  # 1.5 CPUs: two threads can use it
        ("400000000 100000\n", AFFINITY),  # a quota above the CPUs there are
        ("garbage\n", AFFINITY),
    ],
)
def test_a_containers_cpu_quota_bounds_the_cores(
    tmp_path: Path, cpu_max: str, expected: int
) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max)
    assert available_cores(quota) == expected


def test_no_cgroup_file_means_the_affinity() -> None:
    assert available_cores(Path("/nonexistent/cpu.max")) == AFFINITY


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_models_leave_one_core_for_the_rest(cores: int, threads: int) -> None:
    assert model_threads(cores) == threads
