# Bias maps as a hard-label attack (paper Fig. 6, Table 2) and backdoor detection with
# classification images (paper Fig. 7, 18, and a detection score evaluated over seeds).


def attack_experiments():
    names = config["attacks"]["experiments"]
    for name in names:
        if name not in template_experiments():
            raise WorkflowError(f"attacks.experiments: {name!r} is not a plain noise experiment "
                                f"(plain: {', '.join(template_experiments()) or 'none'})")
    return names


def attack_targets():
    names = attack_experiments()
    targets = [f"{RESULTS}/figures/fig6/{name}.{ext}" for name in names for ext in ("png", "pdf")]
    return targets + ([f"{RESULTS}/tables/attack.md"] if names else [])


rule attack:
    input:
        maps=f"{RESULTS}/maps/{{exp}}.h5",
        model=lambda w: experiment_model(w.exp),
        dataset=lambda w: experiment_dataset(w.exp),
        baselines=lambda w: f"{RESULTS}/baselines/{experiment(w.exp)['model'].split('/')[0]}.h5",
    output:
        h5=f"{RESULTS}/attacks/{{exp}}.h5",
        json=f"{RESULTS}/attacks/{{exp}}.json",
    params:
        settings=config["attacks"],
        device=config["device"],
        code=code_hash("attacks", "models", "engine"),
    threads: config["threads"]
    resources:
        **res("attack", model=True),
    log:
        f"{RESULTS}/logs/attacks/{{exp}}.log",
    script:
        "../../scripts/attack.py"


rule figure_fig6:
    input:
        attack=f"{RESULTS}/attacks/{{exp}}.h5",
    output:
        png=report(f"{RESULTS}/figures/fig6/{{exp}}.png", caption="../report/fig6.rst",
                   category="Figures", subcategory="Attacks", labels={"experiment": "{exp}", "format": "PNG"}),
        pdf=report(f"{RESULTS}/figures/fig6/{{exp}}.pdf", caption="../report/fig6.rst",
                   category="Figures", subcategory="Attacks", labels={"experiment": "{exp}", "format": "PDF"}),
    params:
        fig="fig6",
        code=code_hash("plots", "figures"),
    log:
        f"{RESULTS}/logs/figures/fig6/{{exp}}.log",
    script:
        "../../scripts/figure.py"


rule attack_table:
    input:
        [f"{RESULTS}/attacks/{name}.json" for name in config["attacks"]["experiments"]],
    output:
        md=f"{RESULTS}/tables/attack.md",
        csv=report(f"{RESULTS}/tables/attack.csv", category="Tables", caption="../report/attack.rst"),
    params:
        code=code_hash("tables"),
    resources:
        **res("attack_table"),
    log:
        f"{RESULTS}/logs/tables/attack.log",
    script:
        "../../scripts/attack_table.py"


# ---------------------------------------------------------------------------- backdoors


def backdoor(name):
    try:
        return config["backdoors"][name]
    except KeyError:
        raise WorkflowError(f"no backdoor {name!r} in config") from None


def backdoor_targets():
    names = list(config["backdoors"])
    targets = [f"{RESULTS}/figures/fig7/{name}.{ext}" for name in names for ext in ("png", "pdf")]
    if names:
        targets += [f"{RESULTS}/tables/backdoor_detection.md",
                    f"{RESULTS}/figures/backdoor_detection.png"]
    return targets


def detection_maps(name):
    """{role: [maps of each model]} for backdoor `name` (roles: poisoned, clean, reference)."""
    return {role: [f"{RESULTS}/maps/{detection_experiment(m)}.h5" for m in models]
            for role, models in detection_models(config, name).items()}


def model_file(model, ext="pt"):
    return f"{RESULTS}/models/{model}.{ext}"


rule backdoor_dataset:
    input:
        f"{DATA}/{{base}}.h5",
    output:
        f"{DATA}/{{base}}-bd-{{name}}.h5",
    params:
        spec=lambda w: backdoor(w.name),
        code=code_hash("backdoor", "data", "store"),
    resources:
        **res("backdoor_dataset"),
    log:
        f"{RESULTS}/logs/data/{{base}}-bd-{{name}}.log",
    script:
        "../../scripts/backdoor_dataset.py"


