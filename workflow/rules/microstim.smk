# Microstimulation (paper Sec. 3.4, Eq. 6): psychometric curves of models whose layer biases
# are raised or lowered, fitted psychometric functions, and a table of threshold shifts.


def microstim_spec(name):
    try:
        return config["microstimulation"][name]
    except KeyError:
        raise WorkflowError(f"no microstimulation entry {name!r} in config") from None


def microstim_inputs(name):
    spec = microstim_spec(name)
    dataset, model = spec["model"].split("/")
    inputs = {"model": f"{RESULTS}/models/{dataset}/{model}.pt", "dataset": f"{DATA}/{dataset}.h5"}
    act = spec["activation_noise"].get("noise", {})
    if spec["activations"] == "noise" and act.get("kind", "white") != "white":
        inputs["generator"] = f"{RESULTS}/generators/{act.get('dataset') or dataset}/{act['kind']}.h5"
    return inputs


def microstim_targets():
    out = []
    for name, spec in config["microstimulation"].items():
        out.append(f"{RESULTS}/tables/microstim/{name}.md")
        out += [f"{RESULTS}/figures/{fig}/{name}.{ext}" for fig, sign in (("fig23", 1), ("fig24", -1))
                if sign in spec["signs"] for ext in ("png", "pdf")]
    return out


rule microstimulation:
    input:
        unpack(lambda w: microstim_inputs(w.stim)),
    output:
        f"{RESULTS}/microstim/{{stim}}.h5",
    params:
        spec=lambda w: microstim_spec(w.stim),
        engine=config["engine"],
        device=config["device"],
        code=code_hash("microstim", "activations", "neurons", "noise", "models"),
    threads: config["threads"]
    resources:
        **res("microstimulation", model=True),
    log:
        f"{RESULTS}/logs/microstim/{{stim}}.log",
    script:
        "../../scripts/microstim.py"


rule microstim_table:
    input:
        f"{RESULTS}/microstim/{{stim}}.h5",
    output:
        md=f"{RESULTS}/tables/microstim/{{stim}}.md",
        csv=report(f"{RESULTS}/tables/microstim/{{stim}}.csv", category="Tables",
                   caption="../report/microstim.rst", labels={"analysis": "{stim}"}),
    params:
        code=code_hash("tables"),
    resources:
        **res("microstim_table"),
    log:
        f"{RESULTS}/logs/tables/microstim/{{stim}}.log",
    script:
        "../../scripts/microstim_table.py"


for _fig in ("fig23", "fig24"):

    rule:
        name:
            f"figure_{_fig}"
        input:
            microstim=f"{RESULTS}/microstim/{{stim}}.h5",
        output:
            png=report(f"{RESULTS}/figures/{_fig}/{{stim}}.png", caption="../report/fig23.rst",
                       category="Figures", subcategory="Microstimulation",
                       labels={"figure": _fig, "analysis": "{stim}", "format": "PNG"}),
            pdf=report(f"{RESULTS}/figures/{_fig}/{{stim}}.pdf", caption="../report/fig23.rst",
                       category="Figures", subcategory="Microstimulation",
                       labels={"figure": _fig, "analysis": "{stim}", "format": "PDF"}),
        params:
            fig=_fig,
            code=code_hash("plots", "figures", "microstim"),
        log:
            f"{RESULTS}/logs/figures/{_fig}/{{stim}}.log",
        script:
            "../../scripts/figure.py"
