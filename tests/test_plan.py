"""The plan of a config: which artifacts exist, and which experiments each figure is drawn from."""

import copy
import inspect
import re

import pytest
import yaml
from helpers import ROOT, SCHEMA

from revcor.base.config import ConfigError
from revcor.pipeline.configure import prepare
from revcor.pipeline.plan import ARTIFACTS, Plan
from revcor.pipeline.registry import FIGURES
from revcor.report import figures

DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def plan(config: dict) -> Plan:
    return Plan(prepare(copy.deepcopy(config), SCHEMA), "data", "results")


@pytest.fixture(scope="module")
def default():
    return plan(DEFAULT)


def test_default_figures_come_from_the_experiments_made_for_them(default):
    assert default.figure_selection("signal_noise") == {"1v7": "mnist-1v7", "5v6": "mnist-5v6"}
    assert default.figure_selection("cnn_logreg") == {"cnn": "mnist-cnn", "logreg": "mnist-logreg"}
    assert default.figure_selection("mlp_rnn") == {"mlp": "mnist-mlp", "rnn": "mnist-rnn"}
    assert default.figure_selection("fashion") == {"cnn": "fashion-cnn", "gabor": "fashion-gabor"}
    assert default.figure_selection("gabor_noise") == {"mnist": "mnist-gabor", "fashion": "fashion-gabor"}
    assert default.figure_selection("noise_comparison") == {
        "white": "mnist-cnn",
        "gabor": "mnist-gabor",
        "ae": "mnist-ae",
        "vae": "mnist-vae",
    }
    assert default.figure_selection("cifar10") == {}  # no CIFAR-10 offline
    assert default.figure_selection("microstim_lowered") == ["mnist-cnn", "mnist-1v3", "mnist-2v8"]
    with pytest.raises(ValueError, match="unknown figure 'fig99'"):
        default.figure_selection("fig99")


def test_figure_inputs_name_the_files_of_those_experiments(default):
    assert default.figure_inputs("cnn_logreg") == {
        "cnn_maps": "results/maps/mnist-cnn.h5",
        "logreg_maps": "results/maps/mnist-logreg.h5",
        "cnn_eval": "results/evaluation/mnist-cnn.json",
        "logreg_eval": "results/evaluation/mnist-logreg.json",
        "baselines": "results/evaluation/mnist-5k/baselines.json",
    }
    assert default.figure_inputs("signal_noise")["dataset_files"] == ["data/mnist-5k-1v7.h5", "data/mnist-5k-5v6.h5"]
    assert default.figure_inputs("gabor_noise")["generators"] == [
        "results/generators/mnist-5k/gabor.h5",
        "results/generators/fashion-mnist/gabor.h5",
    ]
    assert default.figure_inputs("infoval", "mnist-cnn") == {"evaluation": "results/evaluation/mnist-cnn.json"}
    with pytest.raises(ConfigError, match="figure 'cifar10' .* needs experiments"):
        default.figure_inputs("cifar10")


def test_each_figure_is_one_declaration_that_its_function_rule_and_caption_follow(default):
    """The registry names the drawing function (its keyword arguments are the declared
    inputs), the rule figure_{name} and the caption (its own, or the generic one)."""
    captions = ROOT / "workflow/report"
    for name, fig in FIGURES.items():
        params = inspect.signature(getattr(figures, name)).parameters
        entries = default.figure_selection(name)
        for entry in entries if fig.each else [None] if entries else []:
            inputs = default.figure_inputs(name, entry)
            required = {k for k, v in params.items() if v.default is inspect.Parameter.empty} - {"stem"}
            assert required <= set(inputs) <= set(params) - {"stem"}, name
        caption = captions / f"{fig.caption or name}.rst"
        assert caption.exists() or (captions / "figure.rst").exists(), name
        for suffix in fig.also:
            assert (captions / f"{fig.caption or name}-{suffix}.rst").exists(), (name, suffix)
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    assert "rule figure_" not in rules  # every figure rule comes from the registry loop
    drawn = {n for n, f in inspect.getmembers(figures, inspect.isfunction) if f.__module__ == figures.__name__}
    assert {n for n in drawn if not n.startswith("_")} - set(FIGURES) <= {"generated_samples", "map_set"}


