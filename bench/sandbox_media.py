"""Benchmark: the sandbox provider's synthesis cost per file (run in a worker thread by the sandbox).

Usage: python -m bench.sandbox_media [runs] [--json]   (default: 10 runs; medians reported)
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import Figures, cli
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


async def run(args: argparse.Namespace) -> Figures:
    timings = measure(args.runs)
    # a 20 s WAV at 22.05 kHz; its 512x512 PNG cover; all its stems; its 512x512 MP4
    names = {"song": "media_song_20s_ms", "cover": "media_cover_ms", "stems": "media_stems_ms",
             "video": "media_video_ms"}
    figures: Figures = {}
    for key, name in names.items():
        figures[name] = statistics.median(timings[key]) * 1000
        figures[name.replace("_ms", "_max_ms")] = max(timings[key]) * 1000
    return figures


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=int, nargs="?", default=10, help="repetitions (medians reported)")


if __name__ == "__main__":
    cli("sandbox_media", run, arguments)
