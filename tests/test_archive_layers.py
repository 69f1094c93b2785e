"""Storage below, orchestration above: the archive never imports the clients or refresh."""

from __future__ import annotations

import ast
from pathlib import Path

import usage_analysis as ua
from usage_analysis import archive, refreshing

PACKAGE = Path(archive.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def test_no_archive_module_imports_the_clients_or_refresh() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for name in imported_modules(path):
            parts = name.lstrip(".").split(".")
            assert "clients" not in parts and "refreshing" not in parts, (path.name, name)


def test_the_public_names_still_work() -> None:
    assert ua.refresh is refreshing.refresh
    assert ua.history is archive.history
    assert ua.sql is archive.sql
    assert ua.archive_frame is archive.archive_frame
    assert ua.archive_file is archive.archive_file
