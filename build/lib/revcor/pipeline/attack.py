"""The ``attack`` rule: bias maps and mean images as a hard-label attack (paper Fig. 6, Table 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from revcor.analyses.attacks import RATE_KINDS, examples, target_rates, white_noise
from revcor.base import store
from revcor.core import engine
from revcor.data.datasets import load, to_tensor
from revcor.models import loading
from revcor.noise.sources import WhiteNoise


def run(
    maps: str | Path,
    model_path: str | Path,
    dataset: str | Path,
    baselines: str | Path,
    out_h5: str | Path,
    out_json: str | Path,
    settings: dict,
    *,
    device: torch.device = torch.device("cpu"),
    compile: bool | str = "auto",
    progress: bool = False,
) -> dict:
    """The workflow's attack step: rates for bias maps and mean images added to white noise
    and to every test image (Table 2), and example stimuli (Fig. 6A/B, 17). ``compile`` is
    the config's ``engine.compile``."""
    with store.open_artifact(maps, "maps") as f:
        bias, classes = f["maps"][()], store.get_attr(f, "classes")
        experiment = store.get_attr(f, "experiment")
    with store.open_artifact(baselines, "baselines") as f:
        mean = f["mean_images"][()]
    model = loading.load(str(model_path), device=device).module
    test = load(dataset, "test")
    bases = {
        "noise": white_noise(settings["noise_samples"], tuple(test.images.shape[1:]), settings["seed"], device),
        "digit": to_tensor(test.images).to(device),
    }
    templates = {"bias": bias, "mean": mean}
    gammas = list(settings["gammas"])
    rates = {}
    for kind in RATE_KINDS:
        base, template = bases[kind.split(" + ")[0]], templates[kind.split(" + ")[1]]
        images = len(base) * len(gammas) * len(template)
        compiled = engine.compile_mode(model, compile, images, device)
        rates[kind] = target_rates(model, template, base, gammas, device=device, progress=progress, compiled=compiled)
    g = settings["example_gammas"]
    result = {
        "experiment": Path(maps).stem,
        "model": experiment["model"],
        "gammas": gammas,
        "classes": classes,
        "noise_samples": settings["noise_samples"],
        "test_images": len(test.labels),
        "rates": {k: r.tolist() for k, r in rates.items()},
        "mean": {
            k: [None if not np.isfinite(r[i]).any() else float(np.nanmean(r[i])) for i in range(len(gammas))]
            for k, r in rates.items()
        },
        "classes_with_template": {
            name: int(np.isfinite(t.reshape(len(t), -1)).all(1).sum()) for name, t in templates.items()
        },
        "example_gammas": g,
    }
    noise_key = {
        "source": WhiteNoise(tuple(test.images.shape[1:]), storage="float32").describe(),
        "seed": settings["seed"],
        "chunk": 0,
        "chunk_size": settings["noise_samples"],
    }
    attrs = {
        "kind": "attack",
        "noise_key": noise_key,
        **{k: v for k, v in result.items() if k not in ("rates", "mean")},
    }
    with store.create(out_h5, attrs) as f:
        for kind, r in rates.items():
            f.create_dataset(f"rates/{kind}", data=r)
        for name, t in templates.items():
            f.create_dataset(f"{name}/templates", data=t)
            for base, gamma in (("digit", g["digit"]), ("noise", g["noise"])):
                stim, labels = examples(model, t, bases[base][:1], gamma, device=device)
                f.create_dataset(f"{name}/{base}", data=stim)
                f.create_dataset(f"{name}/{base}_labels", data=labels)
    store.write_json(out_json, result)
    return result
