"""Spike-triggered analysis of single units (paper Sec. 2, Eq. 4-5; Sec. 3.3, Fig. 8 and 22).

A *unit* is one channel of a layer's output at one spatial position (conv layers) or one
output feature (linear layers). Its *response* is the layer module's output as captured
by a forward hook (:func:`capture`); the models apply their non-linearities functionally,
so a conv layer's response is its pre-activation. ``rectify=True`` uses ``relu(response)``,
the classical "firing rate", as the spike weight.

STA is computed at EVERY output position of a conv layer, not at one location: a channel's
filter is the response-weighted mean of the receptive-field (RF) window of every position
(shared weights make them the same filter), which is one weight-gradient convolution per
batch. The noise mean is ALWAYS removed (the authors' code did not, which adds a DC
offset ``mean * E[y]`` to every filter): stimuli are centred on the nominal noise mean
before the products (RF pixels outside the image, i.e. padding, count as the mean and
contribute zero), and at the end the sample mean of every window pixel at every position
is removed exactly, so the STA is ``sum (y - ybar_p)(x - xbar_p) / norm``. The result does
not depend on the nominal mean (up to float32 rounding, which a close nominal mean keeps
small), and a unit's mean response adds no estimation noise.

Normalisation: ``rectify=True`` divides by the number of spikes ``n_sp = sum relu(y)``
(Eq. 4); ``rectify=False`` divides by the number of (sample, position) pairs, giving the
stimulus-response cross-covariance, which for white noise of variance ``v`` is exactly
``v * kernel`` for a first conv layer.

All sums are float64 on the device (per batch, the weight-gradient convolution and the
matrix products run in float32, then are added to the float64 accumulators); there is no
per-sample Python loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_weight
from tqdm import tqdm

from revcor.core import engine
from revcor.core.whitening import MAX_WHITEN_DIM, whiten
from revcor.models.layers import get_layer, outputs
from revcor.models.loading import device_of
from revcor.models.specs import ModelError
from revcor.noise.sources import NoiseSource, WhiteNoise


def noise_mean(
    source: NoiseSource, seed: int, n: int, chunk_size: int, device: torch.device
) -> tuple[torch.Tensor, int | None]:
    """The noise's mean image and the chunk it was estimated from: 0.5 for uniform or clipped
    Gaussian white noise (exact, no chunk), else the mean of the chunk after the last one of
    an experiment of ``n`` samples, which the experiment itself never draws."""
    if isinstance(source, WhiteNoise):
        return torch.full(source.shape, 0.5, device=device), None
    index = engine.n_chunks(n, chunk_size)
    stored = engine.draw(source, seed, index, (index + 1) * chunk_size, chunk_size, device)[0]
    return source.to_input(stored, torch.float64).mean(0).float(), index


MAX_STC_DIM = 1024  # largest D of an STC: (shuffles + 1) D x D float64 sums, O(shuffles * D^2) per sample
RIDGE = 1e-6  # default ridge of the whitened STA, relative to the mean stimulus variance


# --------------------------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class RF:
    """Receptive field of a layer's units, in input pixels.

    The window of the unit at output position (i, j) is rows ``top + stride_y * i`` to
    ``+ height`` and columns ``left + stride_x * j`` to ``+ width``; parts outside the image
    (``top``/``left`` < 0 with padding) are padding. ``out_shape`` is the layer's output
    shape without the batch: (M, H', W') for conv layers, (M,) for linear layers, whose RF
    is the whole image (strides 0: no positions).
    """

    top: int
    left: int
    height: int
    width: int
    stride_y: int
    stride_x: int
    out_shape: tuple[int, ...]

    @property
    def spatial(self) -> bool:
        """True for a conv-type layer (units at spatial positions)."""
        return len(self.out_shape) == 3

    @property
    def positions(self) -> int:
        """Number of output positions P (1 for a linear layer)."""
        return int(np.prod(self.out_shape[1:])) if self.spatial else 1


def _layer_output(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """The output of layer ``name`` on ``x``; the forward pass stops right after that layer."""
    with outputs(model, [name]) as layer_outputs:
        y = layer_outputs(x)[1][name]
    if not isinstance(y, torch.Tensor) or y.dim() not in (2, 4):
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ModelError(f"layer {name!r} outputs {got}; spike-triggered analysis needs (N, M) or (N, M, H', W')")
    return y


def _extent(mask: torch.Tensor) -> tuple[int, int]:
    """First and one-past-last index where a 1-D boolean mask is true."""
    idx = mask.nonzero().flatten()
    return int(idx[0]), int(idx[-1]) + 1


def _axis(boxes: Mapping[int, tuple[int, int]], size: int) -> tuple[int, int, int]:
    """(start of unit 0, extent, stride) along one axis from the boxes [lo, hi) of some units,
    using only box edges the image border did not clip (lo > 0, hi < size); stride 0 if
    every box is clipped on both sides."""
    units = sorted(boxes)
    lows = {i: boxes[i][0] for i in units if boxes[i][0] > 0}
    highs = {i: boxes[i][1] for i in units if boxes[i][1] < size}
    stride = 0
    for edges in (lows, highs):
        pairs = [(i, i + 1) for i in edges if i + 1 in edges]
        if pairs:
            i, k = pairs[0]
            stride = edges[k] - edges[i]
            break
    if len(units) == 1:  # one position: no stride
        lo, hi = boxes[units[0]]
        return lo, hi - lo, 1
    if not stride:  # every unit's box is clipped on both sides
        return 0, size, 0
    lo = next((v - stride * i for i, v in lows.items()), boxes[units[0]][0])
    hi = next((v - stride * i for i, v in highs.items()), boxes[units[0]][1])
    return lo, hi - lo, stride


def receptive_field(
    model: nn.Module,
    name: str,
    in_shape: tuple[int, int, int],
    device: torch.device | str | None = None,
    *,
    per_unit: int = 32,
    seed: int = 0,
) -> RF:
    """The receptive field of layer ``name``, found empirically from input gradients.

    Works whatever the architecture does between modules (functional pooling included):
    for units along the middle row and column of the output map (the first two, the middle
    two and the last two), the union over ``per_unit`` random inputs (3/4 uniform on [0, 1],
    1/4 standard normal, so that no unit is silent) and over channels of the nonzero input
    gradient of the unit gives its box. Strides come from adjacent units; top/left and size
    are extrapolated from box edges that the image border does not clip, so padding gives
    a negative top/left and RFs larger than the image are measured correctly. A layer with a
    2-D output (linear) sees the whole image. The model runs in eval mode; its mode and its
    parameters' ``requires_grad`` flags are restored.
    """
    c, h, w = in_shape
    params = list(model.parameters())
    flags, was_training = [p.requires_grad for p in params], model.training
    device = torch.device(device) if device is not None else device_of(model)
    gen = torch.Generator().manual_seed(seed)
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        with torch.no_grad():
            probe = _layer_output(model, name, torch.full((1, c, h, w), 0.5, device=device))
        if probe.dim() == 2:
            return RF(0, 0, h, w, 0, 0, (int(probe.shape[1]),))
        m, ho, wo = (int(s) for s in probe.shape[1:])
        rows = sorted({i for i in (0, 1, (ho - 1) // 2, (ho + 1) // 2, ho - 2, ho - 1) if 0 <= i < ho})
        cols = sorted({j for j in (0, 1, (wo - 1) // 2, (wo + 1) // 2, wo - 2, wo - 1) if 0 <= j < wo})
        units = [(i, (wo - 1) // 2) for i in rows] + [((ho - 1) // 2, j) for j in cols]
        n = per_unit * len(units)
        k = n // 4
        x = torch.cat([torch.rand((n - k, c, h, w), generator=gen), torch.randn((k, c, h, w), generator=gen)])
        x = x[torch.randperm(n, generator=gen)].to(device).requires_grad_()
        with torch.enable_grad():
            y = _layer_output(model, name, x)
            ui = torch.tensor(units, device=device).repeat_interleave(per_unit, 0)
            picked = y[torch.arange(n, device=device), :, ui[:, 0], ui[:, 1]]  # (n, M)
            (grad,) = torch.autograd.grad(picked.sum(), x)
        hit = (grad != 0).any(1).view(len(units), per_unit, h, w).any(1)  # (units, H, W)
        if not hit.flatten(1).any(1).all():
            raise ModelError(f"no input pixel changes some units of layer {name!r}; cannot find its RF")
        col_boxes = {i: _extent(hit[u].any(1)) for u, (i, _) in enumerate(units[: len(rows)])}
        row_boxes = {j: _extent(hit[len(rows) + u].any(0)) for u, (_, j) in enumerate(units[len(rows) :])}
        top, height, sy = _axis(col_boxes, h)
        left, width, sx = _axis(row_boxes, w)
        if not (sy and sx):
            raise ModelError(
                f"cannot find the stride of layer {name!r}: the receptive field of every unit covers the whole image"
            )
        return RF(top, left, height, width, sy, sx, (m, ho, wo))
    finally:
        model.train(was_training)
        for p, f in zip(params, flags, strict=False):
            p.requires_grad_(f)


def _windows_input(xc: torch.Tensor, rf: RF) -> torch.Tensor:
    """Centred stimuli zero-padded (or cropped) so that output position (i, j) reads the
    window starting at row ``stride_y * i``, column ``stride_x * j`` of the result."""
    _, ho, wo = rf.out_shape
    need_h = (ho - 1) * rf.stride_y + rf.height
    need_w = (wo - 1) * rf.stride_x + rf.width
    h, w = xc.shape[-2:]
    pad = (-rf.left, need_w - w + rf.left, -rf.top, need_h - h + rf.top)
    return F.pad(xc, pad) if any(pad) else xc


def _batch_sum(y: torch.Tensor) -> torch.Tensor:
    """``y.sum(0)``, fast also for channels-last outputs (summed in their layout)."""
    if y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last):
        return y.permute(0, 2, 3, 1).sum(0).permute(2, 0, 1)
    return y.sum(0)


def unit_patches(x: torch.Tensor, rf: RF, position: tuple[int, int] | None = None) -> torch.Tensor:
    """The (B, C*h*w) RF windows of the unit at ``position`` (i, j) of a conv layer, zero
    outside the image; for a linear layer (``position`` None) the flattened images.
    ``x`` should be centred (stimulus minus noise mean) so that the zero padding is the mean."""
    if not rf.spatial:
        return x.flatten(1)
    if position is None:
        raise ValueError("a conv-layer unit needs a position (i, j)")
    i, j = position
    if not (0 <= i < rf.out_shape[1] and 0 <= j < rf.out_shape[2]):
        raise ValueError(f"position {position} outside the layer's output map {rf.out_shape[1:]}")
    top, left = rf.top + rf.stride_y * i, rf.left + rf.stride_x * j
    h, w = x.shape[-2:]
    return F.pad(x, (-left, left + rf.width - w, -top, top + rf.height - h)).flatten(1)


def unit_response(
    outputs: Mapping[str, torch.Tensor], layer: str, channel: int, position: tuple[int, int] | None = None
) -> torch.Tensor:
    """The (B,) response of one unit from :func:`capture` outputs (``position`` (i, j) for
    conv layers, None for linear layers)."""
    y = outputs[layer]
    return y[:, channel] if y.dim() == 2 else y[:, channel, position[0], position[1]]


# --------------------------------------------------------------------------- STA


class STA:
    """Spike-triggered averages of every channel of ``layers`` (see the module docstring).

    ``update(x, outputs)`` adds a batch of stimuli ``x`` (B, C, H, W) in [0, 1] and the
    layer outputs captured while the model ran on it; ``result()`` gives per layer the STA
    of shape (M, C, h, w) (RF size h x w; the whole image for linear layers). Channels
    without any spike (``rectify=True``) are NaN. ``mean`` is the nominal noise mean (a
    number, or a tensor broadcastable to (C, H, W); 0.5 is exact for the uniform and the
    clipped Gaussian white noise of :class:`revcor.noise.sources.WhiteNoise`), subtracted before the
    float32 products; the exact sample mean is removed at the end (module docstring).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        in_shape: tuple[int, int, int],
        *,
        mean: float | torch.Tensor = 0.5,
        rectify: bool = False,
        device: torch.device | str | None = None,
    ):
        self.device = torch.device(device) if device is not None else device_of(model)
        self.in_shape = tuple(int(s) for s in in_shape)
        self.layers = list(dict.fromkeys(layers))
        self.rectify = rectify
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device)
        self.rf = {name: receptive_field(model, name, self.in_shape, self.device) for name in self.layers}
        self.count = 0
        zeros = lambda s: torch.zeros(s, dtype=torch.float64, device=self.device)  # noqa: E731
        self._xsum = zeros(self.in_shape)  # sum of the centred stimuli
        self._sum = {name: zeros(self._filter_shape(name)) for name in self.layers}  # sum of y * window
        self._ysum = {name: zeros(self.rf[name].out_shape) for name in self.layers}  # sum of y per position

    def _filter_shape(self, name: str) -> tuple[int, int, int, int]:
        rf = self.rf[name]
        return (rf.out_shape[0], self.in_shape[0], rf.height, rf.width)

    def _responses(self, name: str, outputs: Mapping[str, torch.Tensor], batch: int) -> torch.Tensor:
        y = outputs[name]
        expected = (batch, *self.rf[name].out_shape)
        if tuple(y.shape) != expected:
            raise ValueError(f"layer {name!r} output has shape {tuple(y.shape)}, expected {expected}")
        y = y.float()
        return torch.relu(y) if self.rectify else y

    def update(self, x: torch.Tensor, outputs: Mapping[str, torch.Tensor]) -> None:
        """Add a batch: stimuli ``x`` (B, C, H, W) and the captured layer outputs."""
        xc = x.float() - self.mean
        self._xsum += xc.sum(0)
        for name in self.layers:
            rf, y = self.rf[name], self._responses(name, outputs, x.shape[0])
            if rf.spatial:
                s = conv2d_weight(_windows_input(xc, rf), self._sum[name].shape, y, stride=(rf.stride_y, rf.stride_x))
            else:
                s = (y.T @ xc.flatten(1)).view(self._sum[name].shape)
            self._sum[name] += s
            self._ysum[name] += _batch_sum(y)
        self.count += x.shape[0]

    def _mean_windows(self, name: str) -> torch.Tensor:
        """(1, D, P): the mean stimulus window at every output position (D = C*h*w)."""
        rf, xbar = self.rf[name], (self._xsum / self.count)[None]
        if not rf.spatial:
            return xbar.flatten(1)[..., None]
        return F.unfold(_windows_input(xbar, rf), (rf.height, rf.width), stride=(rf.stride_y, rf.stride_x))

    def norm(self, name: str) -> torch.Tensor:
        """The (M,) normaliser of each channel: spikes n_sp, or samples x positions."""
        ysum = self._ysum[name]
        if self.rectify:
            return ysum.reshape(len(ysum), -1).sum(1)
        return torch.full(
            (len(ysum),), float(self.count * self.rf[name].positions), dtype=torch.float64, device=self.device
        )

    def _sta(self, name: str) -> torch.Tensor:
        ysum = self._ysum[name]
        offset = ysum.reshape(len(ysum), -1) @ self._mean_windows(name)[0].T  # sum_p y(p) * mean window(p)
        n = self.norm(name)
        sta = self._sum[name] - offset.view(self._sum[name].shape)
        return sta / torch.where(n > 0, n, torch.nan).view(-1, 1, 1, 1)

    def result(self) -> dict[str, np.ndarray]:
        """The STA of every layer, (M, C, h, w) float64."""
        return {name: self._sta(name).cpu().numpy() for name in self.layers}


