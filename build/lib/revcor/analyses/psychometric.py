"""Psychometric functions: ``guess + (1 - guess - lapse) * F((gamma - threshold) / width)``
(F logistic, or a Weibull) fitted by maximum likelihood to binomial data, with parametric
bootstrap confidence intervals (microstimulation's curves, paper Sec. 3.4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, special

FLAT = 0.2  # a fitted curve rising by less than this over the gammas has no meaningful threshold


def _cdf(x: np.ndarray, threshold: float, width: float, kind: str) -> np.ndarray:
    if kind == "logistic":
        return special.expit((x - threshold) / width)
    return 1 - np.exp(-np.power(np.clip(x, 0, None) / threshold, width))  # Weibull: width = shape


def curve(x: np.ndarray, params: dict, kind: str = "logistic") -> np.ndarray:
    """The psychometric function ``guess + (1 - guess - lapse) * F(x)`` at ``x``."""
    f = _cdf(np.asarray(x, dtype=np.float64), params["threshold"], params["width"], kind)
    return params["guess"] + (1 - params["guess"] - params["lapse"]) * f


def _mle(
    x: np.ndarray, hits: np.ndarray, n: np.ndarray, kind: str, max_lapse: float, start: dict | None = None
) -> dict:
    def nll(p: np.ndarray) -> float:
        prob = np.clip(
            curve(x, dict(zip(("threshold", "width", "guess", "lapse"), p, strict=False)), kind), 1e-9, 1 - 1e-9
        )
        return -float(np.sum(hits * np.log(prob) + (n - hits) * np.log(1 - prob)))

    span = float(x.max() - x.min()) or 1.0
    if kind == "logistic":
        starts = [(t, span / 10) for t in np.linspace(x.min(), x.max(), 5)]
        bounds = [(x.min() - span, x.max() + span), (span / 1000, span * 10)]
    else:  # Weibull: scale and shape
        starts = [(t, 3.0) for t in np.linspace(max(x.min(), span / 20), x.max(), 5)]
        bounds = [(span / 1000, x.max() + span), (0.1, 50)]
    guess = min(max(hits[0] / n[0], 0.01), 0.98)
    p0s = (
        [[start[k] for k in ("threshold", "width", "guess", "lapse")]]
        if start
        else [[t0, w0, guess, 0.01] for t0, w0 in starts]
    )
    best = None
    for p0 in p0s:
        r = optimize.minimize(nll, p0, method="L-BFGS-B", bounds=bounds + [(0, 0.99), (0, max_lapse)])
        if best is None or r.fun < best.fun:
            best = r
    return dict(zip(("threshold", "width", "guess", "lapse"), map(float, best.x), strict=False))


def fit(
    gammas: Sequence[float],
    hits: Sequence[int],
    n: int | Sequence[int],
    *,
    kind: str = "logistic",
    max_lapse: float = 0.2,
    bootstrap: int = 200,
    seed: int = 0,
) -> dict:
    """Maximum-likelihood psychometric function of binomial data (``hits`` of ``n`` per
    gamma), with threshold (the gamma halfway between guess and 1 - lapse for the logistic;
    the Weibull's scale), width (logistic) or shape (Weibull), guess and lapse rates; and
    2.5-97.5% parametric-bootstrap intervals of each (``bootstrap`` refits); ``rise`` is how
    far the fitted curve climbs over the tested gammas. A curve rising less than :data:`FLAT`
    has no threshold to speak of and gets no intervals (``ci`` empty)."""
    if kind not in ("logistic", "weibull"):
        raise ValueError(f"kind must be logistic or weibull, got {kind!r}")
    x = np.asarray(gammas, dtype=np.float64)
    k = np.asarray(hits, dtype=np.float64)
    m = np.broadcast_to(np.asarray(n, dtype=np.float64), k.shape)
    params = _mle(x, k, m, kind, max_lapse)
    rise = float(np.ptp(curve(x, params, kind)))
    bootstrap = bootstrap if rise >= FLAT else 0
    rng = np.random.default_rng(seed)
    p = np.clip(curve(x, params, kind), 0, 1)
    boot = [
        _mle(x, rng.binomial(m.astype(np.int64), p).astype(np.float64), m, kind, max_lapse, params)
        for _ in range(bootstrap)
    ]
    ci = {key: np.percentile([b[key] for b in boot], [2.5, 97.5]).tolist() for key in params} if boot else {}
    return {"kind": kind, **params, "rise": rise, "ci": ci, "bootstrap": bootstrap}
