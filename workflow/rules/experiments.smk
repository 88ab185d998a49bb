# Noise experiments: model responses and their statistics per part (scatter), merged
# statistics (gather), classification images, and their template-classifier accuracy.


rule responses:
    input:
        unpack(lambda w: PLAN.experiment_inputs(w.exp)),
    output:
        responses=PLAN.path("responses"),
        stats=PLAN.path("stats_part"),
    log:
        PLAN.log("responses/{exp}/part{part}"),
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


checkpoint converged:
    input:
        lambda w: [PLAN.path("stats_part", exp=w.exp, part=i) for i in range(int(w.round) + 1)],
    output:
        PLAN.path("converged"),
    log:
        PLAN.log("auto/{exp}/round{round}"),
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
        lambda w: experiment_parts(w.exp, "stats_part"),
    output:
        PLAN.path("stats"),
    log:
        PLAN.log("stats/{exp}"),
    localrule: True
    resources:
        **res("stats"),
    params:
        auto=lambda w: PLAN.experiment(w.exp)["n"] == "auto",
        code=script_version("stats"),
    script:
        "../../scripts/stats.py"


rule nulls:
    input:
        unpack(lambda w: PLAN.null_inputs(w.null)),
    output:
        PLAN.path("nulls"),
    log:
        PLAN.log("nulls/{null}"),
    wildcard_constraints:
        null=PLAN.null_pattern(),
    threads: config["threads"]
    resources:
        **res("nulls"),
    params:
        code=script_version("nulls"),
        noise=lambda w: PLAN.experiment(PLAN.nulls()[w.null])["noise"],
        input_size=lambda w: PLAN.input_size(PLAN.nulls()[w.null]),
        statistics=config["statistics"],
        storage=config["engine"]["storage"],
        device=config["device"],
    script:
        "../../scripts/nulls.py"


rule maps:
    input:
        unpack(
            lambda w: {
                "stats": PLAN.path("stats", exp=w.exp),
                "model": PLAN.experiment_inputs(w.exp)["model"],
                "null": PLAN.null_file(w.exp),
            }
        ),
    output:
        PLAN.path("maps"),
    log:
        PLAN.log("maps/{exp}"),
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
        PLAN.path("comparison"),
    log:
        PLAN.log("comparisons/{name}"),
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


rule evaluation:
    input:
        maps=PLAN.path("maps"),
        dataset=lambda w: PLAN.dataset_file(PLAN.dataset_of(w.exp)),
    output:
        PLAN.path("evaluation"),
    log:
        PLAN.log("evaluation/{exp}"),
    resources:
        **res("evaluation"),
    params:
        code=script_version("evaluation"),
    script:
        "../../scripts/evaluation.py"


rule baselines:
    input:
        unpack(lambda w: {"dataset": PLAN.dataset_file(w.dataset), **PLAN.logreg_of(w.dataset)}),
    output:
        json=PLAN.path("baselines_evaluation"),
        h5=PLAN.path("baselines"),
    log:
        PLAN.log("evaluation/{dataset}/baselines"),
    resources:
        **res("baselines"),
    params:
        code=script_version("baselines"),
    script:
        "../../scripts/baselines.py"


rule template_table:
    input:
        evals=[PLAN.evaluation_file(name) for name in PLAN.template_experiments()],
        baselines=sorted(
            {PLAN.baselines_evaluation_file(PLAN.dataset_of(name)) for name in PLAN.template_experiments()}
        ),
    output:
        **table_output("template_accuracy"),
    log:
        PLAN.log("tables/template_accuracy"),
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
