"""Networks written the way a user writes them (not revcor's architectures), for tests of
models revcor did not define: batch norm and dropout, inputs normalised, any input shape."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MNIST_NORMALIZE = {"mean": [0.1307], "std": [0.3081]}  # the usual MNIST normalisation


class NormNet(nn.Module):
    """conv-BN-ReLU-pool twice, dropout, linear; for normalised inputs of any size."""

    def __init__(self, channels: int = 1, classes: int = 10, width: int = 8, size: tuple[int, int] = (28, 28)):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * width * (size[0] // 4) * (size[1] // 4), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(self.drop(x.flatten(1)))


def make(
    channels: int = 1, classes: int = 10, width: int = 8, height: int = 28, side: int = 28, seed: int = 0
) -> NormNet:
    """The factory a user would point revcor at; its initial weights come from ``seed`` alone
    (not from what the test process drew before)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return NormNet(channels, classes, width, (height, side))


class Softmaxed(nn.Module):
    """A network that ends in a softmax (outputs probabilities)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


class NaNAbove(nn.Module):
    """A network that answers NaN for images brighter on average than ``level``."""

    def __init__(self, net: nn.Module, level: float):
        super().__init__()
        self.net = net
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        bright = x.flatten(1).mean(1, keepdim=True) > self.level
        return torch.where(bright, torch.full_like(out, float("nan")), out)


class Normalizing(nn.Module):
    """``net`` with the normalisation folded in (what ``normalize:`` must be equivalent to)."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def train_briefly(
    net: nn.Module, images: np.ndarray, labels: np.ndarray, normalize: dict, *, epochs: int = 2, seed: int = 0
) -> nn.Module:
    """A plain user training loop (Adam, batches of 64) on uint8 images; returns ``net`` in eval mode."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same weights whatever the machine's thread count
    try:
        return _train(net, images, labels, normalize, epochs, seed)
    finally:
        torch.set_num_threads(threads)


def _train(
    net: nn.Module, images: np.ndarray, labels: np.ndarray, normalize: dict, epochs: int, seed: int
) -> nn.Module:
    torch.manual_seed(seed)
    x = torch.from_numpy(images).float().div(255)
    x = (x - torch.tensor(normalize["mean"]).view(1, -1, 1, 1)) / torch.tensor(normalize["std"]).view(1, -1, 1, 1)
    y = torch.from_numpy(labels).long()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return net.eval()


def small(seed: int = 0) -> NormNet:
    """A narrower network (4 and 8 channels), quicker to train in tests."""
    return make(width=4, seed=seed)


class HuggingFaceStyle(nn.Module):
    """``net`` returning a Hugging Face ``ImageClassifierOutput`` (logits and hidden states)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor):
        from transformers.modeling_outputs import ImageClassifierOutput

        logits = self.net(x)
        return ImageClassifierOutput(logits=logits, hidden_states=(x,))


class DictOutput(nn.Module):
    """``net`` returning a dict: features, and the logits under ``scores``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": x.flatten(1), "scores": self.net(x)}


class TupleOutput(nn.Module):
    """``net`` returning (logits, features), as many detection-style or aux-head models do."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x), x.flatten(1)
