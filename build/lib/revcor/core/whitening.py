"""Dividing the stimulus correlations out of a filter: whitened STAs (Eq. 5) and whitened
classification images share one solve."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

MAX_WHITEN_DIM = 4096  # largest dimension D of a whitened map or STA (a D x D float64 solve)


def whiten(
    cov: torch.Tensor | np.ndarray, vectors: torch.Tensor | np.ndarray, ridge: float
) -> torch.Tensor | np.ndarray:
    """Rows of ``vectors`` (M, D) times the inverse of the stimulus covariance ``cov`` (D, D):
    the solution w of ``(cov + ridge * mean(diag cov) I) w = v``, so that the stimulus
    correlations are divided out (Eq. 5 for STAs; whitened classification images). The
    ridge keeps directions that the stimuli never explore from blowing up. Tensors (STAs) are
    solved on their device; arrays (maps read from files) come back as arrays."""
    import torch  # here, not at the top: reading maps files loads no torch until a map is whitened

    arrays = isinstance(cov, np.ndarray)  # maps read from files: solved on the CPU, returned as arrays
    cov, vectors = torch.as_tensor(cov), torch.as_tensor(vectors)
    reg = cov + ridge * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype, device=cov.device)
    w = torch.linalg.solve(reg, vectors.T).T
    return w.numpy() if arrays else w
