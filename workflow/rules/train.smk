# Training: results/models/{dataset}/{model}.pt and its metrics JSON.


rule train:
    input:
        f"{DATA}/{{dataset}}.h5",
    output:
        model=f"{RESULTS}/models/{{dataset}}/{{model}}.pt",
        metrics=f"{RESULTS}/models/{{dataset}}/{{model}}.json",
    params:
        code=code_hash('train', 'models', 'data'),
        settings=lambda w: model_settings(config, w.dataset, w.model),
        device=config["device"],
    threads: config["threads"]
    resources:
        **res("train", model=True),
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{model}}.log",
    script:
        "../../scripts/train.py"
