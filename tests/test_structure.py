"""The package tree follows the data flow: each subpackage imports only from those below it,
no module reaches into another's private names, and subpackage ``__init__`` files are
docstrings only (so that importing a module runs no unrelated code)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import revcor
from revcor.base import codeversion

SRC = Path(revcor.__file__).parent
ROOT = SRC.parents[1]
LAYERS = ["base", "data", "models", "noise", "core", "analyses", ("pipeline", "report")]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in ([layer] if isinstance(layer, str) else layer)}
TOP = len(LAYERS)  # api, cli


def rank(module: str) -> int:
    parts = module.split(".")
    return RANK.get(parts[1], TOP) if len(parts) > 1 else TOP


def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(["revcor", *parts])] = path
    return out


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``revcor`` import in the file, relative ones resolved."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("revcor"):
            assert node.level == 0, f"{path}: relative import; use absolute revcor imports"
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("revcor")]
    return found


MODULES = modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_only_from_lower_layers(name):
    own = rank(name)
    for module, names in imported(MODULES[name]):
        targets = [module] if module != "revcor" else [f"revcor.{n}" for n in names if n != "__version__"]
        for target in targets:
            assert rank(target) <= own, f"{name} (layer {own}) imports {target} (layer {rank(target)})"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_of_other_modules(name):
    tree = ast.parse(MODULES[name].read_text())
    for module, names in imported(MODULES[name]):
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{name} imports private {private} from {module}"
    aliases = {
        a.asname or a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("revcor")
        for a in node.names
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            raise AssertionError(f"{name} uses private {node.value.id}.{node.attr}")


@pytest.mark.parametrize("pkg", sorted(RANK))
def test_subpackage_init_is_a_docstring(pkg):
    body = ast.parse((SRC / pkg / "__init__.py").read_text()).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def test_planning_the_workflow_does_not_load_torch():
    """Every Snakemake start (and every job on a cluster) plans the workflow; without torch it
    takes about a second less."""
    code = (
        "import sys; import revcor.pipeline.plan, revcor.base.codeversion, revcor.base.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# Jobs that read artifacts and write figures, tables or sums: without torch a job starts in
# about 0.6 s instead of 2.5 s, and a workflow has dozens of them.
READERS = [
    "attack_table",
    "converged",
    "dataset",
    "detection_table",
    "figure",
    "microstim_table",
    "noise_table",
    "provenance",
    "seed_spread",
    "stats",
    "evaluation",
    "template_table",
]


@pytest.mark.parametrize("script", READERS)
def test_jobs_that_only_read_artifacts_do_not_load_torch(script):
    modules = sorted(codeversion.imports(ROOT / "scripts" / f"{script}.py"))
    assert modules, script
    code = (
        f"import sys; import {', '.join(modules)}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{script}: {out[:300]}"


MEASUREMENT = re.compile(
    r"\b\d+(\.\d+)?x\b|\b(faster|slower)\b|\b\d[\d,.]*\s?(ms|us|µs|s|seconds|minutes)\b(?! of)|img/s|images/s|\bVM\b|2-core",
)


def test_docstrings_state_no_measurements():
    """Measured timings go stale: they live in docs/performance.md, not in docstrings."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node) or ""
                found += [f"{path.name}: {m.group(0)!r} in {doc[:60]!r}" for m in MEASUREMENT.finditer(doc)]
    assert not found, "\n".join(found)
