"""Null banks drawn from an experiment's own keyed noise source: standardised sums of noise
images, the null distribution of every class map (see :mod:`revcor.core.significance`)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from revcor.core.engine import chunk_span, draw, n_chunks
from revcor.core.significance import NullBank
from revcor.core.whitening import MAX_WHITEN_DIM
from revcor.noise.kinds import GENERATED
from revcor.noise.sources import NoiseSource

COVARIANCE_DRAWS = 16  # noise images per pixel the covariance of a bank is estimated from (at most 65,536)


def draw_bank(
    source: NoiseSource,
    *,
    maps: int,
    draws: int,
    seed: int,
    device: torch.device,
    chunk_size: int = 8192,
    progress: bool = False,
) -> NullBank:
    """``maps`` standardised null maps, each the sum of ``draws`` noise images of ``source``
    (as the reductions see them) minus their mean, over their SD times sqrt(draws). The pixel
    mean and SD are those of all ``maps * draws`` images; constant pixels get 0. The pixel
    covariance of structured noise comes from the first ``COVARIANCE_DRAWS * D`` images, at
    most 65,536 (for D <= MAX_WHITEN_DIM)."""
    if maps < 2 or draws < 1:
        raise ValueError(f"a null bank needs at least 2 maps of at least 1 draw; got {maps} maps of {draws}")
    n = maps * draws
    d = int(np.prod(source.input_shape))
    sums = torch.zeros(maps, d, dtype=torch.float64, device=device)
    total = torch.zeros(d, dtype=torch.float64, device=device)
    total_sq = torch.zeros(d, dtype=torch.float64, device=device)
    smooth = source.kind in GENERATED  # white noise has no correlations to divide out
    n_cov = min(n, COVARIANCE_DRAWS * d, 65536) if smooth and d <= MAX_WHITEN_DIM else 0
    cross = torch.zeros(d if n_cov else 0, d if n_cov else 0, dtype=torch.float64, device=device)
    cov_sum = torch.zeros(d if n_cov else 0, dtype=torch.float64, device=device)
    # float64 chunks are reused: fresh ones above glibc's mmap threshold cost a page fault per 4 KiB each time
    values = torch.empty((min(n, chunk_size), *source.shape), dtype=torch.float64, device=device)
    squares = torch.empty((min(n, chunk_size), d), dtype=torch.float64, device=device)
    for index in tqdm(range(n_chunks(n, chunk_size)), desc="null maps", unit="chunk", disable=not progress):
        start, stop = chunk_span(index, n, chunk_size)
        stored = draw(source, seed, index, n, chunk_size, device)[0]
        x = source.to_input(stored, torch.float64, out=values[: stop - start]).reshape(stop - start, -1)
        sums.index_add_(0, torch.arange(start, stop, device=device) // draws, x)
        total += x.sum(0)
        total_sq += torch.mul(x, x, out=squares[: stop - start]).sum(0)
        if start < n_cov:
            c = x[: n_cov - start]
            cross += c.T @ c
            cov_sum += c.sum(0)
    mean = total / n
    std = (total_sq / n - mean**2).clamp_(min=0).sqrt_()
    scale = torch.where(std > 0, 1 / (std * draws**0.5), torch.zeros_like(std))
    standard = ((sums - draws * mean) * scale).float().cpu().numpy()
    attrs = {
        "noise_key": {
            "source": source.describe(),
            "seed": seed,
            "chunks": n_chunks(n, chunk_size),
            "chunk_size": chunk_size,
        },
        "maps": maps,
        "draws": draws,
    }
    covariance = None
    if n_cov:
        covariance = (cross / n_cov - torch.outer(cov_sum, cov_sum) / n_cov**2).cpu().numpy()
        attrs["covariance_draws"] = n_cov
    return NullBank(standard, mean.cpu().numpy(), std.cpu().numpy(), tuple(source.input_shape), attrs, covariance)


def null_bank(source: NoiseSource, settings: dict, *, device: torch.device, progress: bool = False) -> NullBank:
    """:func:`draw_bank` with the config's ``statistics`` settings (null_maps, null_draws, seed)."""
    return draw_bank(
        source,
        maps=settings["null_maps"],
        draws=settings["null_draws"],
        seed=settings["seed"],
        device=device,
        progress=progress,
    )
