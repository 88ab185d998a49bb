# Structured-noise generators, fitted once per dataset on its training split: Gabor-PCA
# (gabor) and the decoders of an autoencoder (ae) and a VAE (vae).


rule gabor:
    input:
        f"{DATA}/{{dataset}}.h5",
    output:
        f"{RESULTS}/generators/{{dataset}}/gabor.h5",
    log:
        f"{RESULTS}/logs/generators/{{dataset}}/gabor.log",
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
        f"{DATA}/{{dataset}}.h5",
    output:
        f"{RESULTS}/generators/{{dataset}}/{{kind}}.h5",
    log:
        f"{RESULTS}/logs/generators/{{dataset}}/{{kind}}.log",
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
