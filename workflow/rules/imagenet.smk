# ImageNet (paper Sec. 3.1, Table 1): a local validation folder as data/imagenet.h5,
# torchvision backbones as models (pretrained weights or random ones; never trained), and
# Table 1 from the plain noise experiments of models on the imagenet dataset.
import re

from revcor.backbones import DEFAULT_WEIGHTS
from revcor.models import BACKBONES


def backbone_ids():
    """Models of the config ("dataset/model") whose architecture is a torchvision backbone."""
    return [f"{d}/{m}" for d, models in config["models"].items() for m, spec in models.items()
            if spec["arch"] in BACKBONES]


def imagenet_experiments():
    """Plain summary experiments of models on the imagenet dataset: the rows of Table 1."""
    return {name: spec for name, spec in config["experiments"].items()
            if spec["model"].split("/")[0] == "imagenet" and not spec["signal"] and spec["summary"]}


def imagenet_backbones():
    """{experiment: (architecture, weights setting)} of the Table 1 experiments."""
    settings = {name: model_settings(config, *spec["model"].split("/")) for name, spec in imagenet_experiments().items()}
    return {name: (s["arch"], s.get("weights", DEFAULT_WEIGHTS)) for name, s in settings.items()}


def imagenet_targets():
    return [f"{RESULTS}/tables/imagenet.md"] if imagenet_experiments() else []


rule imagenet_dataset:
    output:
        f"{DATA}/imagenet.h5",
    params:
        settings=lambda w: dataset_settings("imagenet"),
        code=code_hash("data", "store"),
    threads: config["threads"]
    resources:
        **res("imagenet_dataset"),
    log:
        f"{RESULTS}/logs/data/imagenet.log",
    script:
        "../../scripts/imagenet_dataset.py"


# A backbone's model file is made by this rule, not by `train`.
ruleorder: backbone > train


rule backbone:
    input:
        lambda w: f"{DATA}/{w.backbone.split('/')[0]}.h5",
    output:
        model=f"{RESULTS}/models/{{backbone}}.pt",
        metrics=f"{RESULTS}/models/{{backbone}}.json",
    wildcard_constraints:
        backbone="|".join(map(re.escape, backbone_ids())) or "(?!)",
    params:
        settings=lambda w: model_settings(config, *w.backbone.split("/")),
        code=code_hash("backbones", "models", "data"),
        device=config["device"],
    threads: config["threads"]
    resources:
        **res("backbone", model=True),
    log:
        f"{RESULTS}/logs/train/{{backbone}}.log",
    script:
        "../../scripts/backbone.py"


rule imagenet_eval:
    input:
        maps=f"{RESULTS}/maps/{{exp}}.h5",
        dataset=lambda w: experiment_dataset(w.exp),
        responses=lambda w: expand(f"{RESULTS}/noise/{w.exp}/part{{part}}.h5",
                                   part=range(experiment(w.exp)["jobs"])),
    output:
        f"{RESULTS}/imagenet/{{exp}}.json",
    params:
        code=code_hash("imagenet", "evaluate", "data"),
    resources:
        **res("imagenet_eval"),
    log:
        f"{RESULTS}/logs/imagenet/{{exp}}.log",
    script:
        "../../scripts/imagenet_eval.py"


rule imagenet_table:
    input:
        [f"{RESULTS}/imagenet/{name}.json" for name in imagenet_experiments()],
    output:
        md=f"{RESULTS}/tables/imagenet.md",
        csv=report(f"{RESULTS}/tables/imagenet.csv", category="Tables", caption="../report/imagenet.rst"),
    params:
        backbones=imagenet_backbones(),
        code=code_hash("tables", "paper"),
    resources:
        **res("imagenet_table"),
    log:
        f"{RESULTS}/logs/tables/imagenet.log",
    script:
        "../../scripts/imagenet_table.py"
