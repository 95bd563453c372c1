"""``smartnotes eval`` over the shipped labelled calls, through the scripted Claude peer.

The peer answers each call's gold commitments with the words said and no dates, so what is
measured end to end is ours: grounding, deadline resolution, owners, merging and the recall
check. The target on the shipped set is 100 % on every measure.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smartnotes.evaluation.gold import load_set
from tests.integration.test_cli import _env, _smartnotes

EVALS = Path(__file__).resolve().parents[2] / "evals" / "calls"


def test_the_shipped_set_is_big_and_varied_enough() -> None:
    calls = load_set(EVALS)
    assert len(calls) >= 12
    assert sum(len(c.commitments) for c in calls) >= 80
    assert len({c.timezone for c in calls}) >= 5
    longest = max(calls, key=lambda c: c.transcript_path.stat().st_size)
    assert "01:2" in longest.transcript_path.read_text(encoding="utf-8")  # a 90-minute call
    sides = {c.side for call in calls for c in call.commitments}
    assert sides == {"rep", "customer"}


async def test_every_commitment_is_found_dated_and_grounded_through_the_peer() -> None:
    code, out, err = await _smartnotes("eval", str(EVALS), "--peer", "gold", "--json")
    assert code == 0, err
    report = json.loads(out)
    problems = {
        entry["call"]: {
            key: entry[key]
            for key in ("missed", "extra", "duplicate_tasks", "wrong_deadlines", "wrong_owners")
            if entry[key]
        }
        for entry in report["calls"]
    }
    assert not any(problems.values()), problems
    overall = report["overall"]
    assert overall["commitments"] >= 80
    for measure in ("recall", "precision", "deadline_accuracy", "owner_accuracy"):
        assert overall[measure] == 1.0, measure
    assert overall["grounding_rate"] == 1.0
    assert overall["duplicates"] == 0
    assert all(entry["extractor"].startswith("claude") for entry in report["calls"])


async def test_a_wrong_date_in_the_gold_is_reported_and_fails_the_threshold(
    tmp_path: Path,
) -> None:
    call = sorted(EVALS.glob("*.gold.json"))[0]
    gold = json.loads(call.read_text(encoding="utf-8"))
    dated = next(c for c in gold["commitments"] if c["due_date"])
    dated["due_date"] = "2031-01-01"
    (tmp_path / call.name).write_text(json.dumps(gold), encoding="utf-8")
    shutil.copy(call.parent / gold["transcript"], tmp_path / gold["transcript"])
    code, out, err = await _smartnotes(
        "eval", str(tmp_path), "--peer", "gold", "--fail-under", "1.0"
    )
    assert code == 1
    assert "2031-01-01" in out
    assert "below 1.0: deadline_accuracy" in err


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "holds no labelled calls"),
        (lambda d: (d / "a.gold.json").write_text("{", encoding="utf-8"), "cannot read"),
        (
            lambda d: (d / "a.gold.json").write_text(
                json.dumps({"title": "x", "transcript": "a.vtt"}), encoding="utf-8"
            ),
            "started_at: Field required",
        ),
    ],
)
async def test_a_broken_labelled_set_is_a_clear_input_error(
    tmp_path: Path, setup: object, message: str
) -> None:
    assert callable(setup)
    setup(tmp_path)
    code, _, err = await _smartnotes("eval", str(tmp_path), "--peer", "gold", env=_env())
    assert code == 2
    assert message in err


async def test_the_score_is_kept_for_a_tenant_and_shown_in_its_metrics(tmp_path: Path) -> None:
    env = _env(SMARTNOTES_DATA_DIR=str(tmp_path / "data"))
    first = sorted(EVALS.glob("*.gold.json"))[0].name.removesuffix(".gold.json")
    args = ("eval", str(EVALS), "--peer", "gold", "--call", first, "--json")
    code, _, err = await _smartnotes(*args, "--record", "acme", env=env)
    assert (code, err.strip()) == (2, "error: --record: no tenant acme")

    code, _, err = await _smartnotes("admin", "seat", "add", "acme", "ann@acme.test", env=env)
    assert code == 0, err
    code, out, err = await _smartnotes(*args, "--record", "acme", env=env)
    assert code == 0, err
    overall = json.loads(out)["overall"]
    expected = (
        sum(overall[m] for m in ("recall", "precision", "deadline_accuracy", "grounding_rate")) / 4
    )
    assert f"Quality score {expected:.2f} kept for tenant acme." in err
    code, out, err = await _smartnotes("admin", "metrics", "acme", "--json", env=env)
    assert code == 0, err
    kept = json.loads(out)["eval"]
    assert (kept["calls"], kept["score"]) == (1, pytest.approx(expected))
