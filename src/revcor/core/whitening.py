"""Dividing the stimulus correlations out of a filter: whitened STAs (Eq. 5) and whitened
classification images share one solve."""

from __future__ import annotations

import torch

MAX_WHITEN_DIM = 4096  # largest dimension D of a whitened map or STA (a D x D float64 solve)


def whiten(cov: torch.Tensor, vectors: torch.Tensor, ridge: float) -> torch.Tensor:
    """Rows of ``vectors`` (M, D) times the inverse of the stimulus covariance ``cov`` (D, D):
    the solution w of ``(cov + ridge * mean(diag cov) I) w = v``, so that the stimulus
    correlations are divided out (Eq. 5 for STAs; whitened classification images). The
    ridge keeps directions that the stimuli never explore from blowing up."""
    reg = cov + ridge * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype, device=cov.device)
    return torch.linalg.solve(reg, vectors.T).T
