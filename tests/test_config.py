"""Config validation: defaults filled, and every mistake named with what is allowed."""

import pytest
import yaml
from helpers import ROOT, SCHEMA

from revcor.base.config import ConfigError, validate
from revcor.pipeline.configure import expand, model_settings


def test_default_config_is_valid_and_complete():
    config = validate(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMA)
    assert config["engine"]["chunk_size"] == "auto" and config["resources"]["gpu"] == 0
    for name, spec in config["experiments"].items():
        dataset, model = spec["model"].split("/")
        assert model in config["models"][dataset], f"experiment {name} names an unknown model"
        assert spec["n"] == 1_000_000


def test_defaults_are_filled():
    config = validate(
        {"models": {"mnist-5k": {"cnn": {"arch": "mnist_cnn"}}}, "experiments": {"e": {"model": "mnist-5k/cnn"}}},
        SCHEMA,
    )
    assert config["training"]["epochs"] == 15
    assert config["resources"]["default"] == {"mem_mb": 4000, "runtime": 60} and config["precision"] == "auto"
    assert config["experiments"]["e"]["noise"] == {
        "kind": "white",
        "distribution": "uniform",
        "std": 0.25,
        "dataset": None,
    }
    assert config["experiments"]["e"]["checkpoints"] == [100, 1000, 10000, 100000]
    assert config["generators"]["gabor"] == {"sizes": None, "components": None, "alpha": 0.1}
    assert config["generators"]["autoencoder"]["epochs"] == 2
    settings = model_settings(config, "mnist-5k", "cnn")
    assert settings["lr"] == 0.001 and settings["arch"] == "mnist_cnn"


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"datasetz": {}}, ["unknown key 'datasetz'", "allowed keys:", "datasets"]),
        ({"precision": "fp64"}, ["precision", "'fp64' is not allowed", "fp32, bf16"]),
        ({"datasets": {"mnist5k": {}}}, ["datasets.mnist5k", "not one of the paper's datasets", "mnist-5k", "source"]),
        (
            {"models": {"mnist-5k": {"cnn": {"arch": "mnist_cnn", "epochz": 3}}}},
            ["models.mnist-5k.cnn", "unknown key 'epochz'", "epochs"],
        ),
        ({"models": {"mnist-5k": {"cnn": {"arch": "resnet"}}}}, ["models.mnist-5k.cnn.arch", "mnist_cnn"]),
        ({"training": {"lr": -1}}, ["training.lr", "-1"]),
        ({"engine": {"storage": "int8"}}, ["engine.storage", "uint8, float16, float32"]),
        ({"experiments": {"e": {"model": "cnn"}}}, ["experiments.e.model", "'cnn'"]),
        ({"threads": "two"}, ["threads", "integer"]),
        ({"engine": {"chunk_size": "big"}}, ["engine.chunk_size", "'big'", "integer >= 1", "'auto'"]),
        ({"resources": {"default": {"mem": 3}}}, ["resources.default", "unknown key 'mem'", "mem_mb, runtime"]),
    ],
)
def test_mistakes_name_the_key_and_the_allowed_values(config, expected):
    with pytest.raises(ConfigError) as err:
        validate(config, SCHEMA)
    for text in expected:
        assert text in str(err.value)


def test_unknown_model_is_named():
    config = validate({}, SCHEMA)
    with pytest.raises(ConfigError, match="no model mnist/cnn"):
        model_settings(config, "mnist", "cnn")


def test_single_units_refuse_a_noise_size():
    config = validate(
        {
            "models": {"mnist-5k": {"cnn": {"arch": "mnist_cnn"}}},
            "units": {"u": {"model": "mnist-5k/cnn", "layers": ["conv1"], "noise": {"kind": "white", "size": 14}}},
        },
        SCHEMA,
    )
    with pytest.raises(ConfigError, match=r"units\.u\.noise\.size: .*remove size"):
        expand(config)


def test_auto_n_is_for_plain_experiments_and_says_so():
    models = {"mnist-5k": {"cnn": {"arch": "mnist_cnn"}}}
    config = validate({"models": models, "experiments": {"e": {"model": "mnist-5k/cnn", "n": "auto"}}}, SCHEMA)
    assert config["experiments"]["e"]["max_n"] == 1_000_000
    assert config["experiments"]["e"]["target"] == {"reliability": 0.9, "min_count": 1000}
    signal = {"model": "mnist-5k/cnn", "n": "auto", "signal": {"gammas": [0.2]}}
    config = validate({"models": models, "experiments": {"s": signal}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"experiments\.s\.n: auto .* needs a number of trials"):
        expand(config)
    with pytest.raises(ConfigError, match="experiments.e.n"):
        validate({"models": models, "experiments": {"e": {"model": "mnist-5k/cnn", "n": "lots"}}}, SCHEMA)


def test_old_names_still_work_with_a_warning_and_not_beside_the_new():
    """Sections and rules renamed to one name per concept (schema ``x-renamed``)."""
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    units, stims = base.pop("units"), base.pop("microstim")
    old = {**base, "neurons": units, "microstimulation": stims}
    old["resources"] = {"rules": {"template_eval": {"runtime": 5}, "figure_fig8": {"mem_mb": 100}}}
    with pytest.warns(FutureWarning) as caught:
        config = validate(old, SCHEMA)
    assert sorted(str(w.message).split(":")[1].split()[0] for w in caught) == [
        "microstimulation",
        "neurons",
        "resources.rules.figure_fig8",
        "resources.rules.template_eval",
    ]
    assert "neurons" not in config and "microstimulation" not in config
    assert config["units"] is units and config["microstim"] is stims
    assert config["resources"]["rules"] == {"evaluation": {"runtime": 5}, "figure_sta": {"mem_mb": 100}}
    with pytest.raises(ConfigError, match="neurons is the old name of units, and both are set"):
        validate({"neurons": {}, "units": {}}, SCHEMA)
