"""Microstimulation (paper Sec. 3.4, Eq. 6): biases raised by activity, and psychometric curves.

Eq. 6 raises (or, with ``sign=-1``, lowers) the bias of every map m of a layer l in
proportion to how active its units are:

    b_ml <- b_ml + sign * lambda_l * k * sum_i a_mli / max(a_l)

where a_mli is the mean rectified activation (firing rate) of unit i of map m over the noise
images the model assigns to the target class, as the paper says, or over real images of that
class when asked, named as such; the max runs over the layer's maps and units, so the most
active map gets the largest change and a silent map none. The paper does not give its k;
with its lambda_l the k that move a curve differ by orders of magnitude between layers, so
k can be set per layer. The stimulated model is a copy; the original is never touched.

A psychometric curve is the fraction of signal+noise stimuli ``gamma * s + (1 - gamma) * n``
(Eq. 3) that the model labels as the target class, against gamma (:func:`target_hits`); it is
fitted by :mod:`revcor.analyses.psychometric`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from revcor.analyses.psychometric import fit
from revcor.core import engine
from revcor.models.architectures import predict_labels
from revcor.models.layers import get_layer
from revcor.noise.sources import NoiseSource


def unstimulable(mean_activation: np.ndarray) -> str | None:
    """Why Eq. 6 cannot stimulate a layer with these mean activations (M, ...), or None."""
    a = np.asarray(mean_activation, dtype=np.float64)
    if not np.isfinite(a).all():
        return "mean activations contain NaN: no stimuli of the target class at this layer"
    if a.max() <= 0:
        return f"the layer's largest mean activation is {a.max():.3g}; Eq. 6 needs a positive one"
    return None


def bias_change(mean_activation: np.ndarray, lam: float, k: float, sign: int = 1) -> np.ndarray:
    """Eq. 6's change of each map's bias (M,) from its units' mean activations (M, ...)."""
    a = np.asarray(mean_activation, dtype=np.float64)
    a = a.reshape(len(a), -1)
    if reason := unstimulable(a):
        raise ValueError(reason)
    peak = a.max()
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 (raise the bias) or -1 (lower it), got {sign}")
    return sign * lam * k * a.sum(1) / peak


def stimulated(model: nn.Module, layer: str, delta: np.ndarray) -> nn.Module:
    """A copy of ``model`` whose ``layer`` bias is raised by ``delta`` (one value per map)."""
    copied = copy.deepcopy(model)
    module = get_layer(copied, layer)
    bias = getattr(module, "bias", None)
    if bias is None:
        raise ValueError(f"layer {layer!r} ({type(module).__name__}) has no bias to stimulate")
    delta_t = torch.as_tensor(np.asarray(delta), dtype=bias.dtype, device=bias.device)
    if delta_t.shape != bias.shape:
        raise ValueError(f"bias change of shape {tuple(delta_t.shape)} for a bias of shape {tuple(bias.shape)}")
    with torch.no_grad():
        bias.add_(delta_t)
    return copied


