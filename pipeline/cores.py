"""How many cores this process may really use, and the thread counts that follow from it.

``os.cpu_count()`` is the host's count: in a container limited to 4 CPUs on a 64-core host it
says 64, and llama.cpp with 64 threads on 4 CPUs' worth of time spends it waiting for its own
threads (each decode step waits for the slowest). The CPUs this process may be scheduled on
(its affinity) and the cgroup's CPU quota (``cpu.max``, what a container's CPU limit sets)
both bound it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def model_threads(cores: int | None = None) -> int:
    """Threads for llama.cpp (and Whisper) by default: every core but one, which stays for the
    event loop, the database and the other run's step. ``benchmarks/model_server.py
    --threads-sweep`` measured why (docs/deploy.md, "Sizing")."""
    total = available_cores() if cores is None else cores
    return max(1, total - 1)
