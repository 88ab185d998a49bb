"""What the workflow makes from a config: artifact paths, each rule's inputs, and the
selection of experiments that feed each figure and table.

The rule files only name rules; every decision about which files exist and which experiment
a figure is drawn from is made here, from the validated config, and tested in pytest.
"""

from __future__ import annotations

import re
from typing import Any

from revcor.base.config import ConfigError
from revcor.models.specs import BACKBONES, DEFAULT_WEIGHTS, files_of, kind_of
from revcor.noise.kinds import AUTOENCODERS, KINDS
from revcor.pipeline.configure import (
    detection_experiment,
    detection_models,
    model_settings,
    scan_models,
    seed_spread,
    split_model,
)

MNIST_FIRST = ("mnist", "mnist-5k")  # figures prefer full MNIST, then the 5k subset
PAPER_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig13", "fig14", "fig15", "fig16", "noise_comparison")
UNIT_FIGURES = ("fig8", "fig20", "fig21", "stc")
MICROSTIM_FIGURES = {"fig23": 1, "fig24": -1}  # figure: sign of the bias change it shows
IMAGENET = "imagenet"


class Plan:
    """The artifacts of a validated config, with datasets under ``data`` and the rest under ``results``."""

    def __init__(self, config: dict[str, Any], data: str, results: str):
        self.config, self.data, self.results = config, data, results

    # ------------------------------------------------------------------ lookups

    def _entry(self, section: str, name: str) -> dict:
        try:
            return self.config[section][name]
        except KeyError:
            known = ", ".join(self.config.get(section, {})) or "none"
            raise ConfigError(f"no {section} entry {name!r} in config (configured: {known})") from None

    def experiment(self, name: str) -> dict:
        return self._entry("experiments", name)

    def dataset_settings(self, name: str) -> dict:
        if name not in self.config["datasets"]:
            raise ConfigError(
                f"dataset {name!r} is used but not configured under 'datasets' "
                f"(configured: {', '.join(self.config['datasets']) or 'none'})"
            )
        return self.config["datasets"][name]

    def built_datasets_pattern(self) -> str:
        """Regular expression of the datasets the ``dataset`` rule builds: the configured ones
        but ImageNet (which has its own rule)."""
        names = [re.escape(d) for d in self.config["datasets"] if d != IMAGENET]
        return "|".join(names) or "(?!)"

    def model_settings(self, model: str) -> dict:
        return model_settings(self.config, *split_model(model))

    def dataset_of(self, name: str) -> str:
        """The dataset of experiment ``name``'s model."""
        return split_model(self.experiment(name)["model"])[0]

    # ------------------------------------------------------------------ paths

    def dataset_file(self, dataset: str) -> str:
        return f"{self.data}/{dataset}.h5"

    def model_file(self, model: str, ext: str = "pt") -> str:
        return f"{self.results}/models/{model}.{ext}"

    def maps_file(self, name: str) -> str:
        return f"{self.results}/maps/{name}.h5"

    def eval_file(self, name: str) -> str:
        return f"{self.results}/eval/{name}.json"

    def generator_file(self, dataset: str, kind: str) -> str:
        return f"{self.results}/generators/{dataset}/{kind}.h5"

    def null_id(self, name: str) -> str:
        """``{dataset}/{noise}`` of experiment ``name``'s null maps: one per noise source and
        image size, shared by every experiment that draws from it (``white``, ``gabor``,
        ``gabor-cifar10-size32``, ``white-gaussian0.25``, ...)."""
        noise, dataset = self.experiment(name)["noise"], self.dataset_of(name)
        parts = [noise["kind"]]
        if self.input_size(name):
            parts.append(f"input{self.input_size(name)}")
        if noise["kind"] != "white" and noise.get("dataset") not in (None, dataset):
            parts.append(noise["dataset"])
        if noise["kind"] == "white" and noise.get("distribution") == "gaussian":
            parts.append(f"gaussian{noise['std']:g}")
        if noise.get("size"):
            parts.append(f"size{noise['size']}")
        return f"{dataset}/{'-'.join(parts)}"

    def input_size(self, name: str) -> int | None:
        """The side of experiment ``name``'s model input when it is not its dataset's (a
        backbone's ``input_size``); None otherwise."""
        return self.model_settings(self.experiment(name)["model"]).get("input_size")

    def null_file(self, name: str) -> str:
        return f"{self.results}/nulls/{self.null_id(name)}.h5"

    def nulls(self) -> dict[str, str]:
        """Every null id of the experiments, with one experiment that uses it."""
        return {self.null_id(e): e for e in self.config["experiments"]}

    def null_pattern(self) -> str:
        """A wildcard constraint matching exactly the null ids (nothing when there are none)."""
        return "|".join(map(re.escape, self.nulls())) or "(?!)"

    def null_inputs(self, null: str) -> dict[str, str]:
        """Inputs of the ``null`` rule: the dataset whose image size the noise has, and the
        generator of structured noise."""
        name = self.nulls()[null]
        spec = self.experiment(name)
        return {
            "dataset": self.dataset_file(self.dataset_of(name)),
            **self.generator(spec["noise"], self.dataset_of(name)),
        }

    def parts(self, name: str, artifact: str) -> list[str]:
        """The per-part files (``responses`` or ``stats``) of experiment ``name``."""
        return [f"{self.results}/{artifact}/{name}/part{p}.h5" for p in range(self.experiment(name)["jobs"])]

    # ------------------------------------------------------------------ rule inputs

    def generator(self, noise: dict, dataset: str) -> dict[str, str]:
        """``{"generator": path}`` of structured ``noise`` for a model of ``dataset``; {} for white noise."""
        kind = noise.get("kind", "white")
        if kind == "white":
            return {}
        return {"generator": self.generator_file(noise.get("dataset") or dataset, kind)}

    def experiment_inputs(self, name: str) -> dict[str, str]:
        """Inputs of an experiment's noise steps: model, generator, and the dataset when signal
        images are drawn from it."""
        spec = self.experiment(name)
        inputs = {"model": self.model_file(spec["model"]), **self.generator(spec["noise"], self.dataset_of(name))}
        if spec["signal"]:
            inputs["dataset"] = self.dataset_file(self.dataset_of(name))
        return inputs

    def stats_part_inputs(self, name: str, part: int) -> dict[str, str]:
        inputs = {k: v for k, v in self.experiment_inputs(name).items() if k != "model"}
        return {"responses": f"{self.results}/responses/{name}/part{part}.h5", **inputs}

    def logreg_of(self, dataset: str) -> dict[str, str]:
        """The dataset's logistic-regression model, if the config trains one."""
        if "logreg" in self.config["models"].get(dataset, {}):
            return {"logreg": self.model_file(f"{dataset}/logreg")}
        return {}

    def unit_inputs(self, name: str) -> dict[str, str]:
        spec = self._entry("neurons", name)
        dataset = split_model(spec["model"])[0]
        return {
            "model": self.model_file(spec["model"]),
            "dataset": self.dataset_file(dataset),
            **self.generator(spec["noise"], dataset),
        }

    def microstim_inputs(self, name: str) -> dict[str, str]:
        spec = self._entry("microstimulation", name)
        dataset = split_model(spec["model"])[0]
        inputs = {"model": self.model_file(spec["model"]), "dataset": self.dataset_file(dataset)}
        if spec["activations"] == "noise":
            inputs.update(self.generator(spec["activation_noise"].get("noise", {}), dataset))
        return inputs

    # ------------------------------------------------------------------ experiments by role

    def template_experiments(self) -> list[str]:
        """Plain (not signal+noise) summary experiments, whose maps are template classifiers;
        those on imagenet make Table 1 instead."""
        return [
            name
            for name, spec in self.config["experiments"].items()
            if not spec["signal"] and spec["summary"] and self.dataset_of(name) != IMAGENET
        ]

    def comparison_inputs(self, name: str) -> dict[str, str]:
        """Maps and null maps of the two experiments of comparison ``name``."""
        spec = self._entry("comparisons", name)
        for side in ("a", "b"):
            self.plain_experiment(spec[side])
        return {
            "a": self.maps_file(spec["a"]),
            "b": self.maps_file(spec["b"]),
            "null_a": self.null_file(spec["a"]),
            "null_b": self.null_file(spec["b"]),
        }

    def whitened_experiments(self) -> list[str]:
        """Template experiments with structured noise, whose maps are shown whitened."""
        return [name for name in self.template_experiments() if self.experiment(name)["noise"]["kind"] != "white"]

    def sample_complexity_experiments(self) -> list[str]:
        """Plain experiments that keep statistics at more than one sample size."""
        return [name for name in self.template_experiments() if self.experiment(name)["checkpoints"]]

    def find_experiment(
        self, datasets: tuple[str, ...] | list[str], model: str | None = None, signal: bool = False, kind: str = "white"
    ) -> str | None:
        """First summary experiment of ``{dataset}/{model}`` (any model when None) with ``kind``
        noise, trying ``datasets`` in order; signal+noise experiments only when ``signal``."""
        for dataset in datasets:
            for name, spec in self.config["experiments"].items():
                d, m = split_model(spec["model"])
                if (
                    d == dataset
                    and model in (None, m)
                    and bool(spec["signal"]) == signal
                    and spec["noise"]["kind"] == kind
                    and spec["summary"]
                ):
                    return name
        return None

    def noise_comparison_experiments(self) -> dict[str, str]:
        """{kind: experiment} of the MNIST CNN with each noise kind, on the first MNIST dataset
        that has at least two kinds."""
        for dataset in MNIST_FIRST:
            found = {k: self.find_experiment([dataset], "cnn", kind=k) for k in KINDS}
            found = {k: name for k, name in found.items() if name}
            if len(found) > 1:
                return found
        return {}

    def figure_experiments(self, fig: str) -> dict[str, str] | None:
        """{role: experiment} that paper figure ``fig`` is drawn from, or None when this config
        cannot make it."""
        find = self.find_experiment
        if fig == "fig1":
            found = {t: find([f"{d}-{t}" for d in MNIST_FIRST], signal=True) for t in ("1v7", "5v6")}
        elif fig == "fig2":  # both models on one dataset
            pairs = ({m: find([d], m) for m in ("cnn", "logreg")} for d in MNIST_FIRST)
            found = next((p for p in pairs if all(p.values())), {})
        elif fig in ("fig4", "fig14"):
            found = {"cnn": find(MNIST_FIRST, "cnn")}
        elif fig == "fig13":
            found = {m: find(MNIST_FIRST, m) for m in ("mlp", "rnn")}
        elif fig == "fig16":
            found = {"cnn": find(["fashion-mnist"], "cnn"), "gabor": find(["fashion-mnist"], "cnn", kind="gabor")}
            if not found["cnn"]:
                return None
        elif fig == "fig5":
            found = {
                "mnist": find(MNIST_FIRST, "cnn", kind="gabor"),
                "fashion": find(["fashion-mnist"], "cnn", kind="gabor"),
                "cifar": find(["cifar10"], "cnn", kind="gabor"),
            }
        elif fig == "fig15":
            found = {k: find(MNIST_FIRST, "cnn", kind=k) for k in AUTOENCODERS}
        elif fig == "noise_comparison":
            found = self.noise_comparison_experiments()
        elif fig == "fig3":
            found = {"cnn": find(["cifar10"], "cnn") or find(["cifar10"])}
        else:
            raise ValueError(f"unknown figure {fig!r}; known: {', '.join(PAPER_FIGURES)}")
        found = {role: name for role, name in found.items() if name}
        return found or None

    def figure_inputs(self, fig: str) -> dict[str, Any]:
        """Named inputs of paper figure ``fig``: the keyword arguments of ``revcor.report.figures.{fig}``."""
        exps = self.figure_experiments(fig)
        if exps is None:
            raise ConfigError(
                f"{fig} needs experiments that this config does not have "
                "(see revcor.pipeline.plan.Plan.figure_experiments)"
            )
        maps = {role: self.maps_file(name) for role, name in exps.items()}
        evals = {role: self.eval_file(name) for role, name in exps.items()}
        if fig == "fig1":
            return {
                "maps": list(maps.values()),
                "dataset_files": [self.dataset_file(self.dataset_of(e)) for e in exps.values()],
            }
        if fig == "fig4":
            return {"maps": maps["cnn"]}
        if fig == "fig16":
            return {"maps": maps["cnn"], **({"gabor_maps": maps["gabor"]} if "gabor" in maps else {})}
        if fig in ("fig5", "fig15"):
            return {
                "maps": list(maps.values()),
                "evaluations": list(evals.values()),
                "generators": [self.experiment_inputs(e)["generator"] for e in exps.values()],
            }
        if fig == "noise_comparison":
            return {"maps": list(maps.values()), "evaluations": list(evals.values())}
        if fig == "fig13":
            return maps
        if fig == "fig14":
            return {"maps": maps["cnn"], "evaluation": evals["cnn"]}
        dataset = self.dataset_of(exps["cnn"])
        baselines = {"baselines": f"{self.results}/eval/{dataset}/baselines.json"}
        if fig == "fig2":
            return {
                "cnn_maps": maps["cnn"],
                "logreg_maps": maps["logreg"],
                "cnn_eval": evals["cnn"],
                "logreg_eval": evals["logreg"],
                **baselines,
            }
        return {
            "maps": maps["cnn"],
            "evaluation": evals["cnn"],
            **baselines,
            "baseline_maps": f"{self.results}/baselines/{dataset}.h5",
        }

    def plain_experiment(self, name: str) -> str:
        """The maps of plain experiment ``name`` (z-maps and sample complexity exist for those only)."""
        if self.experiment(name)["signal"]:
            raise ConfigError(f"experiment {name!r} is signal+noise; z-maps exist for plain experiments only")
        return self.maps_file(name)

    def attack_experiments(self) -> list[str]:
        names = self.config["attacks"]["experiments"]
        plain = self.template_experiments()
        for name in names:
            if name not in plain:
                raise ConfigError(
                    f"attacks.experiments: {name!r} is not a plain noise experiment "
                    f"(plain: {', '.join(plain) or 'none'})"
                )
        return names

    def attack_inputs(self, name: str) -> dict[str, str]:
        dataset = self.dataset_of(name)
        return {
            "maps": self.maps_file(name),
            "model": self.model_file(self.experiment(name)["model"]),
            "dataset": self.dataset_file(dataset),
            "baselines": f"{self.results}/baselines/{dataset}.h5",
        }

    def seed_spread(self) -> dict[str, dict[str, dict[int, str]]]:
        return seed_spread(self.config)

    def seed_spread_inputs(self) -> dict[str, list[str]]:
        """The eval, attack and microstimulation files of every seed of the spread."""
        spread, r = self.seed_spread(), self.results
        names = {section: [c for copies in spread[section].values() for c in copies.values()] for section in spread}
        return {
            "eval": [self.eval_file(name) for name in names["experiments"]],
            "attack": [f"{r}/attacks/{name}.json" for name in names["attacks"]],
            "microstim": [f"{r}/microstim/{name}.h5" for name in names["microstimulation"]],
        }

    # ------------------------------------------------------------------ backdoors

    def backdoor(self, name: str) -> dict:
        return self._entry("backdoors", name)

    def detection_models(self, name: str) -> dict[str, list[str]]:
        return detection_models(self.config, name)

    def detection_maps(self, name: str) -> dict[str, list[str]]:
        """{role: [maps of each model]} for backdoor ``name`` (roles: poisoned, clean, reference)."""
        return {
            role: [self.maps_file(detection_experiment(m)) for m in models]
            for role, models in self.detection_models(name).items()
        }

    def local_file(self, model: str) -> str:
        """The local-noise trials of model ``dataset/model``."""
        return f"{self.results}/local/{model}.h5"

    def local_noise(self, model: str) -> dict:
        """The local-noise settings of model ``dataset/model``: those of backdoor detection when
        it scores the model, else those of the first scan that compares it."""
        if any(model in ms for name in self.config["backdoors"] for ms in self.detection_models(name).values()):
            return self.config["detection"]["local"]
        for name, spec in self.config["scans"].items():
            models = scan_models(self.config, name)
            if model in (models["model"], *models["references"]):
                return spec["local"]
        raise ConfigError(f"model {model!r} is compared by no backdoor detection or scan: it has no local noise")

    def _probed(self, models: list[str]) -> dict[str, list[str]]:
        """The white-noise maps, local-noise trials and model files of ``models``."""
        return {
            "maps": [self.maps_file(detection_experiment(m)) for m in models],
            "local": [self.local_file(m) for m in models],
            "models": [self.model_file(m) for m in models],
        }

    def detection_inputs(self, name: str) -> dict[str, list[str]]:
        """What backdoor ``name``'s detection reads: for each role (poisoned, clean, reference)
        its models' maps, local noise and files (``{role}_maps``, ...), and the clean dataset."""
        out = {"dataset": [self.dataset_file(self.backdoor(name)["dataset"])]}
        for role, models in self.detection_models(name).items():
            out |= {f"{role}_{key}": paths for key, paths in self._probed(models).items()}
        return out

    def fig7_inputs(self, name: str) -> dict[str, str]:
        models, maps = self.detection_models(name), self.detection_maps(name)
        return {
            "clean_maps": maps["clean"][0],
            "poisoned_maps": maps["poisoned"][0],
            "metrics": self.model_file(models["poisoned"][0], "json"),
            "clean_metrics": self.model_file(models["clean"][0], "json"),
            "gradients": f"{self.results}/backdoors/{name}/gradients.h5",
            "detection": f"{self.results}/backdoors/{name}/detection.json",
        }

    def scan_inputs(self, name: str) -> dict[str, Any]:
        """What scan ``name`` reads: the maps, local noise and files of its model (first) and
        references, and the model's dataset."""
        models = scan_models(self.config, name)
        dataset = split_model(models["model"])[0]
        return {"dataset": self.dataset_file(dataset), **self._probed([models["model"], *models["references"]])}

    def scan_file(self, name: str, ext: str = "json") -> str:
        """The scan's result (json), or the arrays its figure draws (h5)."""
        return f"{self.results}/scans/{name}.{ext}"

    # ------------------------------------------------------------------ imagenet (Table 1)

    def backbone_ids(self) -> list[str]:
        """Models ("dataset/model") whose architecture is a torchvision backbone."""
        return [
            f"{d}/{m}"
            for d, models in self.config["models"].items()
            for m, spec in models.items()
            if spec.get("arch") in BACKBONES
        ]

    def given_ids(self) -> list[str]:
        """``dataset/model`` of every model the user brings (file, factory or torchvision)."""
        return [
            f"{d}/{m}" for d, models in self.config["models"].items() for m, spec in models.items() if kind_of(spec)
        ]

    def given_pattern(self) -> str:
        """A wildcard constraint matching exactly the given models (nothing when there are none)."""
        return "|".join(map(re.escape, self.given_ids())) or "(?!)"

    def layers_of(self, model: str) -> dict[str, list[str]]:
        """{analysis: layers} that the config's layer analyses of ``model`` name."""
        out: dict[str, list[str]] = {}
        for name, spec in self.config["neurons"].items():
            if spec["model"] == model:
                named = [*spec["layers"], *spec["whiten"], *(u["layer"] for u in spec["stc"]), *spec["activations"]]
                named += [x for x in spec["injection"]["layers"] if x != "input"]
                out[f"neurons.{name}"] = list(dict.fromkeys(named))
        for name, spec in self.config["microstimulation"].items():
            if spec["model"] == model:
                out[f"microstimulation.{name}"] = list(spec["layers"])
        return out

    def given_inputs(self, model: str) -> dict[str, Any]:
        """Inputs of a given model: its dataset and the user's files it is read from."""
        dataset = split_model(model)[0]
        return {"dataset": self.dataset_file(dataset), "files": files_of(self.model_settings(model))}

    def backbone_pattern(self) -> str:
        """A wildcard constraint matching exactly the backbone models (nothing when there are none)."""
        return "|".join(map(re.escape, self.backbone_ids())) or "(?!)"

    def imagenet_experiments(self) -> list[str]:
        """Plain summary experiments of models on the imagenet dataset: the rows of Table 1."""
        return [
            name
            for name, spec in self.config["experiments"].items()
            if self.dataset_of(name) == IMAGENET and not spec["signal"] and spec["summary"]
        ]

    def imagenet_backbones(self) -> dict[str, tuple[str, str]]:
        """{experiment: (architecture, weights setting)} of the Table 1 experiments."""
        settings = {name: self.model_settings(self.experiment(name)["model"]) for name in self.imagenet_experiments()}
        return {name: (s["arch"], s.get("weights", DEFAULT_WEIGHTS)) for name, s in settings.items()}

    # ------------------------------------------------------------------ targets

    def unit_figures(self, name: str) -> list[str]:
        spec = self._entry("neurons", name)
        wanted = {
            "fig8": True,
            "fig20": bool(spec["activations"]),
            "fig21": bool(spec["injection"]["layers"]),
            "stc": bool(spec["stc"]),
        }
        return [fig for fig in UNIT_FIGURES if wanted[fig]]

    def targets(self) -> list[str]:
        """Every artifact of the config: what ``rule all`` asks for."""
        r, cfg = self.results, self.config
        out = [self.dataset_file(d) for d in cfg["datasets"]] + [f"{r}/tables/provenance.csv"]
        out += [self.model_file(f"{d}/{m}", "json") for d, models in cfg["models"].items() for m in models]
        out += [self.maps_file(name) for name in cfg["experiments"]]
        plain = self.template_experiments()
        out += [self.eval_file(name) for name in plain]
        out += [f"{r}/tables/template_accuracy.md"] if plain else []
        stems = [f"{r}/figures/{fig}" for fig in PAPER_FIGURES if self.figure_experiments(fig)]
        stems += [f"{r}/figures/zmaps/{name}" for name in plain]
        stems += [f"{r}/figures/whitened/{name}" for name in self.whitened_experiments()]
        stems += [f"{r}/figures/comparisons/{name}" for name in cfg["comparisons"]]
        stems += [f"{r}/figures/sample_complexity/{name}" for name in self.sample_complexity_experiments()]
        out += [f"{r}/tables/noise_comparison.md"] if self.noise_comparison_experiments() else []
        attacks = self.attack_experiments()
        stems += [f"{r}/figures/fig6/{name}" for name in attacks]
        out += [f"{r}/tables/attack.md"] if attacks else []
        stems += [f"{r}/figures/fig7/{name}" for name in cfg["backdoors"]]
        if cfg["backdoors"]:
            out += [f"{r}/tables/backdoor_detection.md", f"{r}/figures/backdoor_detection.png"]
        out += [self.scan_file(name) for name in cfg["scans"]]
        stems += [f"{r}/figures/scan/{name}" for name in cfg["scans"]]
        stems += [f"{r}/figures/{fig}/{name}" for name in cfg["neurons"] for fig in self.unit_figures(name)]
        for name, spec in cfg["microstimulation"].items():
            if not spec["summary"]:
                continue
            out.append(f"{r}/tables/microstim/{name}.md")
            stems += [f"{r}/figures/{fig}/{name}" for fig, sign in MICROSTIM_FIGURES.items() if sign in spec["signs"]]
        out += [f"{r}/tables/imagenet.md"] if self.imagenet_experiments() else []
        out += [f"{r}/tables/seed_spread.md"] if cfg["seeds"] else []
        return out + [f"{stem}.{ext}" for stem in stems for ext in ("png", "pdf")]
