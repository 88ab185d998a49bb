# Structured-noise generators, fitted once per dataset on its training split: Gabor-PCA
# (gabor) and the decoders of an autoencoder (ae) and a VAE (vae).


rule gabor:
    input:
        PLAN.path("dataset"),
    output:
        PLAN.path("generator", kind="gabor"),
    log:
        PLAN.log("generators/{dataset}/gabor"),
    threads: config["threads"]
    resources:
        **res("gabor"),
    params:
        settings=config["generators"]["gabor"],
        code=script_version("gabor"),
    script:
        "../../scripts/gabor.py"


rule autoencoder:
    input:
        PLAN.path("dataset"),
    output:
        PLAN.path("generator"),
    log:
        PLAN.log("generators/{dataset}/{kind}"),
    wildcard_constraints:
        kind="ae|vae",
    threads: config["threads"]
    resources:
        **res("autoencoder", model=True),
    params:
        settings=config["generators"]["autoencoder"],
        code=script_version("autoencoder"),
        device=config["device"],
    script:
        "../../scripts/autoencoder.py"
