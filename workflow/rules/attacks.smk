# Bias maps as a hard-label attack (paper Fig. 6, Table 2) and backdoor detection with
# classification images (paper Fig. 7, 18, and a detection score evaluated over seeds).


rule attack:
    input:
        unpack(lambda w: PLAN.attack_inputs(w.exp)),
    output:
        h5=PLAN.path("attack"),
        json=PLAN.path("attack_summary"),
    log:
        PLAN.log("attacks/{exp}"),
    threads: config["threads"]
    resources:
        **res("attack", model=True),
    params:
        settings=config["attacks"],
        device=config["device"],
        compile=config["engine"]["compile"],
        code=script_version("attack"),
    script:
        "../../scripts/attack.py"


rule attack_table:
    input:
        [PLAN.attack_file(name) for name in PLAN.attack_experiments()],
    output:
        **table_output("attack"),
    log:
        PLAN.log("tables/attack"),
    localrule: True
    resources:
        **res("attack_table"),
    params:
        code=script_version("attack_table"),
    script:
        "../../scripts/attack_table.py"


rule backdoor_dataset:
    input:
        PLAN.path("dataset", dataset="{base}"),
    output:
        PLAN.path("dataset", dataset="{base}-bd-{name}"),
    log:
        PLAN.log("data/{base}-bd-{name}"),
    resources:
        **res("backdoor_dataset"),
    params:
        spec=lambda w: PLAN.backdoor(w.name),
        code=script_version("backdoor_dataset"),
    script:
        "../../scripts/backdoor_dataset.py"


rule gradients:
    input:
        clean=lambda w: PLAN.model_file(PLAN.detection_models(w.name)["clean"][0]),
        poisoned=lambda w: PLAN.model_file(PLAN.detection_models(w.name)["poisoned"][0]),
        dataset=lambda w: PLAN.dataset_file(PLAN.backdoor(w.name)["dataset"]),
    output:
        PLAN.path("gradients"),
    log:
        PLAN.log("backdoors/{name}/gradients"),
    threads: config["threads"]
    resources:
        **res("gradients", model=True),
    params:
        spec=lambda w: PLAN.backdoor(w.name),
        device=config["device"],
        code=script_version("gradients"),
    script:
        "../../scripts/gradients.py"


rule local_noise:
    input:
        model=lambda w: PLAN.model_file(f"{w.dataset}/{w.model}"),
        dataset=lambda w: PLAN.dataset_file(w.dataset),
    output:
        PLAN.path("local", model="{dataset}/{model}"),
    log:
        PLAN.log("local/{dataset}/{model}"),
    threads: config["threads"]
    resources:
        **res("local_noise", model=True),
    params:
        spec=lambda w: PLAN.local_noise(f"{w.dataset}/{w.model}"),
        device=config["device"],
        code=script_version("local_noise"),
    script:
        "../../scripts/local_noise.py"


rule detection:
    input:
        unpack(lambda w: PLAN.detection_inputs(w.name)),
    output:
        PLAN.path("detection"),
    log:
        PLAN.log("backdoors/{name}/detection"),
    threads: config["threads"]
    resources:
        **res("detection", model=True),
    params:
        spec=lambda w: {**PLAN.backdoor(w.name), "name": w.name},
        models=lambda w: PLAN.detection_models(w.name),
        settings=config["detection"],
        device=config["device"],
        code=script_version("detection"),
    script:
        "../../scripts/detection.py"


rule detection_table:
    input:
        [PLAN.detection_file(name) for name in config["backdoors"]],
    output:
        **table_output("backdoor_detection"),
    log:
        PLAN.log("tables/backdoor_detection"),
    localrule: True
    resources:
        **res("detection_table"),
    params:
        code=script_version("detection_table"),
    script:
        "../../scripts/detection_table.py"


rule scan:
    input:
        unpack(lambda w: PLAN.scan_inputs(w.scan)),
    output:
        json=PLAN.path("scan"),
        arrays=PLAN.path("scan_arrays"),
    log:
        PLAN.log("scans/{scan}"),
    threads: config["threads"]
    resources:
        **res("scan", model=True),
    params:
        spec=lambda w: {**config["scans"][w.scan], "name": w.scan, **scan_models(config, w.scan)},
        device=config["device"],
        code=script_version("scan"),
    script:
        "../../scripts/scan.py"
