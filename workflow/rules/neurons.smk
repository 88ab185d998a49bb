# Single units (paper Sec. 3.3): STA of every unit of named layers (Fig. 8, 22), STC of
# chosen units, mean layer activations per class for noise and real data (Fig. 20), and
# activation injection (Fig. 7C, 21). One noise pass per entry of `neurons:`.


def neurons_spec(name):
    try:
        return config["neurons"][name]
    except KeyError:
        raise WorkflowError(f"no neurons entry {name!r} in config") from None


def neurons_inputs(name):
    spec = neurons_spec(name)
    dataset, model = spec["model"].split("/")
    inputs = {"model": f"{RESULTS}/models/{dataset}/{model}.pt", "dataset": f"{DATA}/{dataset}.h5"}
    if spec["noise"]["kind"] != "white":
        fit = spec["noise"]["dataset"] or dataset
        inputs["generator"] = f"{RESULTS}/generators/{fit}/{spec['noise']['kind']}.h5"
    return inputs


def neurons_figures(name):
    spec = neurons_spec(name)
    figs = ["fig8"]
    figs += ["fig20"] if spec["activations"] else []
    figs += ["fig21"] if spec["injection"]["layers"] else []
    figs += ["stc"] if spec["stc"] else []
    return figs


def neurons_targets():
    return [f"{RESULTS}/figures/{fig}/{name}.{ext}" for name in config["neurons"]
            for fig in neurons_figures(name) for ext in ("png", "pdf")]


rule neurons:
    input:
        unpack(lambda w: neurons_inputs(w.unit)),
    output:
        f"{RESULTS}/neurons/{{unit}}.h5",
    params:
        spec=lambda w: neurons_spec(w.unit),
        engine=config["engine"],
        device=config["device"],
        code=code_hash("unit_analysis", "neurons", "activations", "noise", "engine", "models"),
    threads: config["threads"]
    resources:
        **res("neurons", model=True),
    log:
        f"{RESULTS}/logs/neurons/{{unit}}.log",
    script:
        "../../scripts/neurons.py"


for _fig in ("fig8", "fig20", "fig21", "stc"):

    rule:
        name:
            f"figure_{_fig}"
        input:
            units=f"{RESULTS}/neurons/{{unit}}.h5",
        output:
            png=report(f"{RESULTS}/figures/{_fig}/{{unit}}.png", caption=f"../report/{_fig}.rst",
                       category="Figures", subcategory="Single units",
                       labels={"figure": _fig, "analysis": "{unit}", "format": "PNG"}),
            pdf=report(f"{RESULTS}/figures/{_fig}/{{unit}}.pdf", caption=f"../report/{_fig}.rst",
                       category="Figures", subcategory="Single units",
                       labels={"figure": _fig, "analysis": "{unit}", "format": "PDF"}),
        params:
            fig=_fig,
            code=code_hash("plots", "figures"),
        log:
            f"{RESULTS}/logs/figures/{_fig}/{{unit}}.log",
        script:
            "../../scripts/figure.py"
