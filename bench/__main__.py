"""`python -m bench [NAME ...]`: run the named benchmarks (all when none is named), in order."""

from __future__ import annotations

import argparse
import importlib
import platform
import time
from collections.abc import Sequence

BENCHMARKS = (
    "hit",
    "miss",
    "fanin",
    "bursts",
    "coldstart",
    "streams",
    "geometry",
    "vision_intake",
    "vision_local",
    "vision_families",
    "vision_roof",
    "vision_heatmap",
    "metrics",
    "reports",
    "packets",
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME", help=", ".join(BENCHMARKS))
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    print(f"Dominus benchmarks: {', '.join(names)} (python {platform.python_version()}, loopback only)")
    started = time.perf_counter()
    took: list[tuple[str, float]] = []
    for name in names:
        began = time.perf_counter()
        importlib.import_module(f"bench.{name}").run()
        took.append((name, time.perf_counter() - began))
        print(f"   [{name}: {took[-1][1]:.1f} s]")
    total = time.perf_counter() - started
    print(f"\nall done in {total:.1f} s ({', '.join(f'{name} {s:.0f} s' for name, s in took)})")


if __name__ == "__main__":
    main()
