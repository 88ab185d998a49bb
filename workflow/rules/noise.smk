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


def experiment_inputs(name):
    """The model, and the dataset when signal images are drawn from it."""
    inputs = {"model": experiment_model(name)}
    if experiment(name)["signal"]:
        inputs["dataset"] = experiment_dataset(name)
    return inputs


rule noise:
    input:
        unpack(lambda w: experiment_inputs(w.exp)),
    output:
        f"{RESULTS}/noise/{{exp}}/part{{part}}.h5",
    params:
        code=code_hash('engine', 'noise', 'models', 'responses'),
        spec=lambda w: experiment(w.exp),
        engine=config["engine"],
        device=config["device"],
        precision=config["precision"],
    threads: config["threads"]
    log:
        f"{RESULTS}/logs/noise/{{exp}}/part{{part}}.log",
    script:
        "../../scripts/noise.py"


rule stats_part:
    input:
        unpack(
            lambda w: {
                "responses": f"{RESULTS}/noise/{w.exp}/part{w.part}.h5",
                **({"dataset": experiment_dataset(w.exp)} if experiment(w.exp)["signal"] else {}),
            }
        ),
    output:
        f"{RESULTS}/stats/{{exp}}/part{{part}}.h5",
    params:
        code=code_hash('reduce', 'responses', 'noise', 'engine'),
        spec=lambda w: experiment(w.exp),
        engine=config["engine"],
        device=config["device"],
    threads: config["threads"]
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
    log:
        f"{RESULTS}/logs/eval/{{exp}}.log",
    script:
        "../../scripts/template_eval.py"
