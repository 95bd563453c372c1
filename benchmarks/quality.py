"""Quality benchmark: the eval of the shipped labelled calls, through Claude's peer and locally.

Prints the ``smartnotes eval`` table twice over ``evals/calls``: once through the scripted
Messages API peer (a perfect Claude: every commitment, the exact quote, the words said for the
deadline, no dates), which measures what is ours (grounding, deadlines, merging, the recall
check), and once through the bundled local model, which measures the fallback a rep gets
without Claude. Wall time per call is in the last column.

Run: ``python -m benchmarks.quality`` (``--local-calls N`` limits the slow local pass).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from smartnotes.cli.eval import show  # noqa: E402
from smartnotes.evaluation.gold import load_set  # noqa: E402
from smartnotes.evaluation.run import evaluate, report  # noqa: E402
from smartnotes.settings import Settings  # noqa: E402


async def main(local_calls: int) -> None:
    out = Console(highlight=False, width=120)
    calls = load_set(ROOT / "evals" / "calls")
    settings = Settings()
    for title, chosen, peer in (
        ("Claude's part played by the gold peer", calls, True),
        ("The bundled local model", calls[:local_calls], False),
    ):
        began = time.perf_counter()
        scores = await evaluate(chosen, settings, extractor="auto" if peer else "local", peer=peer)
        out.rule(f"{title}: {len(chosen)} calls in {time.perf_counter() - began:.1f} s")
        show(out, scores, report(scores))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-calls", type=int, default=3, help="calls for the local pass")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.local_calls))
