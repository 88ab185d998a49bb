# Models: results/models/{dataset}/{model}.pt and its metrics JSON, trained here or given by the
# user (a file, a factory with its weights, torchvision weights).


rule train:
    input:
        PLAN.path("dataset"),
    output:
        model=PLAN.path("model", model="{dataset}/{model}"),
        metrics=PLAN.path("metrics", model="{dataset}/{model}"),
    log:
        PLAN.log("train/{dataset}/{model}"),
    threads: config["threads"]
    resources:
        **res("train", model=True),
    params:
        code=script_version("train"),
        settings=lambda w: PLAN.model_settings(f"{w.dataset}/{w.model}"),
        device=config["device"],
    script:
        "../../scripts/train.py"


# A given model's file is made by this rule, not by `train`.
ruleorder: given_model > train


rule given_model:
    input:
        unpack(lambda w: PLAN.given_inputs(w.given)),
    output:
        model=PLAN.path("model", model="{given}"),
        metrics=PLAN.path("metrics", model="{given}"),
    log:
        PLAN.log("train/{given}"),
    wildcard_constraints:
        given=PLAN.given_pattern(),
    threads: config["threads"]
    resources:
        **res("given_model", model=True),
    params:
        code=script_version("given_model"),
        settings=lambda w: PLAN.model_settings(w.given),
        layers=lambda w: PLAN.layers_of(w.given),
        device=config["device"],
    script:
        "../../scripts/given_model.py"
