"""The dependency rules of the package layout, read from the source (every import, lazy ones too).

- `lottery/` (pure PyTorch) imports nothing from the orchestrator, the trainables, the analysis or
  the search spaces; `trainables/` imports nothing from `orchestrator/`.
- No two modules import each other.
- A method module imports no sibling method module, only the contract (`base`), shared pieces
  (`common`) and declared family bases (`lottery.methods.FAMILY_BASES`).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lottery.methods import FAMILY_BASES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lottery", "orchestrator", "trainables", "analysis", "search_spaces")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every project module `path` imports (a `from pkg import name` counts `pkg.name` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES}
    return {name for name in found if name.split(".")[0] in PACKAGES and name in MODULES}


MODULES = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_the_graph_was_read() -> None:
    assert "lottery.methods.earlybird" in GRAPH and "lottery.methods.base" in GRAPH["lottery.methods.earlybird"]


@pytest.mark.parametrize("layer, forbidden", [
    ("lottery", ("orchestrator", "trainables", "analysis", "search_spaces")),
    ("trainables", ("orchestrator",)),
])
def test_lower_layers_never_import_upper_ones(layer: str, forbidden: tuple[str, ...]) -> None:
    bad = sorted((m, i) for m, imports in GRAPH.items() if m.split(".")[0] == layer
                 for i in imports if i.split(".")[0] in forbidden)
    assert not bad, f"{layer} must not import {forbidden}: {bad}"


def test_no_two_modules_import_each_other() -> None:
    mutual = sorted({tuple(sorted((a, b))) for a, imports in GRAPH.items() for b in imports if a != b and a in GRAPH.get(b, set())})
    assert not mutual, f"modules importing each other: {mutual}"


def test_methods_import_no_sibling_method() -> None:
    allowed = {"lottery.methods", "lottery.methods.base", "lottery.methods.common"} | {f"lottery.methods.{m}" for m in FAMILY_BASES}
    bad = sorted((m, i) for m, imports in GRAPH.items() if m.startswith("lottery.methods.")
                 for i in imports if i.startswith("lottery.methods") and i not in allowed and i != m)
    assert not bad, f"a method module imports a sibling method (move the shared piece below lottery/methods/): {bad}"
