"""Time drawing a null bank (the workflow's `nulls` step, and `revcor images`' null maps).

    python benchmarks/nulls.py --maps 1000 --draws 512 --repeats 3

Draws the bank of white uint8 noise of ``--shape`` (the schema's default size: 1,000 maps of
512 draws) ``--repeats`` times in one process and prints, for each, the seconds, the minor page
faults and the system time it cost, and a hash of the bank (equal hashes: the same bits).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import time

import torch

from revcor.base.device import resolve
from revcor.core import nulls
from revcor.noise import sources


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", type=int, default=1000)
    p.add_argument("--draws", type=int, default=512)
    p.add_argument("--shape", default="1,28,28")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve("cpu")
    shape = tuple(int(s) for s in args.shape.split(","))
    source = sources.make({"kind": "white", "storage": "uint8"}, shape, None, device)
    for _ in range(args.repeats):
        before = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        bank = nulls.draw_bank(source, maps=args.maps, draws=args.draws, seed=0, device=device)
        seconds = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        digest = hashlib.sha256(bank.maps.tobytes() + bank.mean.tobytes() + bank.std.tobytes()).hexdigest()[:12]
        print(
            f"{seconds:.2f} s, {after.ru_minflt - before.ru_minflt:,} minor page faults, "
            f"{after.ru_stime - before.ru_stime:.2f} s system time; bank {digest}"
        )


if __name__ == "__main__":
    main()
