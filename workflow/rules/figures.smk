# Figures of the paper (results/figures/fig{N}.png and .pdf), z-maps and sample-complexity
# curves of every plain experiment, and the noise comparison table. Which experiments a
# figure is drawn from is chosen by revcor.pipeline.plan; all are drawn by scripts/figure.py.


for _fig in PAPER_FIGURES:

    rule:
        name:
            f"figure_{_fig}"
        input:
            unpack(figure_inputs(_fig)),
        output:
            **figure_output(f"{RESULTS}/figures/{_fig}", f"../report/{_fig}.rst", "Paper figures", figure=_fig),
        log:
            f"{RESULTS}/logs/figures/{_fig}.log",
        localrule: True
        resources:
            **res(f"figure_{_fig}"),
        params:
            fig=_fig,
            experiments=PLAN.figure_experiments(_fig) or {},
            code=script_version("figure"),
        script:
            "../../scripts/figure.py"


rule zmaps:
    input:
        maps=lambda w: PLAN.plain_experiment(w.exp),
    output:
        **figure_output(f"{RESULTS}/figures/zmaps/{{exp}}", "../report/zmaps.rst", "Z-maps", experiment="{exp}"),
    log:
        f"{RESULTS}/logs/figures/zmaps/{{exp}}.log",
    localrule: True
    resources:
        **res("zmaps"),
    params:
        fig="zmaps",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule whitened:
    input:
        maps=lambda w: PLAN.plain_experiment(w.exp),
        evaluation=f"{RESULTS}/eval/{{exp}}.json",
    output:
        **figure_output(
            f"{RESULTS}/figures/whitened/{{exp}}", "../report/whitened.rst", "Whitened maps", experiment="{exp}"
        ),
    log:
        f"{RESULTS}/logs/figures/whitened/{{exp}}.log",
    localrule: True
    resources:
        **res("whitened"),
    params:
        fig="whitened",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule figure_comparison:
    input:
        comparison=f"{RESULTS}/comparisons/{{name}}.h5",
    output:
        **figure_output(
            f"{RESULTS}/figures/comparisons/{{name}}", "../report/comparison.rst", "Comparisons", comparison="{name}"
        ),
    log:
        f"{RESULTS}/logs/figures/comparisons/{{name}}.log",
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    localrule: True
    resources:
        **res("figure_comparison"),
    params:
        fig="comparison",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule sample_complexity:
    input:
        maps=lambda w: PLAN.plain_experiment(w.exp),
        evaluation=f"{RESULTS}/eval/{{exp}}.json",
    output:
        **figure_output(
            f"{RESULTS}/figures/sample_complexity/{{exp}}",
            "../report/sample_complexity.rst",
            "Sample complexity",
            experiment="{exp}",
        ),
    log:
        f"{RESULTS}/logs/figures/sample_complexity/{{exp}}.log",
    localrule: True
    resources:
        **res("sample_complexity"),
    params:
        fig="fig14",
        code=script_version("figure"),
    script:
        "../../scripts/figure.py"


rule noise_table:
    input:
        unpack(lambda w: PLAN.figure_inputs("noise_comparison")),
    output:
        md=f"{RESULTS}/tables/noise_comparison.md",
        csv=report(
            f"{RESULTS}/tables/noise_comparison.csv",
            category="Tables",
            caption="../report/noise_comparison.rst",
        ),
    log:
        f"{RESULTS}/logs/tables/noise_comparison.log",
    localrule: True
    resources:
        **res("noise_table"),
    params:
        code=script_version("noise_table"),
    script:
        "../../scripts/noise_table.py"