@torch.inference_mode()
def target_hits(
    model: nn.Module,
    signals: torch.Tensor,
    source: NoiseSource,
    gammas: Sequence[float],
    target: int,
    *,
    n: int,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> np.ndarray:
    """How many of ``n`` stimuli ``gamma * s + (1 - gamma) * noise`` per gamma (G,) the model
    labels ``target``; signals cycle through ``signals`` (S, C, H, W) in [0, 1], and the noise
    for gamma index g is chunk g of a noise experiment of ``len(gammas) * n`` samples in chunks
    of ``n`` with ``seed``, so every model and k sees the same stimuli."""
    model.eval()
    layout = engine.prepare(model)
    signals = signals.to(device, torch.float32)
    hits = np.zeros(len(gammas), dtype=np.int64)
    for g, gamma in enumerate(gammas):
        noise = source.to_input(engine.draw(source, seed, g, len(gammas) * n, n, device)[0], torch.float32)
        for i in range(0, n, batch_size):
            idx = torch.arange(i, min(i + batch_size, n), device=device) % len(signals)
            x = engine.mix(signals[idx], noise[i : i + batch_size], gamma)
            hits[g] += int((predict_labels(model(x.contiguous(memory_format=layout))) == target).sum())
    return hits


def layer_ks(spec: dict) -> dict[str, list[float]]:
    """The k of every stimulated layer: ``spec["ks"]`` is one list for all layers or a
    mapping layer -> list; every layer needs the same number of k and a k = 0."""
    ks = spec["ks"]
    out = {
        layer: [float(k) for k in (ks[layer] if isinstance(ks, dict) else ks)]
        for layer in spec["layers"]
        if not isinstance(ks, dict) or layer in ks
    }
    missing = [layer for layer in spec["layers"] if layer not in out]
    if missing:
        raise ValueError(f"microstimulation ks has no entry for layer(s) {', '.join(missing)}")
    if len({len(v) for v in out.values()}) > 1:
        raise ValueError(f"microstimulation ks must have as many values for every layer, got {out}")
    if any(0 not in v for v in out.values()):
        raise ValueError("microstimulation ks need a 0 (the unstimulated curve) for every layer")
    return out


@dataclass
class Sweep:
    """Psychometric hits of every (sign, layer, k, target, gamma) (-1 where a layer was not
    stimulated), the largest bias change of each (layer, k, target), the fits by
    ``sign/layer/k/class`` and why each skipped ``layer/class`` was skipped."""

    hits: np.ndarray
    largest: np.ndarray
    fits: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def sweep(
    model: nn.Module,
    lambdas: Mapping[str, float],
    ks: Mapping[str, Sequence[float]],
    signs: Sequence[int],
    signals: Mapping[int, torch.Tensor],
    means: Mapping[str, np.ndarray],
    counts: np.ndarray,
    classes: Sequence[str],
    source: NoiseSource,
    gammas: Sequence[float],
    *,
    n: int,
    seed: int,
    fit_kind: str,
    bootstrap: int,
    what: str = "stimulus",
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> Sweep:
    """Microstimulation of every layer of ``lambdas`` (layer -> lambda of Eq. 6) at every k of
    ``ks`` and sign of ``signs``, for every target class of ``signals`` (target -> its signal
    images): the psychometric curve of the stimulated copy (:func:`target_hits`) and its fit.
    ``means[layer][target]`` are the mean rectified activations of the target's ``counts``
    (per class) stimuli, which are ``what`` (named in the reasons for a skipped layer). k = 0
    is the unstimulated model, measured once per target."""
    layers, targets = list(lambdas), list(signals)
    n_k = len(ks[layers[0]])
    out = Sweep(
        np.full((len(signs), len(layers), n_k, len(targets), len(gammas)), -1, dtype=np.int64),
        np.full((len(layers), n_k, len(targets)), np.nan),
    )

    def curve(m: nn.Module, target: int) -> tuple[np.ndarray, dict]:
        h = target_hits(
            m, signals[target], source, gammas, target, n=n, seed=seed, batch_size=batch_size, device=device
        )
        return h, fit(gammas, h, n, kind=fit_kind, bootstrap=bootstrap, seed=seed)

    total = len(signs) * len(layers) * n_k * len(targets)
    with tqdm(total=total, desc="microstim", unit="curve", disable=not progress) as bar:
        for t, target in enumerate(targets):
            baseline = None
            for li, layer in enumerate(layers):
                reason = (
                    f"not stimulated: no {what} was called {classes[target]}, so Eq. 6 has no activations"
                    if not counts[target]
                    else unstimulable(means[layer][target])
                )
                if reason:
                    out.skipped[f"{layer}/{classes[target]}"] = reason
                    bar.update(len(signs) * n_k)
                    continue
                change = bias_change(means[layer][target], lambdas[layer], 1.0)
                out.largest[li, :, t] = np.abs(change).max() * np.asarray(ks[layer])
                for si, sign in enumerate(signs):
                    for ki, k in enumerate(ks[layer]):
                        if k:
                            result = curve(stimulated(model, layer, sign * k * change), target)
                        else:
                            baseline = baseline or curve(model, target)
                            result = baseline
                        out.hits[si, li, ki, t] = result[0]
                        out.fits[f"{sign:+d}/{layer}/{k:g}/{classes[target]}"] = result[1]
                        bar.update()
    return out
