"""What ``n: auto`` would have stopped at, read from a finished run's maps files.

    python benchmarks/auto_n.py results/maps/*.h5

For each plain noise experiment with checkpoints: the first kept n at which every class with
at least ``--min-count`` samples has a split-half reliability of at least ``--reliability``
(the default target of ``n: auto``), the n the experiment ran, and the share of its noise
samples (and so of its noise and reduction work) that stopping there would have saved. The
checkpoints are powers of ten while ``n: auto`` stops after rounds of doubling whole chunks,
so the n given is where the target was first seen among the kept checkpoints: an upper bound
of what ``n: auto`` needs within a factor of ten. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revcor.base import store


def first_reliable(path: Path, reliability: float, min_count: int) -> tuple[int, int | None]:
    """(n run, first checkpoint n that meets the target or None)."""
    with store.open_artifact(path, "maps") as f:
        n = int(f.attrs["n"])
        for cp in store.get_attr(f, "checkpoints"):
            g = f[f"checkpoints/{cp}"]
            judged = g["counts"][()] >= min_count
            if judged.any() and (g["reliability"][()][judged] >= reliability).all():
                return n, int(cp)
    return n, None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("maps", nargs="+", type=Path)
    p.add_argument("--reliability", type=float, default=0.9)
    p.add_argument("--min-count", type=int, default=1000)
    args = p.parse_args()
    print("| experiment | noise | n run | first n meeting the target | samples saved |")
    print("|---|---|---|---|---|")
    for path in sorted(args.maps):
        with store.open_artifact(path, "maps") as f:
            if store.get_attr(f, "signal") or len(store.get_attr(f, "checkpoints")) < 2:
                continue
            kind = store.get_attr(f, "experiment")["noise"]["kind"]
        n, reached = first_reliable(path, args.reliability, args.min_count)
        saved = "—" if reached is None else f"{1 - reached / n:.1%}"
        print(f"| {path.stem} | {kind} | {n:,} | {'not met' if reached is None else f'{reached:,}'} | {saved} |")


if __name__ == "__main__":
    main()
