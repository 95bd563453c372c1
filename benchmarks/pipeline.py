"""Pipeline benchmark: our wrappers against the libraries called directly, and the concurrency win.

Prints, on the demo models:
- ASR real-time factor, ours and faster-whisper called directly on the same file, and the ratio;
- summarizer time to first token and tokens/s, ours and llama-cpp-python called directly with
  the same messages, and the ratios;
- on a 30-minute synthetic call, with Claude served by a local Messages API server that takes
  3 s to answer: the summary alone, the extraction alone, their sum, the concurrent pipeline's
  wall time and its ratio to the longer step.
Targets: overhead ratios <= 1.05; concurrent wall time <= 1.1 x the longer step.

Run: ``make bench`` (or ``python -m benchmarks.pipeline --rounds 3``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402

from pipeline.asr import Transcriber  # noqa: E402
from pipeline.claude import ClaudeExtractor  # noqa: E402
from pipeline.demo_models import demo_asr_model, demo_summarizer_model  # noqa: E402
from pipeline.extraction import CallContext  # noqa: E402
from pipeline.formats import parse_transcript_text  # noqa: E402
from pipeline.local_extractor import LocalExtractor  # noqa: E402
from pipeline.local_llm import LocalModel  # noqa: E402
from pipeline.process import Pipeline  # noqa: E402
from pipeline.prompting import Prompts  # noqa: E402
from pipeline.summarizer import Summarizer, SummaryOptions  # noqa: E402
from pipeline.transcript import Transcript  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply  # noqa: E402

SAMPLES = ROOT / "smartnotes" / "samples"
CONTEXT = CallContext(
    started_at=datetime(2026, 11, 17, 16, 0, tzinfo=UTC),
    timezone="America/Chicago",
    rep="Maria Chen",
)


def median_of(rounds: int, run: Callable[[], float]) -> float:
    return statistics.median(run() for _ in range(rounds))


def bench_asr(rounds: int) -> dict[str, float]:
    audio = SAMPLES / "sales_call_excerpt.wav"
    threads = os.cpu_count() or 2
    ours = Transcriber(demo_asr_model(), cpu_threads=threads)
    direct = WhisperModel(
        str(demo_asr_model()), device="cpu", compute_type="int8", cpu_threads=threads
    )
    duration = 0.0

    def run_ours() -> float:
        nonlocal duration
        start = time.perf_counter()
        transcript = ours.transcribe(audio, lambda done, total: None)
        elapsed = time.perf_counter() - start
        duration = transcript.duration
        return elapsed

    def run_direct() -> float:
        start = time.perf_counter()
        segments, _ = direct.transcribe(
            str(audio),
            vad_filter=True,
            beam_size=5,
            temperature=0.0,
            condition_on_previous_text=False,
        )
        for _ in segments:
            pass
        return time.perf_counter() - start

    run_ours()  # warm both before timing
    run_direct()
    ours_s, direct_s = [], []
    for _ in range(rounds):  # interleaved, so drift on the machine hits both alike
        ours_s.append(run_ours())
        direct_s.append(run_direct())
    audio_s = 42.47
    ours_t, direct_t = statistics.median(ours_s), statistics.median(direct_s)
    return {
        "audio_s": audio_s,
        "ours_rtf": ours_t / audio_s,
        "direct_rtf": direct_t / audio_s,
        "ratio": ours_t / direct_t,
        "ours_transcript_s": duration,
    }


def bench_summarizer(
    model: LocalModel, prompts: Prompts, transcript: Transcript, rounds: int
) -> dict[str, float]:
    options = SummaryOptions(max_tokens=160)
    summarizer = Summarizer(model, prompts, options)
    [whole_call] = summarizer.plan(transcript)
    messages = [
        {"role": "system", "content": prompts.local_system},
        {"role": "user", "content": summarizer.part_prompt(transcript, whole_call, 1, 1)},
    ]
    llm: Any = model._llm

    def measure(stream: Callable[[Callable[[str], None]], None]) -> tuple[float, float]:
        llm.reset()  # no prompt-prefix reuse from the previous round: time the whole prompt
        start = time.perf_counter()
        first: list[float] = []
        count = [0]

        def on_piece(_: str) -> None:
            if not first:
                first.append(time.perf_counter() - start)
            count[0] += 1

        stream(on_piece)
        total = time.perf_counter() - start
        generated = max(1, count[0] - 1)
        return first[0], generated / max(1e-9, total - first[0])

    def ours(on_piece: Callable[[str], None]) -> None:
        summarizer.summarize(transcript, on_piece)

    def direct(on_piece: Callable[[str], None]) -> None:
        for chunk in llm.create_chat_completion(
            messages=messages,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            top_p=0.9,
            repeat_penalty=1.1,
            stream=True,
        ):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                on_piece(piece)

    measure(ours)
    ours_runs, direct_runs = [], []
    for _ in range(rounds):
        ours_runs.append(measure(ours))
        direct_runs.append(measure(direct))
    o_ttft = statistics.median(r[0] for r in ours_runs)
    d_ttft = statistics.median(r[0] for r in direct_runs)
    o_tps = statistics.median(r[1] for r in ours_runs)
    d_tps = statistics.median(r[1] for r in direct_runs)
    return {
        "ours_ttft_s": o_ttft,
        "direct_ttft_s": d_ttft,
        "ttft_ratio": o_ttft / d_ttft,
        "ours_tok_s": o_tps,
        "direct_tok_s": d_tps,
        "tok_s_ratio": d_tps / o_tps,
    }


def thirty_minute_call() -> Transcript:
    base = parse_transcript_text((SAMPLES / "sales_call.vtt").read_text())
    lines: list[str] = []
    offset = 0.0
    round_number = 0
    while offset < 30 * 60:
        round_number += 1
        for segment in base.segments:
            start = offset + segment.start
            if start >= 30 * 60:
                break
            stamp = f"{int(start) // 3600:02d}:{int(start) % 3600 // 60:02d}:{int(start) % 60:02d}"
            lines.append(f"[{stamp}] {segment.speaker}: {segment.text} (round {round_number})")
        offset += base.duration + 5
    return parse_transcript_text("\n".join(lines))


async def bench_concurrency(model: LocalModel, prompts: Prompts, delay: float) -> dict[str, float]:
    transcript = thirty_minute_call()
    server = FakeAnthropic(tasks_reply([], delay=delay))
    await server.start()
    try:
        client = anthropic.AsyncAnthropic(
            api_key="bench", base_url=server.base_url, max_retries=0, timeout=60
        )
        extractor = ClaudeExtractor(client, prompts, model="claude-sonnet-4-6")
        summarizer = Summarizer(model, prompts, SummaryOptions(max_tokens=200))
        pipeline = Pipeline(
            summarizer=summarizer,
            local_extractor=LocalExtractor(model, prompts),
            remote_extractor=extractor,
        )
        llm: Any = model._llm
        llm.reset()  # each timed run reads the whole call; no prompt reuse between them
        start = time.perf_counter()
        await asyncio.to_thread(summarizer.summarize, transcript)
        summary_s = time.perf_counter() - start
        start = time.perf_counter()
        await extractor.extract(transcript, CONTEXT)
        extract_s = time.perf_counter() - start
        llm.reset()
        start = time.perf_counter()
        result = await pipeline.run(transcript, CONTEXT)
        concurrent_s = time.perf_counter() - start
        assert result.extractor is not None
        assert result.extractor.name == "claude"
    finally:
        await server.close()
    longer = max(summary_s, extract_s)
    return {
        "minutes": transcript.duration / 60,
        "summary_s": summary_s,
        "extract_s": extract_s,
        "sequential_s": summary_s + extract_s,
        "concurrent_s": concurrent_s,
        "vs_longer": concurrent_s / longer,
        "vs_sequential": concurrent_s / (summary_s + extract_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--claude-delay", type=float, default=3.0)
    args = parser.parse_args()
    prompts = Prompts.load()
    model = LocalModel(demo_summarizer_model(), n_ctx=8192)
    sample = parse_transcript_text((SAMPLES / "sales_call.vtt").read_text())

    asr = bench_asr(args.rounds)
    print("ASR (faster-whisper, Whisper tiny.en, 42.5 s espeak-ng recording)")
    print(
        f"  real-time factor   ours {asr['ours_rtf']:.3f}   direct {asr['direct_rtf']:.3f}"
        f"   ratio {asr['ratio']:.3f}  (target <= 1.05)"
    )

    summary = bench_summarizer(model, prompts, sample, args.rounds)
    print("Summarizer (llama.cpp, SmolLM2-135M, 6-minute sample call)")
    print(
        f"  time to first token  ours {summary['ours_ttft_s']:.3f} s   direct "
        f"{summary['direct_ttft_s']:.3f} s   ratio {summary['ttft_ratio']:.3f}"
    )
    print(
        f"  tokens/s             ours {summary['ours_tok_s']:.1f}   direct "
        f"{summary['direct_tok_s']:.1f}   ratio {summary['tok_s_ratio']:.3f}  (target <= 1.05)"
    )

    both = asyncio.run(bench_concurrency(model, prompts, args.claude_delay))
    print(
        f"Concurrency ({both['minutes']:.0f}-minute call, Claude answering in "
        f"{args.claude_delay:.1f} s)"
    )
    print(
        f"  summary alone {both['summary_s']:.2f} s   extraction alone {both['extract_s']:.2f} s"
        f"   one after the other {both['sequential_s']:.2f} s"
    )
    print(
        f"  concurrent pipeline {both['concurrent_s']:.2f} s = {both['vs_longer']:.3f} x the "
        f"longer step (target <= 1.1), {both['vs_sequential']:.3f} x sequential"
    )
    model.close()


if __name__ == "__main__":
    main()