rule gradients:
    input:
        clean=lambda w: model_file(detection_models(config, w.name)["clean"][0]),
        poisoned=lambda w: model_file(detection_models(config, w.name)["poisoned"][0]),
        dataset=lambda w: f"{DATA}/{backdoor(w.name)['dataset']}.h5",
    output:
        f"{RESULTS}/backdoors/{{name}}/gradients.h5",
    params:
        spec=lambda w: backdoor(w.name),
        device=config["device"],
        code=code_hash("attacks", "backdoor"),
    threads: config["threads"]
    resources:
        **res("gradients", model=True),
    log:
        f"{RESULTS}/logs/backdoors/{{name}}/gradients.log",
    script:
        "../../scripts/gradients.py"


rule detection:
    input:
        unpack(lambda w: detection_maps(w.name)),
    output:
        f"{RESULTS}/backdoors/{{name}}/detection.json",
    params:
        spec=lambda w: {**backdoor(w.name), "name": w.name},
        models=lambda w: detection_models(config, w.name),
        smooth=config["detection"]["smooth"],
        code=code_hash("backdoor", "maps"),
    resources:
        **res("detection"),
    log:
        f"{RESULTS}/logs/backdoors/{{name}}/detection.log",
    script:
        "../../scripts/detection.py"


rule detection_table:
    input:
        [f"{RESULTS}/backdoors/{name}/detection.json" for name in config["backdoors"]],
    output:
        md=f"{RESULTS}/tables/backdoor_detection.md",
        csv=report(f"{RESULTS}/tables/backdoor_detection.csv", category="Tables",
                   caption="../report/backdoor_detection.rst"),
    params:
        code=code_hash("tables"),
    resources:
        **res("detection_table"),
    log:
        f"{RESULTS}/logs/tables/backdoor_detection.log",
    script:
        "../../scripts/detection_table.py"


rule figure_fig7:
    input:
        clean_maps=lambda w: detection_maps(w.name)["clean"][0],
        poisoned_maps=lambda w: detection_maps(w.name)["poisoned"][0],
        metrics=lambda w: model_file(detection_models(config, w.name)["poisoned"][0], "json"),
        clean_metrics=lambda w: model_file(detection_models(config, w.name)["clean"][0], "json"),
        gradients=f"{RESULTS}/backdoors/{{name}}/gradients.h5",
        detection=f"{RESULTS}/backdoors/{{name}}/detection.json",
    output:
        png=report(f"{RESULTS}/figures/fig7/{{name}}.png", caption="../report/fig7.rst",
                   category="Figures", subcategory="Backdoors", labels={"backdoor": "{name}", "format": "PNG"}),
        pdf=report(f"{RESULTS}/figures/fig7/{{name}}.pdf", caption="../report/fig7.rst",
                   category="Figures", subcategory="Backdoors", labels={"backdoor": "{name}", "format": "PDF"}),
        gradients_png=report(f"{RESULTS}/figures/fig7/{{name}}-gradients.png", caption="../report/fig7d.rst",
                             category="Figures", subcategory="Backdoors",
                             labels={"backdoor": "{name}", "format": "PNG, gradients"}),
        gradients_pdf=f"{RESULTS}/figures/fig7/{{name}}-gradients.pdf",
    params:
        fig="fig7",
        code=code_hash("plots", "figures"),
    log:
        f"{RESULTS}/logs/figures/fig7/{{name}}.log",
    script:
        "../../scripts/figure.py"


rule figure_backdoor_detection:
    input:
        detections=[f"{RESULTS}/backdoors/{name}/detection.json" for name in config["backdoors"]],
    output:
        png=report(f"{RESULTS}/figures/backdoor_detection.png", caption="../report/backdoor_detection.rst",
                   category="Figures", subcategory="Backdoors", labels={"figure": "detection", "format": "PNG"}),
        pdf=report(f"{RESULTS}/figures/backdoor_detection.pdf", caption="../report/backdoor_detection.rst",
                   category="Figures", subcategory="Backdoors", labels={"figure": "detection", "format": "PDF"}),
    params:
        fig="backdoor_detection",
        code=code_hash("plots", "figures"),
    log:
        f"{RESULTS}/logs/figures/backdoor_detection.log",
    script:
        "../../scripts/figure.py"
