# Microstimulation (paper Sec. 3.4, Eq. 6): psychometric curves of models whose layer biases
# are raised or lowered, fitted psychometric functions, and a table of threshold shifts.


rule microstimulation:
    input:
        unpack(lambda w: PLAN.microstim_inputs(w.stim)),
    output:
        f"{RESULTS}/microstim/{{stim}}.h5",
    log:
        f"{RESULTS}/logs/microstim/{{stim}}.log",
    threads: config["threads"]
    resources:
        **res("microstimulation", model=True),
    params:
        spec=lambda w: config["microstimulation"][w.stim],
        engine=config["engine"],
        device=config["device"],
        code=script_version("microstim"),
    script:
        "../../scripts/microstim.py"


rule microstim_table:
    input:
        f"{RESULTS}/microstim/{{stim}}.h5",
    output:
        md=f"{RESULTS}/tables/microstim/{{stim}}.md",
        csv=report(
            f"{RESULTS}/tables/microstim/{{stim}}.csv",
            category="Tables",
            caption="../report/microstim.rst",
            labels={"analysis": "{stim}"},
        ),
    log:
        f"{RESULTS}/logs/tables/microstim/{{stim}}.log",
    localrule: True
    resources:
        **res("microstim_table"),
    params:
        code=script_version("microstim_table"),
    script:
        "../../scripts/microstim_table.py"


for _fig in MICROSTIM_FIGURES:

    rule:
        name:
            f"figure_{_fig}"
        input:
            microstim=f"{RESULTS}/microstim/{{stim}}.h5",
        output:
            **figure_output(
                f"{RESULTS}/figures/{_fig}/{{stim}}",
                "../report/fig23.rst",
                "Microstimulation",
                figure=_fig,
                analysis="{stim}",
            ),
        log:
            f"{RESULTS}/logs/figures/{_fig}/{{stim}}.log",
        localrule: True
        resources:
            **res(f"figure_{_fig}"),
        params:
            fig=_fig,
            code=script_version("figure"),
        script:
            "../../scripts/figure.py"
