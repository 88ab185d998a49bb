# revcor: white-noise analysis of neural networks (Borji & Lin), as a Snakemake workflow.
from snakemake.utils import min_version

from revcor.base.defaults import share_cpu

min_version("9.0")
share_cpu()  # every job inherits it: jobs side by side keep their throughput


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    model=r"[A-Za-z0-9_]+",
    base=PLAN.built_datasets_pattern(),
    exp=r"[A-Za-z0-9_-]+",
    part=r"[0-9]+",
    name=r"[a-z0-9]+",
    scan=r"[A-Za-z0-9_-]+",
    unit=r"[A-Za-z0-9_-]+",
    stim=r"[A-Za-z0-9_-]+",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generators.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/units.smk"
include: "workflow/rules/microstim.smk"
include: "workflow/rules/imagenet.smk"
include: "workflow/rules/seeds.smk"


check_resource_rules({r.name for r in workflow.rules})


rule all:
    default_target: True
    input:
        PLAN.targets(),
    localrule: True
