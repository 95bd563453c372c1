"""What the load benchmarks share: percentiles, the report table, a free loopback port."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

Timings = dict[str, list[float]]
Errors = dict[str, list[str]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(timings: Timings, errors: Errors, wall: float) -> None:
    print(
        f"{'request':<20}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
    )
    for kind in timings.keys() | errors.keys():
        values = timings.get(kind, [])
        if values:
            p50, p95, p99 = (percentile(values, q) * 1000 for q in (50, 95, 99))
            worst = max(values) * 1000
            print(
                f"{kind:<20}{len(values):>7}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{worst:>9.1f}"
                f"{len(errors.get(kind, [])):>8}"
            )
        else:
            print(f"{kind:<20}{0:>7}{'':>36}{len(errors.get(kind, [])):>8}")
    total = sum(len(v) for v in timings.values())
    print(f"\n{total} requests in {wall:.1f} s ({total / wall:.0f}/s)")
    baseline = timings.get("healthz (baseline)")
    if baseline:
        floor = percentile(baseline, 99)
        api = [v for k, vs in timings.items() if k != "healthz (baseline)" for v in vs]
        if api:
            print(
                f"p99 of API requests / p99 of /healthz under the same load: "
                f"{percentile(api, 99) / floor:.2f}"
            )
    for kind, messages in errors.items():
        for message in messages[:3]:
            print(f"error ({kind}): {message}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(http: aiohttp.ClientSession, base: str, seconds: float = 30.0) -> None:
    """Until the service under test answers ``/readyz`` (it loads and migrates first)."""
    for _ in range(int(seconds / 0.1)):
        try:
            async with http.get(base + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the service at {base} did not become ready in {seconds:g} s")
