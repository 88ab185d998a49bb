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
from revcor.noise.kinds import KINDS
from revcor.pipeline.configure import (
    detection_experiment,
    detection_models,
    model_settings,
    scan_models,
    seed_spread,
    split_model,
)
from revcor.pipeline.registry import FIGURES, MNIST_FIRST

IMAGENET = "imagenet"

# Every artifact's path, written once: the rules' outputs and inputs and the plan's lookups
# all come from here (``Plan.path``). A wildcard left out stays a ``{wildcard}`` for rules.
ARTIFACTS = {
    "dataset": "{data}/{dataset}.h5",
    "model": "{results}/models/{model}.pt",
    "metrics": "{results}/models/{model}.json",
    "generator": "{results}/generators/{dataset}/{kind}.h5",
    "responses": "{results}/responses/{exp}/part{part}.h5",
    "stats_part": "{results}/stats/{exp}/part{part}.h5",
    "converged": "{results}/auto/{exp}/round{round}.json",
    "stats": "{results}/stats/{exp}.h5",
    "nulls": "{results}/nulls/{null}.h5",
    "maps": "{results}/maps/{exp}.h5",
    "evaluation": "{results}/evaluation/{exp}.json",
    "baselines": "{results}/baselines/{dataset}.h5",
    "baselines_evaluation": "{results}/evaluation/{dataset}/baselines.json",
    "comparison": "{results}/comparisons/{name}.h5",
    "attack": "{results}/attacks/{exp}.h5",
    "attack_summary": "{results}/attacks/{exp}.json",
    "gradients": "{results}/backdoors/{name}/gradients.h5",
    "detection": "{results}/backdoors/{name}/detection.json",
    "local": "{results}/local/{model}.h5",
    "scan": "{results}/scans/{scan}.json",
    "scan_arrays": "{results}/scans/{scan}.h5",
    "units": "{results}/units/{unit}.h5",
    "microstim": "{results}/microstim/{stim}.h5",
    "imagenet_eval": "{results}/imagenet/{exp}.json",
    "table": "{results}/tables/{table}.{ext}",
    "figure": "{results}/figures/{figure}.{ext}",
    "log": "{results}/logs/{job}.log",
}


