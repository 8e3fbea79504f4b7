"""Import rules of the package, read from the source with `ast` (nothing is imported):

- the library never imports the test doubles in `grpo_bt_rm.testing` (only `demo/` and `testing/` itself may);
- `density/` never imports `eval/` or `reports/` (reports sit above eval; density comes before both);
- no import cycles between modules, counting imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PKG = "grpo_bt_rm"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((SRC / PKG).rglob("*.py"))}


def _imports(path: Path, package: str | None = None) -> set[str]:
    """Every grpo_bt_rm module `path` imports (top level or inside functions), as dotted names."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == PKG)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the importing module's package
                anchor = (package or "").split(".")[: len((package or "").split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base.split(".")[0] != PKG:
                continue
            for alias in node.names:  # `from pkg import module` imports the module, else the package itself
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return out


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


GRAPH = {name: {m for m in _imports(path, _package_of(name)) if m in MODULES} for name, path in MODULES.items()}


def _under(name: str, *subpackages: str) -> bool:
    return any(name == f"{PKG}.{s}" or name.startswith(f"{PKG}.{s}.") for s in subpackages)


def test_graph_is_read():
    # the walk must see real edges, or every rule below would pass vacuously
    assert f"{PKG}.parsing.score_tags" in GRAPH[f"{PKG}.parsing"]
    assert f"{PKG}.eval.completions" in GRAPH[f"{PKG}.reports.diversity"]
    assert f"{PKG}.testing.mock_batches" in GRAPH[f"{PKG}.testing.mock_server"]


def test_library_never_imports_testing():
    offenders = {name: sorted(m for m in deps if _under(m, "testing"))
                 for name, deps in GRAPH.items() if not _under(name, "testing", "demo")}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("folder", ["scripts", "tools"])
def test_launchers_never_import_testing(folder):
    # user-facing launchers run the real stack; the fakes are started by tests, benchmarks and the demo only
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / folder).glob("*.py"))
                 if any(_under(m, "testing") for m in _imports(p))]
    assert offenders == []


def test_density_never_imports_eval_or_reports():
    offenders = {name: sorted(m for m in deps if _under(m, "eval", "reports"))
                 for name, deps in GRAPH.items() if _under(name, "density")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles():
    # Tarjan's strongly connected components: any component with two or more modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in GRAPH[v]:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []
