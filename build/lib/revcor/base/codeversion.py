"""Code versions derived from imports: what a workflow script can run decides what reruns.

The version of a script is a hash of the script and of every ``revcor`` module it imports,
followed transitively (imports inside functions included). Nothing is listed by hand: an
edit to a module reruns exactly the rules whose scripts reach it.

Sources are compared as parsed code (``ast.dump``), so an edit to comments or layout alone
(what a formatter changes) reruns nothing; any other edit, docstrings included, does.
A package's ``__init__`` counts only where the package itself is imported: the subpackages'
``__init__`` files hold docstrings only, and the root's exports are lazy.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

import revcor

ROOT = Path(revcor.__file__).resolve().parent
PACKAGE = "revcor"


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


def _parse(path: Path) -> ast.Module:
    return _parse_version(path, path.stat().st_mtime_ns)


@functools.cache
def _parse_version(path: Path, mtime_ns: int) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imports(path: str | Path) -> set[str]:
    """The ``revcor`` modules that the file at ``path`` imports directly."""
    path = Path(path).resolve()
    return set(_imports(path, path.stat().st_mtime_ns))


@functools.cache
def _imports(path: Path, mtime_ns: int) -> frozenset[str]:
    inside = path.is_relative_to(ROOT)
    package = _module_name(path) if inside else ""
    if inside and path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if (n == PACKAGE or n.startswith(PACKAGE + ".")) and _module_file(n)}
    found.discard(PACKAGE)  # the root's exports are lazy: importing a submodule runs none of them
    return frozenset(found)


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
        h.update(name.encode() + b"\0" + _digest(f, f.stat().st_mtime_ns) + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def _digest(path: Path, mtime_ns: int) -> bytes:
    """SHA-256 of the parsed code of a file (comments and layout left out)."""
    return hashlib.sha256(ast.dump(_parse(path)).encode()).digest()