def test_every_artifact_path_is_written_once_in_the_plan():
    """The rules name paths only through the plan (Plan.path and its lookups): no folder of
    data_dir or results_dir is spelled out in a rule file, and no two artifacts share a template."""
    for path in [ROOT / "Snakefile", *(ROOT / "workflow/rules").glob("*.smk")]:
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith(("#", "PLAN.log("))]
        assert not re.search(r"\{(RESULTS|DATA)\}/|[\"'](results|data)/", "\n".join(code)), path.name
    plan_source = (ROOT / "src/revcor/pipeline/plan.py").read_text()
    assert plan_source.count("{results}/") == len([t for t in ARTIFACTS.values() if t.startswith("{results}/")])
    assert len(set(ARTIFACTS.values())) == len(ARTIFACTS)
    p = plan(DEFAULT)
    assert p.path("maps") == "results/maps/{exp}.h5"
    assert p.path("maps", exp="mnist-cnn") == p.maps_file("mnist-cnn") == "results/maps/mnist-cnn.h5"
    assert p.path("model", model="{dataset}/{model}") == "results/models/{dataset}/{model}.pt"


def test_full_mnist_is_preferred_and_a_figure_needs_both_models_on_one_dataset():
    config = copy.deepcopy(DEFAULT)
    config["datasets"]["mnist"] = {"source": "auto"}
    config["models"]["mnist"] = {"cnn": {"arch": "mnist_cnn"}}
    config["experiments"]["full-cnn"] = {"model": "mnist/cnn"}
    p = plan(config)
    assert p.figure_selection("buildup") == {"cnn": "full-cnn"}
    assert p.figure_selection("cnn_logreg") == {
        "cnn": "mnist-cnn",
        "logreg": "mnist-logreg",
    }  # full MNIST has no logreg
    del config["experiments"]["mnist-logreg"]
    assert plan(config).figure_selection("cnn_logreg") == {}


def test_targets_of_the_default_run(default):
    targets = set(default.targets())
    assert "results/figures/signal_noise.png" in targets and "results/figures/cifar10.png" not in targets
    assert {f"results/maps/{name}.h5" for name in DEFAULT["experiments"]} <= targets
    assert "results/maps/detect-mnist-5k-bd-c8to9-cnn_s4.h5" in targets  # implied by detection
    assert "results/maps/detect-mnist-5k-cnn.h5" in targets  # the clean model of seed 0 is mnist-5k/cnn itself
    assert "results/evaluation/detect-mnist-5k-cnn.json" not in targets  # not a summary experiment
    assert {
        "results/figures/microstim_raised/mnist-1v3.pdf",
        "results/figures/microstim_lowered/mnist-2v8.png",
        "results/figures/stc/mnist-cnn-stc.png",
        "results/figures/injection/mnist-cnn-gabor.png",
        "results/figures/infoval/mnist-cnn.png",
        "results/tables/attack.md",
        "results/tables/imagenet.md",
    } - targets == {"results/tables/imagenet.md"}
    assert "results/figures/activations/mnist-cnn.png" not in targets  # that analysis asks for no activations
    assert len(targets) == len(default.targets())


def test_inputs_of_steps(default):
    assert default.experiment_inputs("mnist-gabor") == {
        "model": "results/models/mnist-5k/cnn.pt",
        "generator": "results/generators/mnist-5k/gabor.h5",
    }
    assert default.experiment_inputs("mnist-1v7") == {
        "model": "results/models/mnist-5k-1v7/cnn.pt",
        "dataset": "data/mnist-5k-1v7.h5",
    }
    assert default.microstim_inputs("mnist-1v3")["generator"] == "results/generators/mnist-5k/gabor.h5"
    assert default.parts("mnist-cnn", "stats_part") == [
        f"results/stats/mnist-cnn/part{j}.h5" for j in range(DEFAULT["experiments"]["mnist-cnn"].get("jobs", 1))
    ]