class WhitenedSTA(STA):
    """Whitened STA (Eq. 5) for correlated stimuli: ``N / n_sp (X^T X)^-1 X^T y``.

    On top of the plain STA it accumulates ``X^T X`` (float64, D x D) of the centred RF
    windows: the whole flattened image for a linear layer, the RF windows of all output
    positions (unfolded) for a conv layer, so D = C * h * w of the RF (at most
    ``MAX_WHITEN_DIM``). ``result()`` solves ``(Phi + ridge * mean(diag Phi) I) w = STA``
    with ``Phi`` the stimulus covariance of the windows (X^T X / N about the per-position
    sample mean), which is Eq. 5; the tiny ridge only keeps directions the stimuli never
    explore from blowing up. For ``rectify=False`` this is the least-squares regression
    filter of the response on the stimulus (with an intercept per position). For white
    noise of variance v the whitened STA is STA / v.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        in_shape: tuple[int, int, int],
        *,
        mean: float | torch.Tensor = 0.5,
        rectify: bool = False,
        device: torch.device | str | None = None,
        ridge: float = RIDGE,
    ):
        super().__init__(model, layers, in_shape, mean=mean, rectify=rectify, device=device)
        self.ridge = ridge
        self._xtx = {}
        for name in self.layers:
            d = int(np.prod(self._filter_shape(name)[1:]))
            if d > MAX_WHITEN_DIM:
                raise ValueError(
                    f"whitened STA of layer {name!r} needs a {d} x {d} stimulus covariance "
                    f"(RF {self.rf[name].height}x{self.rf[name].width} x {self.in_shape[0]} "
                    f"channels); the limit is D <= {MAX_WHITEN_DIM}"
                )
            self._xtx[name] = torch.zeros(d, d, dtype=torch.float64, device=self.device)

    def update(self, x: torch.Tensor, outputs: Mapping[str, torch.Tensor]) -> None:
        super().update(x, outputs)
        xc = x.float() - self.mean
        for name in self.layers:
            rf = self.rf[name]
            if rf.spatial:
                u = F.unfold(_windows_input(xc, rf), (rf.height, rf.width), stride=(rf.stride_y, rf.stride_x))
                rows = u.transpose(1, 2).reshape(-1, u.shape[1]).double()
            else:
                rows = xc.flatten(1).double()
            self._xtx[name] += rows.T @ rows

    def plain(self) -> dict[str, np.ndarray]:
        """The plain (unwhitened) STA, as :meth:`STA.result`."""
        return super().result()

    def result(self) -> dict[str, np.ndarray]:
        """The whitened STA of every layer, (M, C, h, w) float64."""
        out = {}
        for name in self.layers:
            u = self._mean_windows(name)[0]  # (D, P)
            phi = self._xtx[name] / (self.count * u.shape[1]) - u @ u.T / u.shape[1]
            sta = self._sta(name)
            out[name] = whiten(phi, sta.flatten(1), self.ridge).reshape(sta.shape).cpu().numpy()
        return out


# --------------------------------------------------------------------------- STC


class STC:
    """Spike-triggered covariance (Eq. 4) of one unit, with a permutation null.

    ``update(x, y)`` adds centred stimuli ``x`` (B, D) and responses ``y`` (B,) >= 0. Besides
    the real responses, ``shuffles`` random permutations of ``y`` within each batch (so that
    responses are independent of the stimuli, with the same distribution) are accumulated
    the same way; their eigenvalues give the null band. All sums are float64. ``dim`` is at
    most ``MAX_STC_DIM``.
    """

    def __init__(self, dim: int, *, shuffles: int = 20, seed: int = 0, device: torch.device | str | None = None):
        if not 0 < dim <= MAX_STC_DIM:
            raise ValueError(
                f"STC of a {dim}-dimensional stimulus: the limit is D <= {MAX_STC_DIM} "
                "(choose a conv unit with a smaller receptive field)"
            )
        self.dim, self.shuffles = int(dim), int(shuffles)
        self.device = torch.device(device or "cpu")
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        zeros = lambda *s: torch.zeros(*s, dtype=torch.float64, device=self.device)  # noqa: E731
        s = self.shuffles + 1
        self.count = 0
        self._sx, self._sxx = zeros(dim), zeros(dim, dim)
        self._sy, self._syx, self._syxx = zeros(s), zeros(s, dim), zeros(s, dim, dim)

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch of centred stimuli ``x`` (B, D) and responses ``y`` (B,) >= 0."""
        x, y = x.to(self.device, torch.float64), y.to(self.device, torch.float64).flatten()
        if x.shape != (len(y), self.dim):
            raise ValueError(f"expected stimuli ({len(y)}, {self.dim}), got {tuple(x.shape)}")
        if bool((y < 0).any()):
            raise ValueError("STC needs responses >= 0 (spike counts or rates); rectify them first")
        b = len(y)
        perms = torch.rand(self.shuffles, b, generator=self._gen, device=self.device).argsort(1)
        ys = torch.cat([y[None], y[perms]])  # (S+1, B)
        self._sx += x.sum(0)
        self._sxx += x.T @ x
        self._sy += ys.sum(1)
        self._syx += ys @ x
        block = max(1, 2**22 // (len(ys) * self.dim))  # bounds the (S+1, block, D) temporary
        for i in range(0, b, block):
            xb = x[i : i + block]
            self._syxx += (ys[:, i : i + block, None] * xb).transpose(1, 2) @ xb
        self.count += b

    def result(self) -> dict[str, Any]:
        """The ``sta`` (D,) (mu of Eq. 4 minus the mean stimulus), the STC matrix ``stc`` =
        Lambda - Phi (D, D) (Eq. 4 minus the prior stimulus covariance Phi, ``prior``), its
        ``eigenvalues`` (descending) and ``eigenvectors`` (row k belongs to eigenvalue k),
        the null band ``null_bounds`` (the smallest and the largest eigenvalue over all the
        shuffles: conservative, since every eigenvalue is tested; ``null_min``/``null_max``
        per shuffle), the
        indices of the ``excitatory`` (above the band) and ``suppressive`` (below)
        eigenvalues, ``n`` stimuli and ``n_sp`` spikes."""
        n = self.count
        if not self._sy[0] > 0:
            raise ValueError(f"the unit never responded to the {n} stimuli: no spike-triggered ensemble")
        mean = self._sx / n
        prior = self._sxx / n - torch.outer(mean, mean)
        nsp = self._sy[:, None]
        mu = self._syx / nsp
        lam = self._syxx / nsp[..., None] - mu[:, :, None] * mu[:, None, :]
        c = lam - prior
        c = (c + c.transpose(1, 2)) / 2
        vals, vecs = torch.linalg.eigh(c)  # ascending
        vals, vecs = vals.flip(-1), vecs.flip(-1)
        null_max, null_min = vals[1:, 0], vals[1:, -1]
        lower, upper = float(null_min.min()), float(null_max.max())
        real = vals[0]
        return {
            "sta": (mu[0] - mean).cpu().numpy(),
            "stc": c[0].cpu().numpy(),
            "prior": prior.cpu().numpy(),
            "eigenvalues": real.cpu().numpy(),
            "eigenvectors": vecs[0].T.cpu().numpy(),
            "null_min": null_min.cpu().numpy(),
            "null_max": null_max.cpu().numpy(),
            "null_bounds": (lower, upper),
            "excitatory": [int(i) for i in torch.nonzero(real > upper).flatten()],
            "suppressive": [int(i) for i in torch.nonzero(real < lower).flatten()],
            "n": n,
            "n_sp": float(self._sy[0]),
        }


# --------------------------------------------------------------------------- driver


def _kernel(model: nn.Module, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The layer's trained weights as filters: conv kernels (M, C_in, k, k); a linear layer's
    weight rows reshaped to the STA shape when it reads the image directly."""
    weight = getattr(get_layer(model, name), "weight", None)
    if not isinstance(weight, torch.Tensor):
        return None
    w = weight.detach().double().cpu()
    if w.dim() == 4:
        return w.numpy()
    if w.dim() == 2 and w.numel() == int(np.prod(shape)):
        return w.reshape(shape).numpy()
    return None


def _unit(spec: Sequence[Any], rf: RF) -> tuple[str, int, tuple[int, int] | None]:
    """(layer, channel[, (i, j)]) -> with the default position: the middle of a conv map."""
    layer, channel = spec[0], int(spec[1])
    if not rf.spatial:
        return layer, channel, None
    pos = tuple(spec[2]) if len(spec) > 2 else ((rf.out_shape[1] - 1) // 2, (rf.out_shape[2] - 1) // 2)
    return layer, channel, (int(pos[0]), int(pos[1]))


def run(
    model: nn.Module,
    layers: Sequence[str],
    source: NoiseSource,
    *,
    n: int,
    seed: int = 0,
    chunk_size: int = 65536,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    rectify: bool = False,
    mean: float | torch.Tensor = 0.5,
    progress: bool = True,
    whiten_layers: Sequence[str] = (),
    stc_units: Sequence[Sequence[Any]] = (),
    shuffles: int = 20,
    compiled: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Spike-triggered analysis of ``layers`` on ``n`` noise samples from ``source``.

    Noise is drawn chunk by chunk exactly as :mod:`revcor.core.engine` does (chunk ``i`` from
    ``ChunkRNG(seed, i)``), the model (moved to channels-last, in eval mode while running)
    runs only as far as the analysed layers (:func:`~revcor.models.layers.outputs`; the rest of
    the forward pass is skipped, or pruned by the compiler when ``compiled`` is a
    ``torch.compile`` mode, see :func:`revcor.core.engine.compile_mode`), and the reducers are
    updated batch by batch. ``mean`` is
    the noise mean (0.5 for white noise; pass the mean image for other sources).

    ``whiten_layers`` also get the whitened STA; ``stc_units`` are ``(layer, channel)`` or
    ``(layer, channel, (i, j))`` (default: the middle of the map), analysed with :class:`STC`
    on ``relu`` of their response. Returns per layer: ``sta`` (M, C, h, w), ``rf``
    (:class:`RF`), ``count``, ``norm`` (M,), ``kernel`` (the trained weights, see
    :func:`_kernel`; absent if the layer has none), ``whitened`` if asked, and ``stc`` (a
    list of :meth:`STC.result` dicts with ``channel`` and ``position``) if asked.
    """
    device = torch.device(device)
    layout = engine.prepare(model)
    was_training = model.training
    model.eval()
    names = list(dict.fromkeys([*layers, *whiten_layers, *(u[0] for u in stc_units)]))
    in_shape = tuple(source.shape)
    plain = [name for name in names if name not in whiten_layers]
    reducers: list[STA] = []
    if plain:
        reducers.append(STA(model, plain, in_shape, mean=mean, rectify=rectify, device=device))
    if whiten_layers:
        reducers.append(
            WhitenedSTA(model, list(dict.fromkeys(whiten_layers)), in_shape, mean=mean, rectify=rectify, device=device)
        )
    rfs = {name: r.rf[name] for r in reducers for name in r.layers}
    units = [_unit(u, rfs[u[0]]) for u in stc_units]
    stcs = [
        STC(in_shape[0] * rfs[layer].height * rfs[layer].width, shuffles=shuffles, seed=seed + k, device=device)
        for k, (layer, _, _) in enumerate(units)
    ]
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device)
    try:
        with (
            outputs(model, names, stop=compiled is None) as layer_outputs,
            torch.inference_mode(),
            tqdm(total=n, unit="img", unit_scale=True, desc="STA", disable=not progress) as bar,
        ):
            net = layer_outputs if compiled is None else engine.Compiled(layer_outputs, batch_size, compiled)
            for index in range(engine.n_chunks(n, chunk_size)):
                stored, _, _ = engine.draw(source, seed, index, n, chunk_size, device)
                for i in range(0, stored.shape[0], batch_size):
                    x = source.to_input(stored[i : i + batch_size], torch.float32)
                    out = net(x.contiguous(memory_format=layout))[1]
                    for r in reducers:
                        r.update(x, out)
                    for (layer, channel, pos), stc in zip(units, stcs, strict=False):
                        stc.update(
                            unit_patches(x - mean_t, rfs[layer], pos),
                            torch.relu(unit_response(out, layer, channel, pos)),
                        )
                bar.update(stored.shape[0])
    finally:
        model.train(was_training)
    result: dict[str, dict[str, Any]] = {}
    for r in reducers:
        stas = r.plain() if isinstance(r, WhitenedSTA) else r.result()
        for name, sta in stas.items():
            entry = {"sta": sta, "rf": r.rf[name], "count": r.count, "norm": r.norm(name).cpu().numpy()}
            kernel = _kernel(model, name, sta.shape)
            if kernel is not None:
                entry["kernel"] = kernel
            result[name] = entry
        if isinstance(r, WhitenedSTA):
            for name, w in r.result().items():
                result[name]["whitened"] = w
    for (layer, channel, pos), stc in zip(units, stcs, strict=False):
        result[layer].setdefault("stc", []).append({"channel": channel, "position": pos, **stc.result()})
    return {name: result[name] for name in names}
