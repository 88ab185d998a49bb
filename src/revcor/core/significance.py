"""Which pixels of a classification image are real: null maps, family-wise error control by
the maximum statistic, cluster-mass tests, and informational value (InfoVal).

The null hypothesis is that the model's answers do not depend on the noise. A class map is
then the mean of ``n_k`` independent noise images, and its standardised form
``sqrt(n_k) (m_k - mu) / sigma`` is (by the central limit theorem) Gaussian with the noise's
own pixel correlation, whatever ``n_k``. A *null bank* holds B such standardised maps, each
the sum of ``draws`` noise images from the experiment's own keyed source (chunk ``i`` of seed
``seed``); every experiment with that source and size reuses it. One null replicate of all K
class-against-the-rest z-maps of an experiment is arithmetic on K maps of the bank and the
experiment's class counts, so thousands of replicates cost seconds and no model. Banks are
drawn by :mod:`revcor.core.nulls`; this module is NumPy only.

From the replicates: the pixel threshold that the largest |z| of the whole file (every pixel
of every map) exceeds with probability ``alpha`` (FWER by the maximum statistic); the cluster
mass (sum of |z| over a connected region beyond ``cluster_threshold``) that the largest
cluster of the file exceeds with probability ``alpha`` (for smooth maps, Chauvin et al. 2005
use cluster tests for the same reason); and per class the null distribution of the z-map's
norm, against which InfoVal is the robust z-score of the observed norm (median and scaled
MAD of the null norms, as the informational value of Brinkman et al. 2019 is defined).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.special import ndtri

from revcor.base import store
from revcor.noise.kinds import GENERATED

METHODS = ("pixel", "cluster")
MAD_SCALE = 1.4826  # MAD of a standard normal sample times this estimates its standard deviation
BLOCK_VALUES = 2**24  # null z values computed at once (64 MB of float32)


def method_for(kind: str, method: str = "auto") -> str:
    """``pixel`` or ``cluster``: the configured method, or by ``auto`` the cluster test for
    smooth noise (Gabor-PCA, autoencoder, VAE) and the pixel test for white noise."""
    if method == "auto":
        return "cluster" if kind in GENERATED else "pixel"
    if method not in METHODS:
        raise ValueError(f"significance method {method!r}; allowed: auto, {', '.join(METHODS)}")
    return method


@dataclass
class NullBank:
    """Standardised null maps (B, D) of a noise source, with its pixel mean and SD (D,) and,
    for structured noise of D <= ``MAX_WHITEN_DIM``, its pixel covariance (D, D) (whitened maps)."""

    maps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    shape: tuple[int, ...]
    attrs: dict = field(default_factory=dict)
    covariance: np.ndarray | None = None

    def save(self, path: str | Path) -> None:
        """Write the bank as a ``null`` artifact (atomically)."""
        arrays = {"maps": self.maps, "mean": self.mean, "std": self.std}
        arrays |= {} if self.covariance is None else {"covariance": self.covariance}
        with store.create(path, {**self.attrs, "kind": "null", "shape": list(self.shape)}) as f:
            store.write_arrays(f, arrays)

    @classmethod
    def load(cls, path: str | Path) -> NullBank:
        with store.open_artifact(path, "null") as f:
            return cls(
                f["maps"][()],
                f["mean"][()],
                f["std"][()],
                tuple(store.get_attr(f, "shape")),
                store.get_attrs(f, exclude=("kind", "shape")),
                f["covariance"][()] if "covariance" in f else None,
            )


def null_zmaps(bank: NullBank, counts: np.ndarray, replicates: int, seed: int) -> Iterator[np.ndarray]:
    """Null replicates (r, K, D) float32 of the K class-against-the-rest z-maps of an
    experiment with class ``counts``, in blocks; NaN for a class with no samples or all of
    them. Each replicate uses K different maps of the bank (drawn with replacement when the
    bank has fewer than K)."""
    n = np.asarray(counts, dtype=np.float64)
    total, k = n.sum(), len(n)
    valid = (n > 0) & (n < total)
    root = np.sqrt(np.where(valid, n, 1.0))
    rest = np.where(valid, total - n, 1.0)
    se = np.sqrt(1 / root**2 + 1 / rest)
    b, d = bank.maps.shape
    rng = np.random.default_rng(seed)
    step = max(1, BLOCK_VALUES // max(k * d, 1))
    for start in range(0, replicates, step):
        r = min(step, replicates - start)
        if k <= b:
            pick = np.argsort(rng.random((r, b)), axis=1)[:, :k]
        else:
            pick = rng.integers(b, size=(r, k))
        u = bank.maps[pick]  # (r, K, D)
        weighted = u * root[None, :, None].astype(np.float32)
        others = weighted.sum(1, keepdims=True) - weighted  # sum over the other classes of sqrt(n_l) U_l
        z = (u / root[None, :, None] - others / rest[None, :, None]) / se[None, :, None]
        z[:, ~valid] = np.nan
        yield z.astype(np.float32)


EQ1_SIGNS = np.array([1.0, -1.0, 1.0, -1.0])  # cells (signal, response) a-a, a-b, b-a, b-b: Eq. 1
RESPONSE_SIGNS = np.array([1.0, -1.0])  # responses a, b: the response-only image c_corr


def contrast_weights(counts: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For M contrasts ``sum_j sign_j m_j`` of J independent cell means with ``counts`` (M, J):
    the weights (M, J) that make ``sum_j w_j U_j`` of J standardised null maps the contrast's
    null z-map, and ``sqrt(sum_j 1/n_j)`` (M,), the contrast's standard error in units of the
    noise SD. NaN for a contrast with an empty cell."""
    n = np.asarray(counts, dtype=np.float64)
    empty = (n <= 0).any(1)
    inverse = 1 / np.where(n > 0, n, 1.0)
    factor = np.where(empty, np.nan, np.sqrt(inverse.sum(1)))
    weights = signs[None, :] * np.sqrt(inverse) / factor[:, None]
    return weights, factor


