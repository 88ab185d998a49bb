# Figures of the paper (results/figures/fig{N}.png and .pdf) and z-maps of every plain
# experiment (results/figures/zmaps/{exp}.png and .pdf). A figure is drawn from the
# experiments of the config whose model fits it (full MNIST preferred over mnist-5k); a
# figure with no such experiment is not a target. All are drawn by scripts/figure.py.

MNIST_FIRST = ("mnist", "mnist-5k")


def find_experiment(datasets, model=None, signal=False, kind="white"):
    """First experiment of `{dataset}/{model}` (any model when None) with `kind` noise,
    trying `datasets` in order; signal+noise experiments only when `signal`. None when
    there is none."""
    for dataset in datasets:
        for name, spec in config["experiments"].items():
            d, m = spec["model"].split("/")
            if (d == dataset and model in (None, m) and bool(spec["signal"]) == signal
                    and spec["noise"]["kind"] == kind and spec["summary"]):
                return name
    return None


NOISE_KINDS = ("white", "gabor", "ae", "vae")


def noise_comparison_experiments():
    """{kind: experiment} of the MNIST CNN with each noise kind, on the first MNIST dataset
    that has at least two kinds."""
    for dataset in MNIST_FIRST:
        found = {k: find_experiment([dataset], "cnn", kind=k) for k in NOISE_KINDS}
        found = {k: name for k, name in found.items() if name}
        if len(found) > 1:
            return found
    return {}


def experiment_dataset_name(name):
    return experiment(name)["model"].split("/")[0]


def figure_experiments(fig):
    """{role: experiment} that figure `fig` is drawn from, or None when it cannot be made."""
    if fig == "fig1":
        found = {t: find_experiment([f"{d}-{t}" for d in MNIST_FIRST], signal=True) for t in ("1v7", "5v6")}
    elif fig == "fig2":
        pairs = ({m: find_experiment([d], m) for m in ("cnn", "logreg")} for d in MNIST_FIRST)
        found = next((p for p in pairs if all(p.values())), {"cnn": None})
    elif fig in ("fig4", "fig14"):
        found = {"cnn": find_experiment(MNIST_FIRST, "cnn")}
    elif fig == "fig13":
        found = {m: find_experiment(MNIST_FIRST, m) for m in ("mlp", "rnn")}
    elif fig == "fig16":
        found = {"cnn": find_experiment(["fashion-mnist"], "cnn"),
                 "gabor": find_experiment(["fashion-mnist"], "cnn", kind="gabor")}
        if not found["cnn"]:
            return None
    elif fig == "fig5":
        found = {"mnist": find_experiment(MNIST_FIRST, "cnn", kind="gabor"),
                 "fashion": find_experiment(["fashion-mnist"], "cnn", kind="gabor"),
                 "cifar": find_experiment(["cifar10"], "cnn", kind="gabor")}
    elif fig == "fig15":
        found = {k: find_experiment(MNIST_FIRST, "cnn", kind=k) for k in ("ae", "vae")}
    elif fig == "noise_comparison":
        found = noise_comparison_experiments()
    elif fig == "fig3":
        found = {"cnn": find_experiment(["cifar10"], "cnn") or find_experiment(["cifar10"])}
    else:
        raise WorkflowError(f"unknown figure {fig!r}")
    found = {role: name for role, name in found.items() if name}
    if fig == "fig2" and len(found) < 2:  # needs both models on one dataset
        return None
    return found or None


FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig13", "fig14", "fig15", "fig16", "noise_comparison")


def figure_inputs(fig):
    """Named inputs of figure `fig`: the keyword arguments of revcor.figures.{fig}."""
    exps = figure_experiments(fig)
    if exps is None:
        raise WorkflowError(f"{fig} needs experiments that this config does not have "
                            "(see workflow/rules/figures.smk)")
    maps = {role: f"{RESULTS}/maps/{name}.h5" for role, name in exps.items()}
    evals = {role: f"{RESULTS}/eval/{name}.json" for role, name in exps.items()}
    if fig == "fig1":
        return {"maps": list(maps.values()), "datasets": [experiment_dataset(e) for e in exps.values()]}
    if fig == "fig4":
        return {"maps": maps["cnn"]}
    if fig == "fig16":
        return {"maps": maps["cnn"], **({"gabor_maps": maps["gabor"]} if "gabor" in maps else {})}
    if fig in ("fig5", "fig15"):
        return {"maps": list(maps.values()), "evaluations": list(evals.values()),
                "generators": [experiment_generator(e)["generator"] for e in exps.values()]}
    if fig == "noise_comparison":
        return {"maps": list(maps.values()), "evaluations": list(evals.values())}
    if fig == "fig13":
        return maps
    if fig == "fig14":
        return {"maps": maps["cnn"], "evaluation": evals["cnn"]}
    dataset = experiment_dataset_name(exps["cnn"])
    baselines = {"baselines": f"{RESULTS}/eval/{dataset}/baselines.json"}
    if fig == "fig2":
        return {"cnn_maps": maps["cnn"], "logreg_maps": maps["logreg"], "cnn_eval": evals["cnn"],
                "logreg_eval": evals["logreg"], **baselines}
    return {"maps": maps["cnn"], "evaluation": evals["cnn"], **baselines,
            "baseline_maps": f"{RESULTS}/baselines/{dataset}.h5"}


