# Structured-noise generators, fitted once per dataset on its training split:
# Gabor-PCA (gabor), autoencoder (ae) and VAE (vae).


rule generator:
    input:
        f"{DATA}/{{dataset}}.h5",
    output:
        f"{RESULTS}/generators/{{dataset}}/{{kind}}.h5",
    wildcard_constraints:
        kind="gabor|ae|vae",
    params:
        settings=config["generators"],
        code=lambda w: code_hash("gabor") if w.kind == "gabor" else code_hash("autoencoder"),
        device=config["device"],
    threads: config["threads"]
    resources:
        **res("generator", model=True),
    log:
        f"{RESULTS}/logs/generators/{{dataset}}/{{kind}}.log",
    script:
        "../../scripts/generator.py"