def null_contrasts(bank: NullBank, weights: np.ndarray, replicates: int, seed: int) -> Iterator[np.ndarray]:
    """Null replicates (r, M, D) float32 of M contrast z-maps of independent trials (see
    :func:`contrast_weights`), in blocks: each replicate combines M x J different maps of the
    bank (with replacement when it has fewer). NaN where a weight is NaN."""
    m, j = weights.shape
    b, d = bank.maps.shape
    rng = np.random.default_rng(seed)
    w = weights.astype(np.float32)
    step = max(1, BLOCK_VALUES // max(m * j * d, 1))
    for start in range(0, replicates, step):
        r = min(step, replicates - start)
        if m * j <= b:
            pick = np.argsort(rng.random((r, b)), axis=1)[:, : m * j]
        else:
            pick = rng.integers(b, size=(r, m * j))
        u = bank.maps[pick].reshape(r, m, j, d)
        yield np.einsum("mj,rmjd->rmd", w, u)


def _clusters(z: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Connected clusters beyond ``threshold`` in each map of ``z`` (..., C, H, W): positive
    and negative clusters apart, neighbours sharing a face (left, right, up, down, or the same
    pixel in another channel). Returns the cluster label of every value (0: none) and the
    mass (sum of |z|) of each label."""
    lead = z.ndim - 3
    structure = np.zeros((3,) * z.ndim, dtype=bool)
    structure[(1,) * lead] = ndimage.generate_binary_structure(3, 1)  # no links between maps
    labels = np.zeros(z.shape, dtype=np.int64)
    masses = [np.zeros(1)]
    offset = 0
    finite = np.nan_to_num(z, nan=0.0)
    for above in (finite > threshold, finite < -threshold):
        lab, count = ndimage.label(above, structure=structure)
        labels[above] = lab[above] + offset
        masses.append(np.bincount(lab.ravel(), weights=np.abs(finite).ravel(), minlength=count + 1)[1:])
        offset += count
    return labels, np.concatenate(masses)


def _max_cluster(z: np.ndarray, threshold: float) -> np.ndarray:
    """The largest cluster mass of each replicate of ``z`` (r, K, C, H, W): (r,)."""
    labels, masses = _clusters(z, threshold)
    owner = np.zeros(len(masses), dtype=np.int64)
    owner[labels.ravel()] = np.repeat(np.arange(len(z)), labels[0].size)
    largest = np.zeros(len(z))
    np.maximum.at(largest, owner[1:], masses[1:])
    return largest


@dataclass
class Assessment:
    """What the null says about one file's z-maps (K, C, H, W)."""

    significant: np.ndarray  # (K, C, H, W) bool
    infoval: np.ndarray  # (K,) float64, NaN for classes without a map
    method: str
    threshold: float  # |z| (pixel) or cluster mass (cluster) exceeded with probability alpha
    attrs: dict


def _check(method: str, alpha: float) -> None:
    if method not in METHODS:
        raise ValueError(f"significance method {method!r}; allowed: {', '.join(METHODS)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


def _against(
    z: np.ndarray, null: Iterator[np.ndarray], replicates: int, method: str, alpha: float, cluster_threshold: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Significant values of ``z`` (K, C, H, W) and InfoVal of each map against ``replicates``
    null replicates of it, streamed in blocks (r, K, D); and the threshold."""
    k = len(z)
    largest = np.empty(replicates)
    norms = np.empty((replicates, k))
    done = 0
    for block in null:
        r = len(block)
        flat = block.reshape(r, k, -1)
        norms[done : done + r] = np.sqrt(np.nansum(flat.astype(np.float64) ** 2, axis=2))
        if method == "pixel":
            largest[done : done + r] = np.nan_to_num(np.abs(flat), nan=0.0).max(axis=(1, 2))
        else:
            largest[done : done + r] = _max_cluster(block.reshape(r, *z.shape), cluster_threshold)
        done += r
    threshold = float(np.quantile(largest, 1 - alpha, method="higher"))
    finite = np.nan_to_num(z, nan=0.0)
    if method == "pixel":
        significant = np.abs(finite) > threshold
    else:
        labels, masses = _clusters(z[None], cluster_threshold)
        significant = (masses > threshold)[labels[0]] & (labels[0] > 0)
    observed = np.sqrt(np.nansum(z.reshape(k, -1) ** 2, axis=1))
    median = np.median(norms, axis=0)
    mad = MAD_SCALE * np.median(np.abs(norms - median), axis=0)
    has_map = np.isfinite(z.reshape(k, -1)).any(1) & np.isfinite(norms).all(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        infoval = np.where(has_map & (mad > 0), (observed - median) / mad, np.nan)
    return significant, infoval, threshold


def _attrs(method: str, alpha: float, threshold: float, cluster_threshold: float, replicates: int, seed: int) -> dict:
    return {
        "method": method,
        "alpha": alpha,
        "threshold": threshold,
        "cluster_threshold": cluster_threshold if method == "cluster" else None,
        "replicates": replicates,
        "seed": seed,
    }


def _key(bank: NullBank) -> dict:
    return {k: bank.attrs[k] for k in ("noise_key", "maps", "draws") if k in bank.attrs}


def assess(
    zmaps: np.ndarray,
    counts: np.ndarray,
    bank: NullBank,
    *,
    method: str = "pixel",
    alpha: float = 0.05,
    cluster_threshold: float = 3.0,
    replicates: int = 1000,
    seed: int = 0,
    min_count: int = 100,
) -> Assessment:
    """Significant pixels of ``zmaps`` at family-wise error ``alpha`` (the family: every pixel
    of every map of a class with at least ``min_count`` samples) and the InfoVal of each such
    map, from ``replicates`` null replicates. Smaller classes are not tested (never
    significant, InfoVal NaN): the mean of a few images of clipped structured noise is too
    skewed for the normal null (docs/statistics.md measures how often such a class is flagged)."""
    null = null_zmaps(bank, counts, replicates, seed)
    small = np.asarray(counts) < min_count
    return _assess(zmaps, small, null, bank, method, alpha, cluster_threshold, replicates, seed, min_count)


def assess_contrasts(
    zmaps: np.ndarray,
    counts: np.ndarray,
    signs: np.ndarray,
    bank: NullBank,
    *,
    method: str = "pixel",
    alpha: float = 0.05,
    cluster_threshold: float = 3.0,
    replicates: int = 1000,
    seed: int = 0,
    min_count: int = 100,
) -> Assessment:
    """:func:`assess` for M contrast z-maps of independent cells (``counts`` (M, J), ``signs``
    (J,); e.g. the Eq. 1 map of each gamma of a signal+noise experiment): the family is every
    pixel of every contrast map; a map with a cell of fewer than ``min_count`` trials is not
    tested."""
    null = null_contrasts(bank, contrast_weights(counts, signs)[0], replicates, seed)
    small = (np.asarray(counts) < min_count).any(1)
    return _assess(zmaps, small, null, bank, method, alpha, cluster_threshold, replicates, seed, min_count)


def _assess(
    zmaps: np.ndarray,
    small: np.ndarray,
    null: Iterator[np.ndarray],
    bank: NullBank,
    method: str,
    alpha: float,
    cluster_threshold: float,
    replicates: int,
    seed: int,
    min_count: int,
) -> Assessment:
    """Test ``zmaps`` (M, C, H, W) against the ``null`` replicates of them, leaving out the maps marked ``small``."""
    z = np.asarray(zmaps, dtype=np.float64)
    if z.shape[1:] != tuple(bank.shape):
        raise ValueError(f"z-maps of shape {z.shape[1:]} and null maps of shape {tuple(bank.shape)} differ")
    _check(method, alpha)
    blocks = (_untested(block, small, replicates=True) for block in null)
    significant, infoval, threshold = _against(
        _untested(z, small), blocks, replicates, method, alpha, cluster_threshold
    )
    attrs = _attrs(method, alpha, threshold, cluster_threshold, replicates, seed) | {
        "null": _key(bank),
        "min_count": min_count,
    }
    return Assessment(significant, infoval, method, threshold, attrs)


def _untested(z: np.ndarray, small: np.ndarray, *, replicates: bool = False) -> np.ndarray:
    """``z`` (K, C, H, W), or null blocks (r, K, D) with ``replicates``, with the maps of the
    classes marked ``small`` set to NaN, so that they are left out of every test."""
    out = np.array(z, copy=True)
    if replicates:
        out[:, small] = np.nan
    else:
        out[small] = np.nan
    return out


def _centred_scale(counts: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Per class and pixel (K, D): the SD of a centred class map (class mean minus the mean of
    all N samples) divided by its class-against-the-rest z: sd (1 - n/N) sqrt(1/n + 1/(N - n))."""
    n = np.asarray(counts, dtype=np.float64)
    total = n.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = (1 - n / total) * np.sqrt(1 / n + 1 / (total - n))
    return per_class[:, None] * np.asarray(sd, dtype=np.float64).reshape(1, -1)


def difference(
    a: dict[str, np.ndarray],
    b: dict[str, np.ndarray],
    bank_a: NullBank,
    bank_b: NullBank,
    *,
    method: str = "pixel",
    alpha: float = 0.05,
    cluster_threshold: float = 3.0,
    replicates: int = 1000,
    seed: int = 0,
    min_count: int = 100,
) -> tuple[np.ndarray, Assessment]:
    """The z-map of the difference of two experiments' centred class maps (``a`` and ``b``:
    ``maps_centered``, ``counts`` and ``noise_sd`` of their maps files; the same classes and
    image size), and which of its pixels differ at family-wise error ``alpha``, with each
    class's InfoVal. The null is that both experiments' maps have the same expectation; its
    replicates combine independent null replicates of each experiment (``bank_a`` and
    ``bank_b``: the null maps of their noise sources)."""
    ca, cb = (np.asarray(x["maps_centered"], dtype=np.float64) for x in (a, b))
    if ca.shape != cb.shape:
        raise ValueError(f"the maps differ in shape: {ca.shape} and {cb.shape}")
    if ca.shape[1:] != tuple(bank_a.shape) or ca.shape[1:] != tuple(bank_b.shape):
        raise ValueError(f"maps of shape {ca.shape[1:]} and null maps of shapes {bank_a.shape}, {bank_b.shape} differ")
    _check(method, alpha)
    k = len(ca)
    sa, sb = _centred_scale(a["counts"], a["noise_sd"]), _centred_scale(b["counts"], b["noise_sd"])
    se = np.sqrt(sa**2 + sb**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, (ca - cb).reshape(k, -1) / se, np.nan).reshape(ca.shape)

    def null() -> Iterator[np.ndarray]:
        blocks_b = null_zmaps(bank_b, b["counts"], replicates, seed + 1)
        for za in null_zmaps(bank_a, a["counts"], replicates, seed):
            zb = next(blocks_b)[: len(za)]  # the same block sizes: both have K maps of D values
            with np.errstate(invalid="ignore", divide="ignore"):
                yield ((sa * za - sb * zb) / se).astype(np.float32)

    small = (np.asarray(a["counts"]) < min_count) | (np.asarray(b["counts"]) < min_count)
    blocks = (_untested(block, small, replicates=True) for block in null())
    significant, infoval, threshold = _against(
        _untested(z, small), blocks, replicates, method, alpha, cluster_threshold
    )
    attrs = _attrs(method, alpha, threshold, cluster_threshold, replicates, seed) | {
        "null": {"a": _key(bank_a), "b": _key(bank_b)},
        "min_count": min_count,
    }
    return z, Assessment(significant, infoval, method, threshold, attrs)


@dataclass
class NullTest:
    """A null bank and how to test maps against it (the config's ``statistics``)."""

    bank: NullBank
    method: str = "pixel"
    alpha: float = 0.05
    cluster_threshold: float = 3.0
    replicates: int = 1000
    seed: int = 0
    whiten_ridge: float = 0.1
    min_count: int = 100

    @classmethod
    def from_settings(cls, bank: NullBank, settings: dict, noise_kind: str) -> NullTest:
        """From the config's ``statistics`` entry, the method chosen for ``noise_kind``."""
        keys = ("alpha", "cluster_threshold", "replicates", "seed", "whiten_ridge", "min_count")
        method = method_for(noise_kind, settings.get("method", "auto"))
        return cls(bank, method, **{k: settings[k] for k in keys if k in settings})

    def _settings(self) -> dict:
        keys = ("method", "alpha", "cluster_threshold", "replicates", "seed", "min_count")
        return {k: getattr(self, k) for k in keys}

    def assess(self, zmaps: np.ndarray, counts: np.ndarray) -> Assessment:
        return assess(zmaps, counts, self.bank, **self._settings())

    def assess_contrasts(self, zmaps: np.ndarray, counts: np.ndarray, signs: np.ndarray) -> Assessment:
        return assess_contrasts(zmaps, counts, signs, self.bank, **self._settings())

    def difference(self, a: dict, b: dict, bank_b: NullBank) -> tuple[np.ndarray, Assessment]:
        """:func:`difference` of maps ``a`` (of this bank's noise) and ``b`` (of ``bank_b``'s)."""
        return difference(a, b, self.bank, bank_b, **self._settings())


PIVOT_DRAWS = 200_000  # Monte Carlo draws of the pivot's null distribution (p-values down to 5e-6)
PIVOT_FAMILIES = ("gumbel", "normal")


@functools.cache
def _pivot(references: int, family: str) -> np.ndarray:
    """Sorted null draws of ``(x0 - mean(x1..xR)) / sd(x1..xR)`` for R + 1 independent draws of
    the standard member of ``family``: the same for every location and scale."""
    rng = np.random.default_rng(20191204)
    u = rng.random((PIVOT_DRAWS, references + 1))
    x = -np.log(-np.log(u)) if family == "gumbel" else ndtri(u)
    return np.sort((x[:, 0] - x[:, 1:].mean(1)) / x[:, 1:].std(1, ddof=1))


def predictive_p(value: float, references: np.ndarray, family: str = "gumbel") -> float:
    """The chance that a new draw from the distribution of ``references`` (R >= 2 values of a
    location-scale ``family``: ``gumbel`` for maxima, ``normal``) is at least ``value``, with
    the uncertainty of location and scale estimated from only R values accounted for: the
    studentised value is a pivot whose null distribution does not depend on them (Student's t
    is the normal case). Exact for independent draws of the family. NaN when the references
    have no spread (they say nothing about the scale)."""
    ref = np.asarray(references, dtype=np.float64)
    if family not in PIVOT_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(PIVOT_FAMILIES)}, got {family!r}")
    if len(ref) < 2:
        raise ValueError(f"need at least 2 reference values for a spread, got {len(ref)}")
    sd = ref.std(ddof=1)
    if not sd > 0:
        return float("nan")
    null = _pivot(len(ref), family)
    beyond = len(null) - np.searchsorted(null, (value - ref.mean()) / sd, side="left")
    return float((beyond + 1) / (len(null) + 1))
