"""Benchmark: the sandbox provider's synthesis cost per track (run in a worker thread by the sandbox).

Usage: python -m bench.sandbox_media [runs]
"""

from __future__ import annotations

import statistics
import sys
import time

from bot.sandbox import media


def measure(runs: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"song": [], "cover": []}
    for n in range(runs):
        started = time.perf_counter()
        media.synthesize_song(f"bench:{n}", 20.0)
        timings["song"].append(time.perf_counter() - started)
        started = time.perf_counter()
        media.cover_png(f"bench:{n}")
        timings["cover"].append(time.perf_counter() - started)
    return timings


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    timings = measure(runs)
    for name, label in (("song", "20 s WAV, 22.05 kHz"), ("cover", "512x512 PNG cover")):
        values = sorted(timings[name])
        print(f"{label:22} median {statistics.median(values) * 1000:6.0f} ms   max {values[-1] * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
