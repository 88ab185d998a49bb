"""Neural Cleanse (Wang et al., IEEE S&P 2019), reimplemented from the paper as the baseline
that revcor's backdoor scan is measured against.

For every label t, a mask m (H x W, in [0, 1]) and a pattern p (C x H x W, in [0, 1]), both
through a tanh parametrisation, are optimised with Adam so that ``(1 - m) * x + m * p`` is
classified as t for clean images x, with loss cross-entropy + cost * |m|_1. The cost starts at
0; once the reversed trigger succeeds on at least ``asr_threshold`` of the images for
``patience`` epochs it is set to ``init_cost``, then raised (x ``multiplier``) after
``patience`` successful epochs and lowered (/ ``multiplier ** 1.5``) after ``patience``
failing ones. The smallest mask that succeeds is kept; the optimisation stops when the cost
has been both raised and lowered and that mask has not shrunk for ``early_stop_patience``
epochs, or after ``steps`` epochs. A backdoored label needs a much smaller mask than the
others: the anomaly index of each label is |norm - median| / (1.4826 MAD) over the labels'
L1 norms, and a label below the median with an index above 2 is flagged (the model with it).
Settings are the paper's published code's (Adam at 0.1 with betas 0.5 and 0.9, batches of 32,
1,000 clean images per epoch).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from revcor.core.engine import prepare
from revcor.core.significance import MAD_SCALE
from revcor.models.train import seeded

ANOMALY_THRESHOLD = 2.0  # the paper's: an index above 2 flags a label
EPSILON = 1e-7  # keeps tanh / (2 - eps) + 0.5 strictly inside (0, 1)


@dataclass(frozen=True)
class Settings:
    """The optimisation's settings (defaults: the paper's published code)."""

    lr: float = 0.1
    batch_size: int = 32
    samples: int = 1000
    steps: int = 1000
    init_cost: float = 1e-3
    asr_threshold: float = 0.99
    patience: int = 5
    multiplier: float = 2.0
    early_stop_patience: int = 25
    early_stop_threshold: float = 1.0


def _unit(t: torch.Tensor) -> torch.Tensor:
    return torch.tanh(t) / (2 - EPSILON) + 0.5


def _inverse(x: torch.Tensor) -> torch.Tensor:
    return torch.atanh((x - 0.5) * (2 - EPSILON))


def reverse_engineer(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    settings: Settings = Settings(),
    *,
    seed: int = 0,
) -> dict:
    """The smallest trigger (mask, pattern) that sends ``images`` (N, C, H, W) in [0, 1] to
    ``target``: {"mask" (H, W), "pattern" (C, H, W), "norm" (L1 of the mask; inf if none
    succeeded), "asr" (its success rate), "epochs"}."""
    s = settings
    device = images.device
    n, c, h, w = images.shape
    gen = torch.Generator().manual_seed(seed)
    mask_t = _inverse(torch.rand(h, w, generator=gen).clamp(0.01, 0.99)).to(device).requires_grad_()
    pattern_t = _inverse(torch.rand(c, h, w, generator=gen).clamp(0.01, 0.99)).to(device).requires_grad_()
    opt = torch.optim.Adam([mask_t, pattern_t], lr=s.lr, betas=(0.5, 0.9))
    model.eval()
    layout = prepare(model)  # channels-last convolutions, as the engine runs them
    y = torch.full((s.batch_size,), target, dtype=torch.int64, device=device)
    cost, best = 0.0, {"norm": float("inf"), "mask": None, "pattern": None, "asr": 0.0}
    set_count = up = down = stalled = 0
    up_flag = down_flag = False
    stall_best = float("inf")
    epochs = 0
    while epochs < s.steps:
        epochs += 1
        order = torch.randperm(n, generator=gen)
        hits = norms = seen = 0.0
        for i in range(0, n, s.batch_size):
            x = images[order[i : i + s.batch_size].to(device)]
            m, p = _unit(mask_t), _unit(pattern_t)
            logits = model(((1 - m) * x + m * p).contiguous(memory_format=layout))
            norm = m.sum()
            loss = F.cross_entropy(logits, y[: len(x)]) + cost * norm
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            hits += float((logits.argmax(1) == target).sum())
            norms += float(norm.detach()) * len(x)
            seen += len(x)
        asr, norm = hits / seen, norms / seen
        if asr >= s.asr_threshold and norm < best["norm"]:
            with torch.no_grad():
                best = {"norm": norm, "mask": _unit(mask_t).cpu().numpy(), "pattern": _unit(pattern_t).cpu().numpy()}
                best["asr"] = asr
        if best["norm"] < float("inf"):
            stalled = stalled + 1 if best["norm"] >= s.early_stop_threshold * stall_best else 0
            stall_best = min(stall_best, best["norm"])
        if up_flag and down_flag and stalled >= s.early_stop_patience:
            break
        if cost == 0 and asr >= s.asr_threshold:
            set_count += 1
            if set_count >= s.patience:
                cost, up, down, up_flag, down_flag = s.init_cost, 0, 0, False, False
        else:
            set_count = 0
        up, down = (up + 1, 0) if asr >= s.asr_threshold else (0, down + 1)
        if up >= s.patience:
            up, cost, up_flag = 0, cost * s.multiplier, True
        elif down >= s.patience:
            down, cost, down_flag = 0, cost / s.multiplier**1.5, True
    if best["mask"] is None:  # never succeeded: the last trigger, with an infinite norm
        with torch.no_grad():
            best |= {"mask": _unit(mask_t).cpu().numpy(), "pattern": _unit(pattern_t).cpu().numpy()}
    return best | {"epochs": epochs}


def anomaly_indices(norms: np.ndarray) -> np.ndarray:
    """|norm - median| / (1.4826 MAD) of each label's mask norm."""
    norms = np.asarray(norms, dtype=np.float64)
    median = np.median(norms)
    mad = MAD_SCALE * np.median(np.abs(norms - median))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(norms - median) / mad


