"""The workflow's analyses run outside the workflow, for the command line: the user's model
and data are prepared as the workflow would (a revcor model file checked against the data,
structured-noise generators fitted on the data), the analysis settings are validated and
filled with the same schema, and the same pipeline step runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from revcor.base import config as cfg
from revcor.data import datasets
from revcor.models import given
from revcor.models.loading import FACTORY_SPEC
from revcor.models.specs import ModelError
from revcor.noise.kinds import AUTOENCODERS
from revcor.pipeline import attack as attack_step
from revcor.pipeline import autoencoder, baselines, gabor, microstim, units


def entry(section: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` of one entry of config ``section`` (e.g. ``units``; ``attacks`` is one
    entry itself) checked and filled with the workflow's defaults, beside the filled
    ``engine`` and ``generators``."""
    single = section == "attacks"
    filled = cfg.validate({section: settings if single else {"cli": settings}}, cfg.SCHEMA)
    spec = filled[section] if single else filled[section]["cli"]
    return {"spec": spec, "engine": filled["engine"], "generators": filled["generators"]}


def prepare(
    model: str,
    data: str,
    work: Path,
    *,
    state_dict: str | None,
    normalize: dict | None,
    outputs: str,
    output_key: str | None = None,
) -> tuple[Path, Path]:
    """The dataset file of ``data`` (any form) and the user's model as a revcor model file,
    checked against it, both in ``work``."""
    data_file = datasets.from_any(data, work)
    test = datasets.load(data_file, "test")
    settings: dict[str, Any] = {"normalize": normalize, "outputs": outputs, "output_key": output_key}
    if FACTORY_SPEC.match(model) and not Path(model).exists():
        settings |= {"factory": model, "state_dict": state_dict}
    elif state_dict is not None:
        raise ModelError(f"a state dict file is only used with a package.module:factory spec, not with {model}")
    else:
        settings["file"] = model
    shape = tuple(int(s) for s in test.images.shape[1:])
    loaded = given.write(
        settings, work / "model.pt", in_shape=shape, num_classes=len(test.classes), meta={"classes": test.classes}
    )
    given.check_outputs(loaded.module, datasets.to_tensor(test.images[:256]), f"model {model}")
    return work / "model.pt", data_file


def generator(kind: str, generators: dict, data_file: Path, work: Path, device: torch.device) -> Path | None:
    """The fitted generator of structured noise ``kind`` (None for white noise)."""
    out = work / f"{kind}.h5"
    if kind == "gabor":
        gabor.fit(data_file, generators["gabor"], out)
    elif kind in AUTOENCODERS:
        autoencoder.fit(kind, data_file, generators["autoencoder"], out, device=device)
    else:
        return None
    return out


def run(
    section: str,
    settings: dict[str, Any],
    model: str,
    data: str,
    out: str | Path,
    work: Path,
    *,
    state_dict: str | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> None:
    """Run the ``units`` or ``microstim`` step of ``settings`` on a user's model and data."""
    filled = entry(section, {"model": "cli/model", **settings})
    model_file, data_file = prepare(
        model, data, work, state_dict=state_dict, normalize=normalize, outputs=outputs, output_key=output_key
    )
    spec = filled["spec"]
    noise = spec.get("activation_noise", {}).get("noise", {}) if section == "microstim" else spec["noise"]
    gen = generator(noise.get("kind", "white"), filled["generators"], data_file, work, device)
    step = {"units": units.run, "microstim": microstim.run}[section]
    step(spec, filled["engine"], model_file, data_file, out, generator=gen, device=device, progress=progress)


def attack(
    maps: Path, model_file: Path, data_file: Path, settings: dict[str, Any], out: str | Path, work: Path, **kw: Any
) -> dict:
    """The workflow's attack step on the bias maps ``maps`` of a prepared model: the maps and
    the data's mean images added to noise and to every test image; writes ``out`` (HDF5) and
    returns the rates."""
    filled = entry("attacks", settings)
    baselines.baselines(data_file, work / "baselines.json", work / "baselines.h5")
    return attack_step.run(
        maps, model_file, data_file, work / "baselines.h5", out, work / "attack.json", filled["spec"], **kw
    )
