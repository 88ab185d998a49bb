# The spread over training seeds: every headline number of the models retrained with each
# of `seeds` (the copies are planned in revcor.pipeline.configure.add_seed_copies).


rule seed_spread:
    input:
        **PLAN.seed_spread_inputs(),
    output:
        md=f"{RESULTS}/tables/seed_spread.md",
        csv=report(f"{RESULTS}/tables/seed_spread.csv", category="Tables", caption="../report/seed_spread.rst"),
    log:
        f"{RESULTS}/logs/tables/seed_spread.log",
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