def plain_experiments():
    return list(template_experiments())


def figure_targets():
    """PNG and PDF of every figure this config can make, and the z-maps of every plain experiment."""
    stems = [f"{RESULTS}/figures/{fig}" for fig in FIGURES if figure_experiments(fig)]
    stems += [f"{RESULTS}/figures/zmaps/{name}" for name in plain_experiments()]
    stems += [f"{RESULTS}/figures/sample_complexity/{name}" for name in sample_complexity_experiments()]
    return [f"{stem}.{ext}" for stem in stems for ext in ("png", "pdf")]


def zmaps_input(exp):
    if experiment(exp)["signal"]:
        raise WorkflowError(f"experiment {exp!r} is signal+noise; z-maps exist for plain experiments only")
    return f"{RESULTS}/maps/{exp}.h5"


def figure_input_function(fig):
    return lambda wildcards: figure_inputs(fig)


for _fig in FIGURES:

    rule:
        name:
            f"figure_{_fig}"
        input:
            unpack(figure_input_function(_fig)),
        output:
            png=report(f"{RESULTS}/figures/{_fig}.png", caption=f"../report/{_fig}.rst",
                       category="Figures", subcategory="Paper figures",
                       labels={"figure": _fig, "format": "PNG"}),
            pdf=report(f"{RESULTS}/figures/{_fig}.pdf", caption=f"../report/{_fig}.rst",
                       category="Figures", subcategory="Paper figures",
                       labels={"figure": _fig, "format": "PDF"}),
        params:
            fig=_fig,
            experiments=figure_experiments(_fig) or {},
            code=code_hash("plots", "figures"),
        log:
            f"{RESULTS}/logs/figures/{_fig}.log",
        script:
            "../../scripts/figure.py"


rule zmaps:
    input:
        maps=lambda w: zmaps_input(w.exp),
    output:
        png=report(f"{RESULTS}/figures/zmaps/{{exp}}.png", caption="../report/zmaps.rst",
                   category="Figures", subcategory="Z-maps",
                   labels={"experiment": "{exp}", "format": "PNG"}),
        pdf=report(f"{RESULTS}/figures/zmaps/{{exp}}.pdf", caption="../report/zmaps.rst",
                   category="Figures", subcategory="Z-maps",
                   labels={"experiment": "{exp}", "format": "PDF"}),
    params:
        fig="zmaps",
        code=code_hash("plots", "figures"),
    resources:
        **res("zmaps"),
    log:
        f"{RESULTS}/logs/figures/zmaps/{{exp}}.log",
    script:
        "../../scripts/figure.py"


def sample_complexity_experiments():
    """Plain experiments that keep statistics at more than one sample size."""
    return [name for name in plain_experiments() if len(experiment(name)["checkpoints"]) > 0]


rule sample_complexity:
    input:
        maps=lambda w: zmaps_input(w.exp),
        evaluation=f"{RESULTS}/eval/{{exp}}.json",
    output:
        png=report(f"{RESULTS}/figures/sample_complexity/{{exp}}.png", caption="../report/sample_complexity.rst",
                   category="Figures", subcategory="Sample complexity",
                   labels={"experiment": "{exp}", "format": "PNG"}),
        pdf=report(f"{RESULTS}/figures/sample_complexity/{{exp}}.pdf", caption="../report/sample_complexity.rst",
                   category="Figures", subcategory="Sample complexity",
                   labels={"experiment": "{exp}", "format": "PDF"}),
    params:
        fig="fig14",
        code=code_hash("plots", "figures"),
    resources:
        **res("sample_complexity"),
    log:
        f"{RESULTS}/logs/figures/sample_complexity/{{exp}}.log",
    script:
        "../../scripts/figure.py"


rule noise_table:
    input:
        unpack(figure_input_function("noise_comparison")),
    output:
        md=f"{RESULTS}/tables/noise_comparison.md",
        csv=report(f"{RESULTS}/tables/noise_comparison.csv", category="Tables",
                   caption="../report/noise_comparison.rst"),
    params:
        code=code_hash("tables", "figures", "maps"),
    resources:
        **res("noise_table"),
    log:
        f"{RESULTS}/logs/tables/noise_comparison.log",
    script:
        "../../scripts/noise_table.py"
