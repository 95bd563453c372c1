"""Model server benchmark: the same prompt through llama.cpp in this process and through
llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) on a loopback port,
both with the bundled SmolLM2 and the same threads.

Prints the median time to first token and tokens/s of each, and the overhead ratio
(in-process tokens/s / server tokens/s; target <= 1.05). Each round puts a fresh marker at the
start of the system message, so neither side reuses the previous round's prompt cache; replies
are greedy, so both generate the same tokens.

``--threads-sweep`` measures in-process tokens/s for each thread count, with the machine idle
and with one core kept busy by another process (what a worker's transcription or the web role
does to the summary), to choose the default thread count.

Run: ``python -m benchmarks.model_server [--rounds 5] [--threads 1] [--threads-sweep]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.common import free_port  # noqa: E402
from pipeline.demo_models import demo_summarizer_model  # noqa: E402
from pipeline.formats import parse_transcript_text  # noqa: E402
from pipeline.local_llm import LocalModel  # noqa: E402
from pipeline.model_server import ServerModel  # noqa: E402
from pipeline.prompting import Prompts  # noqa: E402
from pipeline.summarizer import Summarizer  # noqa: E402

CONTEXT = 4096
MAX_TOKENS = 160
SAMPLE = ROOT / "smartnotes" / "samples" / "sales_call.vtt"

Stream = Callable[[list[dict[str, str]]], Iterable[str]]


def prompt_messages(model: LocalModel) -> list[dict[str, str]]:
    prompts = Prompts.load()
    transcript = parse_transcript_text(SAMPLE.read_text())
    summarizer = Summarizer(model, prompts)
    [whole] = summarizer.plan(transcript)
    return [
        {"role": "system", "content": prompts.local_system},
        {"role": "user", "content": summarizer.part_prompt(transcript, whole, 1, 1)},
    ]


def measure(stream: Stream, messages: list[dict[str, str]]) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = 0.0
    count = 0
    for _ in stream(messages):
        if count == 0:
            first = time.perf_counter() - start
        count += 1
    total = time.perf_counter() - start
    return first, max(1, count - 1) / max(1e-9, total - first), count


def marked(messages: list[dict[str, str]], round_no: int) -> list[dict[str, str]]:
    system, *rest = messages
    return [{"role": "system", "content": f"[{round_no}] {system['content']}"}, *rest]


def start_server(threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(demo_summarizer_model())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(CONTEXT)]
    command += ["--n_threads", str(threads), "--seed", "7"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the model server did not start")


def compare(rounds: int, threads: int) -> None:
    local = LocalModel(demo_summarizer_model(), n_ctx=CONTEXT, n_threads=threads)
    process, url = start_server(threads)
    served = ServerModel(f"{url}/v1", n_ctx=CONTEXT)
    messages = prompt_messages(local)

    def here(m: list[dict[str, str]]) -> Iterable[str]:
        return local.stream_chat(m, max_tokens=MAX_TOKENS, temperature=0.0)

    def there(m: list[dict[str, str]]) -> Iterable[str]:
        return served.stream_chat(m, max_tokens=MAX_TOKENS, temperature=0.0)

    try:
        measure(here, marked(messages, -1))
        measure(there, marked(messages, -1))
        ours: list[tuple[float, float, int]] = []
        theirs: list[tuple[float, float, int]] = []
        for round_no in range(rounds):
            # Alternated, so a slow moment of the machine hits both sides alike.
            ours.append(measure(here, marked(messages, round_no)))
            theirs.append(measure(there, marked(messages, round_no)))
    finally:
        served.close()
        process.terminate()
        process.wait(10)
        local.close()
    report(ours, theirs, rounds, threads)


def report(
    ours: list[tuple[float, float, int]],
    theirs: list[tuple[float, float, int]],
    rounds: int,
    threads: int,
) -> None:
    ttft_here = statistics.median(r[0] for r in ours)
    ttft_there = statistics.median(r[0] for r in theirs)
    tps_here = statistics.median(r[1] for r in ours)
    tps_there = statistics.median(r[1] for r in theirs)
    pieces = statistics.median(r[2] for r in ours)
    print(f"SmolLM2-135M, {threads} thread(s), {rounds} rounds, ~{pieces:.0f} pieces a reply")
    print(f"  time to first token  in process {ttft_here:.3f} s   server {ttft_there:.3f} s")
    print(f"  tokens/s             in process {tps_here:.1f}   server {tps_there:.1f}")
    print(f"  overhead (tokens/s in process / server): {tps_here / tps_there:.3f} (target <= 1.05)")
    print(f"  time to first token ratio (server / in process): {ttft_there / ttft_here:.3f}")


def burn(stop: Any) -> None:
    """Keep one core busy until told to stop."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def sweep(rounds: int) -> None:
    cores = os.cpu_count() or 1
    print(f"in-process tokens/s by thread count ({cores} cores), median of {rounds}")
    print(f"{'threads':>8}{'idle':>10}{'one core busy':>16}")
    for threads in range(1, cores + 1):
        model = LocalModel(demo_summarizer_model(), n_ctx=CONTEXT, n_threads=threads)
        messages = prompt_messages(model)

        def here(m: list[dict[str, str]], model: LocalModel = model) -> Iterable[str]:
            return model.stream_chat(m, max_tokens=MAX_TOKENS, temperature=0.0)

        idle = statistics.median(measure(here, marked(messages, i))[1] for i in range(rounds))
        stop = multiprocessing.Event()
        burner = multiprocessing.Process(target=burn, args=(stop,))
        burner.start()
        try:
            time.sleep(0.5)
            busy = statistics.median(
                measure(here, marked(messages, 100 + i))[1] for i in range(rounds)
            )
        finally:
            stop.set()
            burner.join()
        model.close()
        print(f"{threads:>8}{idle:>10.1f}{busy:>16.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threads-sweep", action="store_true")
    args = parser.parse_args()
    if args.threads_sweep:
        sweep(args.rounds)
    else:
        compare(args.rounds, args.threads)


if __name__ == "__main__":
    main()
