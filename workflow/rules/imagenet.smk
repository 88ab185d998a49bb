# ImageNet (paper Sec. 3.1, Table 1): a local validation folder as data/imagenet.h5,
# torchvision backbones as models (pretrained weights or random ones; never trained), and
# Table 1 from the plain noise experiments of models on the imagenet dataset.


rule imagenet_dataset:
    output:
        f"{DATA}/imagenet.h5",
    log:
        f"{RESULTS}/logs/data/imagenet.log",
    threads: config["threads"]
    resources:
        **res("imagenet_dataset"),
    params:
        settings=lambda w: PLAN.dataset_settings("imagenet"),
        code=script_version("imagenet_dataset"),
    script:
        "../../scripts/imagenet_dataset.py"


# A backbone's model file is made by this rule, not by `train`.
ruleorder: backbone > train


rule backbone:
    input:
        lambda w: PLAN.dataset_file(w.backbone.partition("/")[0]),
    output:
        model=f"{RESULTS}/models/{{backbone}}.pt",
        metrics=f"{RESULTS}/models/{{backbone}}.json",
    log:
        f"{RESULTS}/logs/train/{{backbone}}.log",
    wildcard_constraints:
        backbone=PLAN.backbone_pattern(),
    threads: config["threads"]
    resources:
        **res("backbone", model=True),
    params:
        settings=lambda w: PLAN.model_settings(w.backbone),
        code=script_version("backbone"),
        device=config["device"],
    script:
        "../../scripts/backbone.py"


rule imagenet_eval:
    input:
        maps=f"{RESULTS}/maps/{{exp}}.h5",
        dataset=lambda w: PLAN.dataset_file(PLAN.dataset_of(w.exp)),
        responses=lambda w: PLAN.parts(w.exp, "responses"),
    output:
        f"{RESULTS}/imagenet/{{exp}}.json",
    log:
        f"{RESULTS}/logs/imagenet/{{exp}}.log",
    localrule: True
    resources:
        **res("imagenet_eval"),
    params:
        code=script_version("imagenet_eval"),
    script:
        "../../scripts/imagenet_eval.py"


rule imagenet_table:
    input:
        [f"{RESULTS}/imagenet/{name}.json" for name in PLAN.imagenet_experiments()],
    output:
        md=f"{RESULTS}/tables/imagenet.md",
        csv=report(f"{RESULTS}/tables/imagenet.csv", category="Tables", caption="../report/imagenet.rst"),
    log:
        f"{RESULTS}/logs/tables/imagenet.log",
    localrule: True
    resources:
        **res("imagenet_table"),
    params:
        backbones=PLAN.imagenet_backbones(),
        code=script_version("imagenet_table"),
    script:
        "../../scripts/imagenet_table.py"