def neural_cleanse(
    model: nn.Module,
    images: np.ndarray,
    num_classes: int,
    settings: Settings = Settings(),
    *,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> dict:
    """Neural Cleanse of ``model`` with ``settings.samples`` of the clean uint8 ``images`` (N,
    C, H, W): every label's smallest reversed trigger, the anomaly index of the smallest
    norm (``score``), the flagged labels, whether the model is flagged (``suspect``), the
    suspected ``target`` (the smallest norm) and its trigger's mask, and the wall time."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), min(settings.samples, len(images)), replace=False)
    x = torch.from_numpy(images[np.sort(pick)]).float().div_(255).to(device)
    found = []
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:  # gradients flow to the trigger only
        p.requires_grad_(False)
    with seeded(seed, device):
        for label in tqdm(range(num_classes), desc="neural cleanse", unit="label", disable=not progress):
            found.append(reverse_engineer(model, x, label, settings, seed=seed + label))
    for p in trainable:
        p.requires_grad_(True)
    norms = np.array([f["norm"] for f in found])
    index = anomaly_indices(norms)
    median = np.median(norms)
    flagged = [int(k) for k in np.flatnonzero((norms < median) & (index > ANOMALY_THRESHOLD))]
    target = int(np.argmin(norms))
    return {
        "score": float(index[target]) if norms[target] < median else 0.0,
        "suspect": bool(flagged),
        "flagged": flagged,
        "target": target,
        "norms": norms.tolist(),
        "anomaly_indices": index.tolist(),
        "asr": [f["asr"] for f in found],
        "epochs": [f["epochs"] for f in found],
        "mask": found[target]["mask"],
        "pattern": found[target]["pattern"],
        "settings": asdict(settings),
        "seconds": time.perf_counter() - t0,
    }
