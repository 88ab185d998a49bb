# Bias maps as a hard-label attack (paper Fig. 6, Table 2) and backdoor detection with
# classification images (paper Fig. 7, 18, and a detection score evaluated over seeds).


rule attack:
    input:
        unpack(lambda w: PLAN.attack_inputs(w.exp)),
    output:
        h5=f"{RESULTS}/attacks/{{exp}}.h5",
        json=f"{RESULTS}/attacks/{{exp}}.json",
    log:
        f"{RESULTS}/logs/attacks/{{exp}}.log",
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


rule figure_fig6:
    input:
        attack=f"{RESULTS}/attacks/{{exp}}.h5",
    output:
        **figure_output(f"{RESULTS}/figures/fig6/{{exp}}", "../report/fig6.rst", "Attacks", experiment="{exp}"),
    log:
        f"{RESULTS}/logs/figures/fig6/{{exp}}.log",
    localrule: True
    resources:
        **res("figure_fig6"),
    params:
        fig="fig6",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule attack_table:
    input:
        [f"{RESULTS}/attacks/{name}.json" for name in PLAN.attack_experiments()],
    output:
        md=f"{RESULTS}/tables/attack.md",
        csv=report(f"{RESULTS}/tables/attack.csv", category="Tables", caption="../report/attack.rst"),
    log:
        f"{RESULTS}/logs/tables/attack.log",
    localrule: True
    resources:
        **res("attack_table"),
    params:
        code=script_version("attack_table"),
    script:
        "../../scripts/attack_table.py"


rule backdoor_dataset:
    input:
        f"{DATA}/{{base}}.h5",
    output:
        f"{DATA}/{{base}}-bd-{{name}}.h5",
    log:
        f"{RESULTS}/logs/data/{{base}}-bd-{{name}}.log",
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
        f"{RESULTS}/backdoors/{{name}}/gradients.h5",
    log:
        f"{RESULTS}/logs/backdoors/{{name}}/gradients.log",
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
        f"{RESULTS}/local/{{dataset}}/{{model}}.h5",
    log:
        f"{RESULTS}/logs/local/{{dataset}}/{{model}}.log",
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
        f"{RESULTS}/backdoors/{{name}}/detection.json",
    log:
        f"{RESULTS}/logs/backdoors/{{name}}/detection.log",
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
        [f"{RESULTS}/backdoors/{name}/detection.json" for name in config["backdoors"]],
    output:
        md=f"{RESULTS}/tables/backdoor_detection.md",
        csv=report(
            f"{RESULTS}/tables/backdoor_detection.csv",
            category="Tables",
            caption="../report/backdoor_detection.rst",
        ),
    log:
        f"{RESULTS}/logs/tables/backdoor_detection.log",
    localrule: True
    resources:
        **res("detection_table"),
    params:
        code=script_version("detection_table"),
    script:
        "../../scripts/detection_table.py"


rule figure_fig7:
    input:
        unpack(lambda w: PLAN.fig7_inputs(w.name)),
    output:
        **figure_output(f"{RESULTS}/figures/fig7/{{name}}", "../report/fig7.rst", "Backdoors", backdoor="{name}"),
        gradients_png=report(
            f"{RESULTS}/figures/fig7/{{name}}-gradients.png",
            caption="../report/fig7d.rst",
            category="Figures",
            subcategory="Backdoors",
            labels={"backdoor": "{name}", "format": "PNG, gradients"},
        ),
        gradients_pdf=f"{RESULTS}/figures/fig7/{{name}}-gradients.pdf",
    log:
        f"{RESULTS}/logs/figures/fig7/{{name}}.log",
    localrule: True
    resources:
        **res("figure_fig7"),
    params:
        fig="fig7",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule figure_backdoor_detection:
    input:
        detections=[f"{RESULTS}/backdoors/{name}/detection.json" for name in config["backdoors"]],
    output:
        **figure_output(
            f"{RESULTS}/figures/backdoor_detection",
            "../report/backdoor_detection.rst",
            "Backdoors",
            figure="detection",
        ),
    log:
        f"{RESULTS}/logs/figures/backdoor_detection.log",
    localrule: True
    resources:
        **res("figure_backdoor_detection"),
    params:
        fig="backdoor_detection",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule scan:
    input:
        unpack(lambda w: PLAN.scan_inputs(w.scan)),
    output:
        json=f"{RESULTS}/scans/{{scan}}.json",
        arrays=f"{RESULTS}/scans/{{scan}}.h5",
    log:
        f"{RESULTS}/logs/scans/{{scan}}.log",
    threads: config["threads"]
    resources:
        **res("scan", model=True),
    params:
        spec=lambda w: {**config["scans"][w.scan], "name": w.scan, **scan_models(config, w.scan)},
        device=config["device"],
        code=script_version("scan"),
    script:
        "../../scripts/scan.py"


rule figure_scan:
    input:
        scan=lambda w: PLAN.scan_file(w.scan),
        arrays=lambda w: PLAN.scan_file(w.scan, "h5"),
    output:
        **figure_output(f"{RESULTS}/figures/scan/{{scan}}", "../report/scan.rst", "Backdoors", scan="{scan}"),
    log:
        f"{RESULTS}/logs/figures/scan/{{scan}}.log",
    localrule: True
    resources:
        **res("figure_scan"),
    params:
        fig="scan",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"
