# Shared set-up: validate the config before any rule runs, and name the artifacts.
from pathlib import Path

from revcor.config import (ConfigError, backdoor_dataset, detection_experiment, detection_models,
                           model_settings, validate)
from revcor.config import expand as expand_config
from revcor.store import code_hash

SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
try:  # defaults, then the models and experiments that backdoor detection implies (with defaults)
    validate(expand_config(validate(config, SCHEMA)), SCHEMA)
except ConfigError as e:
    raise WorkflowError(str(e)) from None

DATA = config["data_dir"]
RESULTS = config["results_dir"]
for _key, _folder in (("data_dir", DATA), ("results_dir", RESULTS)):
    if Path(_folder).exists() and not Path(_folder).is_dir():
        raise WorkflowError(f"{_key} {_folder!r} is a file, not a folder: move it away or set {_key}")
BASE_DATASETS = "mnist|fashion-mnist|cifar10|mnist-5k"


wildcard_constraints:
    dataset=r"[A-Za-z0-9-]+",
    model=r"[A-Za-z0-9_]+",
    base=BASE_DATASETS,
    exp=r"[A-Za-z0-9_-]+",
    part=r"[0-9]+",
    name=r"[a-z0-9]+",
    unit=r"[A-Za-z0-9_-]+",
    stim=r"[A-Za-z0-9_-]+",


def res(rule, model=False):
    """A rule's cluster resources: the config's defaults, GPUs for rules that run a model,
    then the rule's own overrides."""
    cfg = config["resources"]
    return {**cfg["default"], **({"gpu": cfg["gpu"]} if model else {}), **cfg["rules"].get(rule, {})}


def dataset_settings(name):
    if name not in config["datasets"]:
        raise WorkflowError(
            f"dataset {name!r} is used but not configured under 'datasets' "
            f"(configured: {', '.join(config['datasets']) or 'none'})"
        )
    return config["datasets"][name]


def model_ids():
    return [(d, m) for d, models in config["models"].items() for m in models]


def all_targets():
    targets = [f"{DATA}/{d}.h5" for d in config["datasets"]]
    targets.append(f"{RESULTS}/tables/provenance.csv")
    targets += [f"{RESULTS}/models/{d}/{m}.json" for d, m in model_ids()]
    for name, spec in config["experiments"].items():
        targets.append(f"{RESULTS}/maps/{name}.h5")
        if name in template_experiments():
            targets.append(f"{RESULTS}/eval/{name}.json")
    if template_experiments():
        targets += [f"{RESULTS}/tables/template_accuracy.md"]
    targets += attack_targets() + backdoor_targets() + neurons_targets() + microstim_targets() + imagenet_targets()
    if noise_comparison_experiments():
        targets.append(f"{RESULTS}/tables/noise_comparison.md")
    targets += figure_targets()
    return targets
