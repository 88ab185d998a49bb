# Every figure: one rule per declaration of revcor.pipeline.registry.FIGURES, drawn by
# scripts/figure.py with revcor.report.figures.{name}; what each reads is chosen by the plan.


for _fig in FIGURES.values():

    rule:
        name:
            f"figure_{_fig.name}"
        input:
            unpack(figure_inputs(_fig)),
        output:
            **figure_output(_fig),
        log:
            PLAN.log(f"figures/{_fig.name}/{{{_fig.each}}}" if _fig.each else f"figures/{_fig.name}"),
        wildcard_constraints:
            **({_fig.each: PLAN.figure_pattern(_fig.name)} if _fig.each else {}),
        localrule: True
        resources:
            **res(f"figure_{_fig.name}"),
        params:
            fig=_fig.name,
            shows=_fig.shows,
            paper=_fig.paper,
            experiments={} if _fig.each else PLAN.figure_selection(_fig.name),
            code=script_version("figure"),
        script:
            "../../scripts/figure.py"


rule noise_table:
    input:
        unpack(lambda w: PLAN.figure_inputs("noise_comparison")),
    output:
        **table_output("noise_comparison"),
    log:
        PLAN.log("tables/noise_comparison"),
    localrule: True
    resources:
        **res("noise_table"),
    params:
        code=script_version("noise_table"),
    script:
        "../../scripts/noise_table.py"
