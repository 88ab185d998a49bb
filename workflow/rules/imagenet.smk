# ImageNet (paper Sec. 3.1, Table 1): a local validation folder as data/imagenet.h5,
# torchvision backbones as models (pretrained weights or random ones; never trained), and
# Table 1 from the plain noise experiments of models on the imagenet dataset.


rule imagenet_dataset:
    output:
        PLAN.dataset_file("imagenet"),
    log:
        PLAN.log("data/imagenet"),
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
        model=PLAN.path("model", model="{backbone}"),
        metrics=PLAN.path("metrics", model="{backbone}"),
    log:
        PLAN.log("train/{backbone}"),
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
        maps=PLAN.path("maps"),
        dataset=lambda w: PLAN.dataset_file(PLAN.dataset_of(w.exp)),
        responses=lambda w: PLAN.parts(w.exp, "responses"),
    output:
        PLAN.path("imagenet_eval"),
    log:
        PLAN.log("imagenet/{exp}"),
    localrule: True
    resources:
        **res("imagenet_eval"),
    params:
        code=script_version("imagenet_eval"),
    script:
        "../../scripts/imagenet_eval.py"


rule imagenet_table:
    input:
        [PLAN.path("imagenet_eval", exp=name) for name in PLAN.imagenet_experiments()],
    output:
        **table_output("imagenet"),
    log:
        PLAN.log("tables/imagenet"),
    localrule: True
    resources:
        **res("imagenet_table"),
    params:
        backbones=PLAN.imagenet_backbones(),
        code=script_version("imagenet_table"),
    script:
        "../../scripts/imagenet_table.py"