class _Wildcards(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


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

    def path(self, artifact: str, **wildcards: Any) -> str:
        """The path of ``artifact`` (a key of :data:`ARTIFACTS`) with ``wildcards`` filled in;
        those not given stay ``{wildcard}``, as the rules' patterns need them."""
        return ARTIFACTS[artifact].format_map(_Wildcards(data=self.data, results=self.results, **wildcards))

    def dataset_file(self, dataset: str) -> str:
        return self.path("dataset", dataset=dataset)

    def model_file(self, model: str, ext: str = "pt") -> str:
        return self.path("model" if ext == "pt" else "metrics", model=model)

    def maps_file(self, name: str) -> str:
        return self.path("maps", exp=name)

    def evaluation_file(self, name: str) -> str:
        return self.path("evaluation", exp=name)

    def generator_file(self, dataset: str, kind: str) -> str:
        return self.path("generator", dataset=dataset, kind=kind)

    def baselines_file(self, dataset: str) -> str:
        return self.path("baselines", dataset=dataset)

    def baselines_evaluation_file(self, dataset: str) -> str:
        return self.path("baselines_evaluation", dataset=dataset)

    def comparison_file(self, name: str) -> str:
        return self.path("comparison", name=name)

    def attack_file(self, name: str, ext: str = "json") -> str:
        return self.path("attack" if ext == "h5" else "attack_summary", exp=name)

    def detection_file(self, name: str) -> str:
        return self.path("detection", name=name)

    def units_file(self, name: str) -> str:
        return self.path("units", unit=name)

    def microstim_file(self, name: str) -> str:
        return self.path("microstim", stim=name)

    def table(self, name: str, ext: str = "md") -> str:
        return self.path("table", table=name, ext=ext)

    def log(self, job: str) -> str:
        """The log of one job, e.g. ``maps/{exp}``."""
        return self.path("log", job=job)

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
        return self.path("nulls", null=self.null_id(name))

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
        """The per-part files (``responses`` or ``stats_part``) of experiment ``name``."""
        return [self.path(artifact, exp=name, part=p) for p in range(self.experiment(name)["jobs"])]

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

    def logreg_of(self, dataset: str) -> dict[str, str]:
        """The dataset's logistic-regression model, if the config trains one."""
        if "logreg" in self.config["models"].get(dataset, {}):
            return {"logreg": self.model_file(f"{dataset}/logreg")}
        return {}

    def unit_inputs(self, name: str) -> dict[str, str]:
        spec = self._entry("units", name)
        dataset = split_model(spec["model"])[0]
        return {
            "model": self.model_file(spec["model"]),
            "dataset": self.dataset_file(dataset),
            **self.generator(spec["noise"], dataset),
        }

    def microstim_inputs(self, name: str) -> dict[str, str]:
        spec = self._entry("microstim", name)
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

    # ------------------------------------------------------------------ figures

    def figure_selection(self, fig: str) -> Any:
        """What figure ``fig`` (a key of :data:`revcor.pipeline.registry.FIGURES`) is drawn
        from: its entries for a figure per entry, else ``{role: experiment}`` (empty when this
        config cannot make it)."""
        try:
            figure = FIGURES[fig]
        except KeyError:
            raise ValueError(f"unknown figure {fig!r}; known: {', '.join(FIGURES)}") from None
        found = figure.select(self)
        return list(found) if figure.each else {role: name for role, name in found.items() if name}

    def figure_inputs(self, fig: str, entry: str | None = None) -> dict[str, Any]:
        """The artifacts figure ``fig`` (of ``entry``, for a figure per entry) is drawn from:
        the keyword arguments of ``revcor.report.figures.{fig}``."""
        figure = FIGURES[fig]
        if figure.each:
            return figure.inputs(self, entry)
        found = self.figure_selection(fig)
        if not found:
            raise ConfigError(f"figure {fig!r} ({figure.shows}) needs experiments that this config does not have")
        return figure.inputs(self, found)

    def figure_stem(self, fig: str, entry: str | None = None) -> str:
        """``results/figures/{fig}`` or ``.../{fig}/{entry}``, without the extension."""
        name = f"{fig}/{entry}" if FIGURES[fig].each else fig
        return self.path("figure", figure=name, ext="png").removesuffix(".png")

    def figure_stems(self) -> list[str]:
        """Every figure of this config (stems; each is drawn as .png and .pdf)."""
        stems = []
        for fig, figure in FIGURES.items():
            found = self.figure_selection(fig)
            stems += [self.figure_stem(fig, entry) for entry in (found if figure.each else [None] if found else [])]
        return stems

    def figure_pattern(self, fig: str) -> str:
        """A wildcard constraint matching exactly the entries of per-entry figure ``fig``."""
        return "|".join(map(re.escape, self.figure_selection(fig))) or "(?!)"

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
            "baselines": self.baselines_file(dataset),
        }

    def seed_spread(self) -> dict[str, dict[str, dict[int, str]]]:
        return seed_spread(self.config)

    def seed_spread_inputs(self) -> dict[str, list[str]]:
        """The eval, attack and microstimulation files of every seed of the spread."""
        spread = self.seed_spread()
        names = {section: [c for copies in spread[section].values() for c in copies.values()] for section in spread}
        return {
            "eval": [self.evaluation_file(name) for name in names["experiments"]],
            "attack": [self.attack_file(name) for name in names["attacks"]],
            "microstim": [self.microstim_file(name) for name in names["microstim"]],
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
        return self.path("local", model=model)

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

    def backdoor_figure_inputs(self, name: str) -> dict[str, str]:
        models, maps = self.detection_models(name), self.detection_maps(name)
        return {
            "clean_maps": maps["clean"][0],
            "poisoned_maps": maps["poisoned"][0],
            "metrics": self.model_file(models["poisoned"][0], "json"),
            "clean_metrics": self.model_file(models["clean"][0], "json"),
            "gradients": self.path("gradients", name=name),
            "detection": self.detection_file(name),
        }

    def scan_inputs(self, name: str) -> dict[str, Any]:
        """What scan ``name`` reads: the maps, local noise and files of its model (first) and
        references, and the model's dataset."""
        models = scan_models(self.config, name)
        dataset = split_model(models["model"])[0]
        return {"dataset": self.dataset_file(dataset), **self._probed([models["model"], *models["references"]])}

    def scan_file(self, name: str, ext: str = "json") -> str:
        """The scan's result (json), or the arrays its figure draws (h5)."""
        return self.path("scan" if ext == "json" else "scan_arrays", scan=name)

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
        for name, spec in self.config["units"].items():
            if spec["model"] == model:
                named = [*spec["layers"], *spec["whiten"], *(u["layer"] for u in spec["stc"]), *spec["activations"]]
                named += [x for x in spec["injection"]["layers"] if x != "input"]
                out[f"units.{name}"] = list(dict.fromkeys(named))
        for name, spec in self.config["microstim"].items():
            if spec["model"] == model:
                out[f"microstim.{name}"] = list(spec["layers"])
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

    def targets(self) -> list[str]:
        """Every artifact of the config: what ``rule all`` asks for."""
        cfg = self.config
        out = [self.dataset_file(d) for d in cfg["datasets"]] + [self.table("provenance", "csv")]
        out += [self.model_file(f"{d}/{m}", "json") for d, models in cfg["models"].items() for m in models]
        out += [self.maps_file(name) for name in cfg["experiments"]]
        plain = self.template_experiments()
        out += [self.evaluation_file(name) for name in plain]
        out += [self.table("template_accuracy")] if plain else []
        out += [self.table("noise_comparison")] if self.noise_comparison_experiments() else []
        out += [self.table("attack")] if self.attack_experiments() else []
        out += [self.table("backdoor_detection")] if cfg["backdoors"] else []
        out += [self.scan_file(name) for name in cfg["scans"]]
        out += [self.table(f"microstim/{name}") for name, spec in cfg["microstim"].items() if spec["summary"]]
        out += [self.table("imagenet")] if self.imagenet_experiments() else []
        out += [self.table("seed_spread")] if cfg["seeds"] else []
        return out + [f"{stem}.{ext}" for stem in self.figure_stems() for ext in ("png", "pdf")]
