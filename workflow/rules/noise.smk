# Noise experiments: responses per part (scatter), statistics per part, merged statistics
# (gather), classification images, and their template-classifier accuracy.


def experiment(name):
    try:
        return config["experiments"][name]
    except KeyError:
        raise WorkflowError(f"no experiment {name!r} in config") from None


def experiment_model(name):
    dataset, model = experiment(name)["model"].split("/")
    return f"{RESULTS}/models/{dataset}/{model}.pt"


def experiment_dataset(name):
    return f"{DATA}/{experiment(name)['model'].split('/')[0]}.h5"


def experiment_generator(name):
    """{"generator": path} of a gabor / ae / vae experiment; empty for white noise."""
    spec = experiment(name)["noise"]
    if spec["kind"] == "white":
        return {}
    dataset = spec["dataset"] or experiment(name)["model"].split("/")[0]
    return {"generator": f"{RESULTS}/generators/{dataset}/{spec['kind']}.h5"}


def experiment_inputs(name):
    """The model, its generator for structured noise, and the dataset when signal images
    are drawn from it."""
    inputs = {"model": experiment_model(name), **experiment_generator(name)}
    if experiment(name)["signal"]:
        inputs["dataset"] = experiment_dataset(name)
    return inputs


rule noise:
    input:
        unpack(lambda w: experiment_inputs(w.exp)),
    output:
        f"{RESULTS}/noise/{{exp}}/part{{part}}.h5",
    params:
        code=code_hash('engine', 'noise', 'models', 'responses', 'gabor', 'autoencoder'),
        spec=lambda w: experiment(w.exp),
        engine=config["engine"],
        device=config["device"],
        precision=config["precision"],
    threads: config["threads"]
    resources:
        **res("noise", model=True),
    log:
        f"{RESULTS}/logs/noise/{{exp}}/part{{part}}.log",
    script:
        "../../scripts/noise.py"


rule stats_part:
    input:
        unpack(
            lambda w: {
                "responses": f"{RESULTS}/noise/{w.exp}/part{w.part}.h5",
                **experiment_generator(w.exp),
                **({"dataset": experiment_dataset(w.exp)} if experiment(w.exp)["signal"] else {}),
            }
        ),
    output:
        f"{RESULTS}/stats/{{exp}}/part{{part}}.h5",
    params:
        code=code_hash('reduce', 'responses', 'noise', 'engine', 'gabor', 'autoencoder'),
        spec=lambda w: experiment(w.exp),
        engine=config["engine"],
        device=config["device"],
    threads: config["threads"]
    resources:
        **res("stats_part", model=True),
    log:
        f"{RESULTS}/logs/stats/{{exp}}/part{{part}}.log",
    script:
        "../../scripts/stats_part.py"


rule stats:
    input:
        lambda w: expand(
            f"{RESULTS}/stats/{w.exp}/part{{part}}.h5", part=range(experiment(w.exp)["jobs"])
        ),
    output:
        f"{RESULTS}/stats/{{exp}}.h5",
    params:
        code=code_hash('reduce'),
    resources:
        **res("stats"),
    log:
        f"{RESULTS}/logs/stats/{{exp}}.log",
    script:
        "../../scripts/merge_stats.py"


rule maps:
    input:
        stats=f"{RESULTS}/stats/{{exp}}.h5",
        model=lambda w: experiment_model(w.exp),
    output:
        f"{RESULTS}/maps/{{exp}}.h5",
    params:
        code=code_hash('maps', 'evaluate'),
        device=config["device"],
    resources:
        **res("maps"),
    log:
        f"{RESULTS}/logs/maps/{{exp}}.log",
    script:
        "../../scripts/maps.py"


rule template_eval:
    input:
        maps=f"{RESULTS}/maps/{{exp}}.h5",
        dataset=lambda w: experiment_dataset(w.exp),
    output:
        f"{RESULTS}/eval/{{exp}}.json",
    params:
        code=code_hash('evaluate'),
    resources:
        **res("template_eval"),
    log:
        f"{RESULTS}/logs/eval/{{exp}}.log",
    script:
        "../../scripts/template_eval.py"


def logreg_of(dataset):
    """The dataset's logistic-regression model, if the config trains one."""
    if "logreg" in config["models"].get(dataset, {}):
        return {"logreg": f"{RESULTS}/models/{dataset}/logreg.pt"}
    return {}


def template_experiments():
    """Plain (not signal+noise) summary experiments, whose maps are template classifiers;
    those on imagenet make Table 1 instead (workflow/rules/imagenet.smk)."""
    return {name: spec for name, spec in config["experiments"].items()
            if not spec["signal"] and spec["summary"] and spec["model"].split("/")[0] != "imagenet"}


rule baselines:
    input:
        unpack(lambda w: {"dataset": f"{DATA}/{w.dataset}.h5", **logreg_of(w.dataset)}),
    output:
        json=f"{RESULTS}/eval/{{dataset}}/baselines.json",
        h5=f"{RESULTS}/baselines/{{dataset}}.h5",
    params:
        code=code_hash("evaluate"),
    resources:
        **res("baselines"),
    log:
        f"{RESULTS}/logs/eval/{{dataset}}/baselines.log",
    script:
        "../../scripts/baselines.py"


rule template_table:
    input:
        evals=[f"{RESULTS}/eval/{name}.json" for name in template_experiments()],
        baselines=sorted(
            {f"{RESULTS}/eval/{spec['model'].split('/')[0]}/baselines.json"
             for spec in template_experiments().values()}
        ),
    output:
        md=f"{RESULTS}/tables/template_accuracy.md",
        csv=report(f"{RESULTS}/tables/template_accuracy.csv", category="Tables",
                   caption="../report/template_accuracy.rst"),
    params:
        models={name: (spec["model"], spec["noise"]["kind"]) for name, spec in template_experiments().items()},
        code=code_hash("tables"),
    resources:
        **res("template_table"),
    log:
        f"{RESULTS}/logs/tables/template_accuracy.log",
    script:
        "../../scripts/template_table.py"
