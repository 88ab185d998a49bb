# Shared set-up: validate the config before any rule runs, and plan the artifacts. Which
# files exist and which experiments feed which figure is decided in revcor.pipeline.plan.
import json
from pathlib import Path

from revcor.base.codeversion import code_version
from revcor.base.config import SCHEMA, ConfigError
from revcor.pipeline.configure import check_given_files, prepare, scan_models
from revcor.pipeline.plan import Plan
from revcor.pipeline.registry import FIGURES

try:  # defaults, then the models and experiments that backdoor detection and seeds imply
    prepare(config, SCHEMA)
    check_given_files(config)
except ConfigError as e:
    raise WorkflowError(str(e)) from None

DATA = config["data_dir"]
RESULTS = config["results_dir"]
for _key, _folder in (("data_dir", DATA), ("results_dir", RESULTS)):
    if Path(_folder).exists() and not Path(_folder).is_dir():
        raise WorkflowError(f"{_key} {_folder!r} is a file, not a folder: move it away or set {_key}")
PLAN = Plan(config, DATA, RESULTS)


SCRIPTS = Path(workflow.current_basedir).parents[1] / "scripts"  # also when used as a module
CAPTIONS = Path(workflow.current_basedir).parent / "report"


def script_version(script):
    """Code version of scripts/{script}.py: it and every revcor module it imports, so that an
    edit reruns exactly the rules whose code it changes (revcor.base.codeversion)."""
    return code_version(SCRIPTS / f"{script}.py")


def experiment_parts(exp, artifact):
    """The per-part files of experiment ``exp``; for ``n: auto`` the rounds up to the first
    whose ``converged`` checkpoint says done (Snakemake re-plans after each round)."""
    if PLAN.experiment(exp)["n"] != "auto":
        return PLAN.parts(exp, artifact)
    last = 0
    while not json.loads(Path(checkpoints.converged.get(exp=exp, round=last).output[0]).read_text())["done"]:
        last += 1
    return [PLAN.path(artifact, exp=exp, part=i) for i in range(last + 1)]


def res(rule, model=False):
    """A rule's cluster resources: the config's defaults, GPUs for rules that run a model,
    then the rule's own overrides."""
    cfg = config["resources"]
    return {**cfg["default"], **({"gpu": cfg["gpu"]} if model else {}), **cfg["rules"].get(rule, {})}


def figure_output(fig):
    """PNG and PDF of a figure (and of the further figures its function draws), all in the
    report, captioned by workflow/report/{caption or name}.rst, or by the declaration itself."""
    stem = PLAN.figure_stem(fig.name, f"{{{fig.each}}}" if fig.each else None)
    labels = {"figure": fig.name, **({fig.each: f"{{{fig.each}}}"} if fig.each else {})}
    out = {}
    for suffix in ("", *fig.also):
        tail = f"-{suffix}" if suffix else ""
        caption = f"{fig.caption or fig.name}{tail}.rst"
        caption = f"../report/{caption if (CAPTIONS / caption).exists() else 'figure.rst'}"
        for ext in ("png", "pdf"):
            out[f"{suffix}_{ext}" if suffix else ext] = report(
                f"{stem}{tail}.{ext}",
                caption=caption,
                category="Figures",
                subcategory=fig.group,
                labels={**labels, **({"part": suffix} if suffix else {}), "format": ext.upper()},
            )
    return out


def figure_inputs(fig):
    """Input function of figure `fig` (bound now, not when the loop variable changes)."""
    return lambda wildcards: PLAN.figure_inputs(fig.name, getattr(wildcards, fig.each) if fig.each else None)


def table_output(name):
    """Markdown and CSV of a table, the CSV in the report."""
    return {
        "md": PLAN.table(name),
        "csv": report(PLAN.table(name, "csv"), category="Tables", caption=f"../report/{name.split('/')[0]}.rst"),
    }


def check_resource_rules(names):
    """Stop on a `resources.rules` entry that names no rule of the workflow."""
    unknown = sorted(set(config["resources"]["rules"]) - set(names))
    if unknown:
        raise WorkflowError(f"resources.rules names {', '.join(unknown)}, not one of: {', '.join(sorted(names))}")
