# Training: results/models/{dataset}/{model}.pt and its metrics JSON.


rule train:
    input:
        f"{DATA}/{{dataset}}.h5",
    output:
        model=f"{RESULTS}/models/{{dataset}}/{{model}}.pt",
        metrics=f"{RESULTS}/models/{{dataset}}/{{model}}.json",
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{model}}.log",
    threads: config["threads"]
    resources:
        **res("train", model=True),
    params:
        code=script_version("train"),
        settings=lambda w: PLAN.model_settings(f"{w.dataset}/{w.model}"),
        device=config["device"],
    script:
        "../../scripts/train.py"