def test_bad_references_name_what_exists(default):
    config = copy.deepcopy(DEFAULT)
    config["attacks"]["experiments"] = ["mnist-1v7"]
    with pytest.raises(ConfigError, match="'mnist-1v7' is not a plain noise experiment"):
        plan(config).targets()
    with pytest.raises(ConfigError, match=r"no experiments entry 'nope' in config \(configured: mnist-cnn"):
        default.experiment("nope")
    with pytest.raises(ConfigError, match="dataset 'cifar10' is used but not configured"):
        default.dataset_settings("cifar10")


def test_seed_spread_copies_what_is_trained_here_out_of_the_summaries():
    config = copy.deepcopy(DEFAULT)
    config["seeds"] = [0, 1, 2]
    config["models"]["mnist-5k"]["given"] = {"file": "user.pt"}
    config["experiments"]["given-white"] = {"model": "mnist-5k/given"}
    p = plan(config)
    spread = p.seed_spread()
    assert spread["experiments"]["mnist-cnn"] == {0: "mnist-cnn", 1: "mnist-cnn_s1", 2: "mnist-cnn_s2"}
    assert "given-white" not in spread["experiments"]  # a given model has no training seed
    assert "mnist-1v7" not in spread["experiments"]  # signal+noise: Fig. 1, no headline number
    assert set(spread["attacks"]) == {"mnist-cnn", "mnist-gabor"}
    assert set(spread["microstim"]) == {"mnist-cnn", "mnist-1v3", "mnist-2v8"}
    copied = p.experiment("fashion-gabor_s2")
    assert copied["model"] == "fashion-mnist/cnn_s2" and not copied["summary"] and copied["noise"]["kind"] == "gabor"
    assert p.model_settings("fashion-mnist/cnn_s2")["seed"] == 2
    assert p.model_settings("fashion-mnist/cnn_s2")["arch"] == "fashion_cnn"
    # the detection copies and the spread's copies of mnist-5k/cnn are one model per seed
    assert p.detection_models("x0to1")["clean"][:3] == ["mnist-5k/cnn", "mnist-5k/cnn_s1", "mnist-5k/cnn_s2"]
    stim = p.config["microstim"]["mnist-1v3_s1"]
    assert stim["model"] == "mnist-5k-1v3/cnn_s1" and not stim["summary"]
    targets = set(p.targets())
    assert "results/tables/seed_spread.md" in targets and "results/tables/seed_spread.md" not in set(default_targets())
    assert "results/tables/microstim/mnist-1v3_s1.md" not in targets  # copies make no tables or figures
    assert "mnist-cnn_s1" in p.config["experiments"] and "mnist-cnn_s1" not in p.template_experiments()
    inputs = p.seed_spread_inputs()
    assert (
        len(inputs["eval"]) == 3 * len(spread["experiments"])
        and "results/evaluation/mnist-vae_s2.json" in inputs["eval"]
    )
    assert "results/attacks/mnist-gabor_s1.json" in inputs["attack"]
    assert "results/microstim/mnist-2v8_s2.h5" in inputs["microstim"]


def default_targets() -> list[str]:
    return plan(DEFAULT).targets()


def test_a_seed_spread_needs_two_seeds():
    config = copy.deepcopy(DEFAULT)
    config["seeds"] = [1]
    with pytest.raises(ConfigError, match="seeds: \\[1\\] is one seed"):
        plan(config)
    config["seeds"] = [1, 1]
    with pytest.raises(ConfigError, match="seeds"):
        plan(config)
