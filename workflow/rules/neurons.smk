# Single units (paper Sec. 3.3): STA of every unit of named layers (Fig. 8, 22), STC of
# chosen units, mean layer activations per class for noise and real data (Fig. 20), and
# activation injection (Fig. 7C, 21). One noise pass per entry of `neurons:`.


rule neurons:
    input:
        unpack(lambda w: PLAN.unit_inputs(w.unit)),
    output:
        f"{RESULTS}/neurons/{{unit}}.h5",
    log:
        f"{RESULTS}/logs/neurons/{{unit}}.log",
    threads: config["threads"]
    resources:
        **res("neurons", model=True),
    params:
        spec=lambda w: config["neurons"][w.unit],
        engine=config["engine"],
        device=config["device"],
        code=script_version("neurons"),
    script:
        "../../scripts/neurons.py"


for _fig in UNIT_FIGURES:

    rule:
        name:
            f"figure_{_fig}"
        input:
            units=f"{RESULTS}/neurons/{{unit}}.h5",
        output:
            **figure_output(
                f"{RESULTS}/figures/{_fig}/{{unit}}",
                f"../report/{_fig}.rst",
                "Single units",
                figure=_fig,
                analysis="{unit}",
            ),
        log:
            f"{RESULTS}/logs/figures/{_fig}/{{unit}}.log",
        localrule: True
        resources:
            **res(f"figure_{_fig}"),
        params:
            fig=_fig,
            code=script_version("figure"),
        script:
            "../../scripts/figure.py"
