"""Code versions derived from imports: what a workflow script can run decides what reruns.

The version of a script is a hash of the script and of every ``revcor`` module it imports,
followed transitively (imports inside functions included). Nothing is listed by hand: an
edit to a module reruns exactly the rules whose scripts reach it.

Sources are compared as parsed code (``ast.dump``), so an edit to comments or layout alone
(what a formatter changes) reruns nothing; any other edit, docstrings included, does. What a
file parses to is kept in :data:`CODE_CACHE` under its path and stat, so a workflow parses
only the files changed since it last ran.
A package's ``__init__`` counts only where the package itself is imported: the subpackages'
``__init__`` files hold docstrings only, and the root's exports are lazy.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import revcor
from revcor.base.defaults import CACHE

ROOT = Path(revcor.__file__).resolve().parent
PACKAGE = "revcor"
CODE_CACHE = CACHE / "code"  # what each source file version parses to, keyed by its path and stat
FORMAT = 1  # of the cached entries
RACY_S = 2  # seconds: files changed more recently are not cached


def _module_file(name: str) -> Path | None:
    """File of module ``revcor.x.y`` (a module or a package's ``__init__``), if it exists."""
    return _find(ROOT, name)


@functools.cache
def _find(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path) -> str:
    rel = path.resolve().relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def imports(path: str | Path) -> set[str]:
    """The ``revcor`` modules that the file at ``path`` imports directly."""
    path = Path(path).resolve()
    inside = path.is_relative_to(ROOT)
    package = _module_name(path) if inside else ""
    if inside and path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for level, base, names in _facts(path)[1]:
        if level:
            anchor = package.split(".")[: len(package.split(".")) - level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        full = [base] + [f"{base}.{n}" for n in names] if base is not None else list(names)
        found |= {n for n in full if (n == PACKAGE or n.startswith(PACKAGE + ".")) and _module_file(n)}
    found.discard(PACKAGE)  # the root's exports are lazy: importing a submodule runs none of them
    return found


def _facts(path: Path) -> tuple[str, list]:
    """(SHA-256 of the parsed code, its import statements as [level, module or None, names]) of
    the file at ``path``, cached in memory and on disk by the file's path and stat. A file
    changed in the last ``RACY_S`` seconds is parsed every time: a second edit as quick may
    leave its size and time stamps as they were."""
    st = path.stat()
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_S * 1e9:
        return _parse(path)
    return _cached(path, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))


@functools.cache
def _cached(path: Path, stamp: tuple[int, ...]) -> tuple[str, list]:
    key = hashlib.sha256(repr((FORMAT, sys.version_info[:2], str(path), stamp)).encode()).hexdigest()
    entry = CODE_CACHE / f"{key}.json"
    with contextlib.suppress(FileNotFoundError, ValueError):  # not cached yet, or a torn file
        digest, statements = json.loads(entry.read_text())
        return digest, statements
    facts = _parse(path)
    # written to a temporary name and renamed by hand: store.atomic_path would load h5py into
    # every Snakemake start
    tmp = entry.with_suffix(f".{os.getpid()}.tmp")
    try:
        CODE_CACHE.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(facts))
        tmp.replace(entry)
    except OSError:  # a read-only or full cache only costs the parse next time, and keeps no partial file
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return facts


def _parse(path: Path) -> tuple[str, list]:
    tree = ast.parse(path.read_text(), filename=str(path))
    statements = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            statements.append([0, None, [a.name for a in node.names]])
        elif isinstance(node, ast.ImportFrom):
            statements.append([node.level, node.module or "", [a.name for a in node.names]])
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest(), statements


def closure(path: str | Path) -> list[Path]:
    """``path`` and the files of every ``revcor`` module it reaches through imports, sorted."""
    seen: set[Path] = set()
    todo = [Path(path).resolve()]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [f for f in map(_module_file, imports(current)) if f is not None]
    return sorted(seen)


def code_version(*paths: str | Path) -> str:
    """Short hash of the parsed code of ``paths`` and of all the revcor modules they import."""
    files = sorted({f for p in paths for f in closure(p)})
    h = hashlib.sha256()
    for f in files:
        name = _module_name(f) if f.is_relative_to(ROOT) else f.name
        h.update(name.encode() + b"\0" + bytes.fromhex(_facts(f)[0]) + b"\0")
    return h.hexdigest()[:16]
