# Microstimulation (paper Sec. 3.4, Eq. 6): psychometric curves of models whose layer biases
# are raised or lowered, fitted psychometric functions, and a table of threshold shifts.


rule microstim:
    input:
        unpack(lambda w: PLAN.microstim_inputs(w.stim)),
    output:
        PLAN.path("microstim"),
    log:
        PLAN.log("microstim/{stim}"),
    threads: config["threads"]
    resources:
        **res("microstim", model=True),
    params:
        spec=lambda w: config["microstim"][w.stim],
        engine=config["engine"],
        device=config["device"],
        code=script_version("microstim"),
    script:
        "../../scripts/microstim.py"


rule microstim_table:
    input:
        PLAN.path("microstim"),
    output:
        **table_output("microstim/{stim}"),
    log:
        PLAN.log("tables/microstim/{stim}"),
    localrule: True
    resources:
        **res("microstim_table"),
    params:
        code=script_version("microstim_table"),
    script:
        "../../scripts/microstim_table.py"
