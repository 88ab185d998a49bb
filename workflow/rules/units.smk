# Single units (paper Sec. 3.3): STA of every unit of named layers (Fig. 8, 22), STC of
# chosen units, mean layer activations per class for noise and real data (Fig. 20), and
# activation injection (Fig. 7C, 21). One noise pass per entry of `units:`.


rule units:
    input:
        unpack(lambda w: PLAN.unit_inputs(w.unit)),
    output:
        PLAN.path("units"),
    log:
        PLAN.log("units/{unit}"),
    threads: config["threads"]
    resources:
        **res("units", model=True),
    params:
        spec=lambda w: config["units"][w.unit],
        engine=config["engine"],
        device=config["device"],
        code=script_version("units"),
    script:
        "../../scripts/units.py"
