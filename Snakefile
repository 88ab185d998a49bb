# revcor: white-noise analysis of neural networks (Borji & Lin), as a Snakemake workflow.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generators.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/neurons.smk"
include: "workflow/rules/microstim.smk"
include: "workflow/rules/imagenet.smk"


rule all:
    input:
        all_targets(),
    default_target: True
