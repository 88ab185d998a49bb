import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revcor.models import architectures, specs
from revcor.models.train import evaluate, train


def separable(n: int, k: int, side: int, seed: int, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """uint8 noise images where class c has a bright horizontal band in stripe c."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    images = rng.integers(0, 100, (n, channels, side, side)).astype(np.uint8)
    band = side // k
    for i, c in enumerate(labels):
        images[i, :, c * band : (c + 1) * band] += 150
    return images, labels.astype(np.int64)


def test_logreg_learns_separable_problem():
    x, y = separable(400, 4, 8, seed=0)
    xt, yt = separable(200, 4, 8, seed=1)
    torch.manual_seed(0)
    model = architectures.build("logreg", (1, 8, 8), 4)
    metrics = train(model, x, y, epochs=5, lr=0.05, batch_size=32, seed=0, progress=False, test=(xt, yt))
    assert not model.training
    assert set(metrics) >= {"epochs", "seed", "lr", "batch_size", "optimizer", "wall_time_s", "train_loss", "test"}
    assert metrics["optimizer"] == "adam" and metrics["epochs"] == 5 and len(metrics["train_loss"]) == 5
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]
    assert metrics["test"]["accuracy"] > 0.95 and metrics["test"]["n"] == 200


def test_small_cnn_learns_with_sgd_on_tensors():
    x, y = separable(256, 2, 16, seed=2)
    torch.manual_seed(0)
    model = architectures.build("mnist_cnn", (1, 16, 16), 2)
    metrics = train(
        model,
        torch.from_numpy(x),
        torch.from_numpy(y),
        epochs=4,
        lr=0.1,
        batch_size=32,
        optimizer="sgd",
        momentum=0.9,
        seed=0,
        progress=False,
    )
    assert metrics["optimizer"] == "sgd" and metrics["momentum"] == 0.9
    assert evaluate(model, x, y)["accuracy"] > 0.95


def test_binary_one_logit_training():
    x, y = separable(256, 2, 16, seed=3)
    torch.manual_seed(0)
    model = architectures.build("binary_cnn", (1, 16, 16), 2)
    train(model, x, y, epochs=4, lr=1e-3, batch_size=32, seed=0, progress=False)
    result = evaluate(model, x, y)
    assert result["accuracy"] > 0.95
    assert np.array(result["confusion"]).shape == (2, 2)
    with pytest.raises(ValueError, match="one-logit binary model needs labels 0/1"):
        train(model, x, y + 1, epochs=1, lr=1e-3, batch_size=32, seed=0, progress=False)


def run(seed: int, initial: dict, x: np.ndarray, y: np.ndarray) -> dict:
    model = architectures.build("cifar_cnn", (3, 8, 8), 3)  # has dropout and batch norm
    model.load_state_dict(initial)
    rng_before = torch.get_rng_state()
    train(model, x, y, epochs=2, lr=1e-3, batch_size=16, seed=seed, progress=False)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is left as it was
    return model.state_dict()


def test_training_is_deterministic_per_seed():
    x, y = separable(64, 3, 8, seed=4, channels=3)
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in architectures.build("cifar_cnn", (3, 8, 8), 3).state_dict().items()}
    a, b, c = run(7, initial, x, y), run(7, initial, x, y), run(8, initial, x, y)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


class PixelIsLabel(nn.Module):
    """Predicts the class written as the (only) pixel value."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot((x.flatten(1)[:, 0] * 255).round().long(), self.k).float()


def test_evaluate_confusion_by_hand():
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 0, 1, 1, 2, 0, 2, 2])
    images = pred.astype(np.uint8).reshape(-1, 1, 1, 1)
    images.flags.writeable = False  # e.g. a read-only array from a file
    result = evaluate(PixelIsLabel(4), images, true, batch_size=4)
    assert result["confusion"] == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert sum(map(sum, result["confusion"])) == result["n"] == 9
    assert result["accuracy"] == pytest.approx(7 / 9)
    per_class = result["per_class_accuracy"]
    assert per_class[:3] == pytest.approx([2 / 3, 1.0, 0.75]) and per_class[3] is None  # no true 3s


def test_evaluate_one_logit_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 1))
    with torch.no_grad():
        model[1].weight.fill_(1.0)
        model[1].bias.fill_(-0.5)
    images = torch.tensor([0.0, 1.0, 1.0, 0.0]).reshape(4, 1, 1, 1)  # float input used as is
    result = evaluate(model, images, torch.tensor([0, 1, 0, 0]))
    assert result["confusion"] == [[2, 1], [0, 1]]
    assert result["per_class_accuracy"] == pytest.approx([2 / 3, 1.0])


def test_progress_bar_and_argument_errors(capsys):
    x, y = separable(40, 2, 8, seed=5)
    model = architectures.build("logreg", (1, 8, 8), 2)
    train(model, x, y, epochs=1, lr=0.01, batch_size=16, seed=0, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="labels range over 0..4 but the model has 2 outputs"):
        train(model, x, np.where(y == 1, 4, 0), epochs=1, lr=0.01, batch_size=16, seed=0, progress=False)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'"):
        train(model, x, y, epochs=1, lr=0.01, batch_size=16, seed=0, optimizer="rmsprop")
    with pytest.raises(ValueError, match="momentum applies only to the sgd"):
        train(model, x, y, epochs=1, lr=0.01, batch_size=16, seed=0, momentum=0.9)
    with pytest.raises(ValueError, match="labels must be 40 integers"):
        train(model, x, y[:10], epochs=1, lr=0.01, batch_size=16, seed=0)
    with pytest.raises(ValueError, match=r"images must be uint8 .* got torch.int32"):
        evaluate(model, x.astype(np.int32), y)
    with pytest.raises(specs.ModelError, match="does not accept inputs of shape"):
        evaluate(model, separable(4, 2, 9, seed=0)[0], y[:4])
