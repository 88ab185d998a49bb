# The spread over training seeds: every headline number of the models retrained with each
# of `seeds` (the copies are planned in revcor.pipeline.configure.add_seed_copies).


rule seed_spread:
    input:
        **PLAN.seed_spread_inputs(),
    output:
        **table_output("seed_spread"),
    log:
        PLAN.log("tables/seed_spread"),
    localrule: True
    resources:
        **res("seed_spread"),
    params:
        spread=PLAN.seed_spread(),
        models={
            name: (PLAN.experiment(name)["model"], PLAN.experiment(name)["noise"]["kind"])
            for name in PLAN.seed_spread()["experiments"]
        },
        code=script_version("seed_spread"),
    script:
        "../../scripts/seed_spread.py"
