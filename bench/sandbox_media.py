"""Benchmark: the sandbox provider's synthesis cost per file (run in a worker thread by the sandbox).

Usage: python -m bench.sandbox_media [runs]
"""

from __future__ import annotations

import statistics
import sys
import time

from bot.sandbox import media, video


def measure(runs: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"song": [], "cover": [], "stems": [], "video": []}
    for n in range(runs):
        seed = f"bench:{n}"
        started = time.perf_counter()
        song = media.synthesize_song(seed, 20.0)
        timings["song"].append(time.perf_counter() - started)
        started = time.perf_counter()
        media.cover_png(seed)
        timings["cover"].append(time.perf_counter() - started)
        started = time.perf_counter()
        media.synthesize_stems(seed, 20.0, media.SPLIT_STEMS)
        timings["stems"].append(time.perf_counter() - started)
        started = time.perf_counter()
        video.still_video(media.cover_rgb(seed, 512), 512, 512, song)
        timings["video"].append(time.perf_counter() - started)
    return timings


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    timings = measure(runs)
    labels = (("song", "20 s WAV, 22.05 kHz"), ("cover", "512x512 PNG cover"), ("stems", "all stems of it"),
              ("video", "its 512x512 MP4"))
    for name, label in labels:
        values = sorted(timings[name])
        print(f"{label:22} median {statistics.median(values) * 1000:6.0f} ms   max {values[-1] * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
