# Noise experiments: model responses per part (scatter), statistics per part, merged
# statistics (gather), classification images, and their template-classifier accuracy.


rule responses:
    input:
        unpack(lambda w: PLAN.experiment_inputs(w.exp)),
    output:
        f"{RESULTS}/responses/{{exp}}/part{{part}}.h5",
    log:
        f"{RESULTS}/logs/responses/{{exp}}/part{{part}}.log",
    threads: config["threads"]
    resources:
        **res("responses", model=True),
    params:
        code=script_version("responses"),
        spec=lambda w: PLAN.experiment(w.exp),
        engine=config["engine"],
        device=config["device"],
        precision=config["precision"],
    script:
        "../../scripts/responses.py"


rule stats_part:
    input:
        unpack(lambda w: PLAN.stats_part_inputs(w.exp, int(w.part))),
    output:
        f"{RESULTS}/stats/{{exp}}/part{{part}}.h5",
    log:
        f"{RESULTS}/logs/stats/{{exp}}/part{{part}}.log",
    threads: config["threads"]
    resources:
        **res("stats_part", model=True),
    params:
        code=script_version("stats_part"),
        spec=lambda w: PLAN.experiment(w.exp),
        engine=config["engine"],
        device=config["device"],
    script:
        "../../scripts/stats_part.py"


checkpoint converged:
    input:
        lambda w: [f"{RESULTS}/stats/{w.exp}/part{i}.h5" for i in range(int(w.round) + 1)],
    output:
        f"{RESULTS}/auto/{{exp}}/round{{round}}.json",
    log:
        f"{RESULTS}/logs/auto/{{exp}}/round{{round}}.log",
    wildcard_constraints:
        round=r"[0-9]+",
    localrule: True
    resources:
        **res("converged"),
    params:
        spec=lambda w: PLAN.experiment(w.exp),
        code=script_version("converged"),
    script:
        "../../scripts/converged.py"


rule stats:
    input:
        lambda w: experiment_parts(w.exp, "stats"),
    output:
        f"{RESULTS}/stats/{{exp}}.h5",
    log:
        f"{RESULTS}/logs/stats/{{exp}}.log",
    localrule: True
    resources:
        **res("stats"),
    params:
        auto=lambda w: PLAN.experiment(w.exp)["n"] == "auto",
        code=script_version("stats"),
    script:
        "../../scripts/stats.py"


rule null:
    input:
        unpack(lambda w: PLAN.null_inputs(w.null)),
    output:
        f"{RESULTS}/nulls/{{null}}.h5",
    log:
        f"{RESULTS}/logs/nulls/{{null}}.log",
    wildcard_constraints:
        null=PLAN.null_pattern(),
    threads: config["threads"]
    resources:
        **res("null"),
    params:
        code=script_version("null"),
        noise=lambda w: PLAN.experiment(PLAN.nulls()[w.null])["noise"],
        input_size=lambda w: PLAN.input_size(PLAN.nulls()[w.null]),
        statistics=config["statistics"],
        storage=config["engine"]["storage"],
        device=config["device"],
    script:
        "../../scripts/null.py"


rule maps:
    input:
        unpack(
            lambda w: {
                "stats": f"{RESULTS}/stats/{w.exp}.h5",
                "model": PLAN.experiment_inputs(w.exp)["model"],
                "null": PLAN.null_file(w.exp),
            }
        ),
    output:
        f"{RESULTS}/maps/{{exp}}.h5",
    log:
        f"{RESULTS}/logs/maps/{{exp}}.log",
    resources:
        **res("maps"),
    params:
        code=script_version("maps"),
        device=config["device"],
        statistics=config["statistics"],
        noise=lambda w: PLAN.experiment(w.exp)["noise"]["kind"],
    script:
        "../../scripts/maps.py"


rule compare:
    input:
        unpack(lambda w: PLAN.comparison_inputs(w.name)),
    output:
        f"{RESULTS}/comparisons/{{name}}.h5",
    log:
        f"{RESULTS}/logs/comparisons/{{name}}.log",
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    localrule: True
    resources:
        **res("compare"),
    params:
        statistics=config["statistics"],
        code=script_version("compare"),
    script:
        "../../scripts/compare.py"


rule template_eval:
    input:
        maps=f"{RESULTS}/maps/{{exp}}.h5",
        dataset=lambda w: PLAN.dataset_file(PLAN.dataset_of(w.exp)),
    output:
        f"{RESULTS}/eval/{{exp}}.json",
    log:
        f"{RESULTS}/logs/eval/{{exp}}.log",
    resources:
        **res("template_eval"),
    params:
        code=script_version("template_eval"),
    script:
        "../../scripts/template_eval.py"


rule baselines:
    input:
        unpack(lambda w: {"dataset": PLAN.dataset_file(w.dataset), **PLAN.logreg_of(w.dataset)}),
    output:
        json=f"{RESULTS}/eval/{{dataset}}/baselines.json",
        h5=f"{RESULTS}/baselines/{{dataset}}.h5",
    log:
        f"{RESULTS}/logs/eval/{{dataset}}/baselines.log",
    resources:
        **res("baselines"),
    params:
        code=script_version("baselines"),
    script:
        "../../scripts/baselines.py"


rule template_table:
    input:
        evals=[PLAN.eval_file(name) for name in PLAN.template_experiments()],
        baselines=sorted(
            {f"{RESULTS}/eval/{PLAN.dataset_of(name)}/baselines.json" for name in PLAN.template_experiments()}
        ),
    output:
        md=f"{RESULTS}/tables/template_accuracy.md",
        csv=report(
            f"{RESULTS}/tables/template_accuracy.csv",
            category="Tables",
            caption="../report/template_accuracy.rst",
        ),
    log:
        f"{RESULTS}/logs/tables/template_accuracy.log",
    localrule: True
    resources:
        **res("template_table"),
    params:
        models={
            name: (PLAN.experiment(name)["model"], PLAN.experiment(name)["noise"]["kind"])
            for name in PLAN.template_experiments()
        },
        code=script_version("template_table"),
    script:
        "../../scripts/template_table.py"
