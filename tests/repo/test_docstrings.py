"""Every public definition in `src/grpo_bt_rm` has a docstring, read from the source with `ast` (nothing is imported).

Public: a module-level function or class, or a method of a public class, whose name does not start with "_"
(dunders and private helpers are exempt, and so are functions nested inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG_DIR = ROOT / "src" / "grpo_bt_rm"

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements at module level, looking inside `if` / `try` blocks (optional imports, TYPE_CHECKING)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            out += _module_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            out += _module_level(node.body + node.orelse + node.finalbody
                                 + [s for h in node.handlers for s in h.body])
        else:
            out.append(node)
    return out


def missing_docstrings(source: str) -> list[tuple[int, str]]:
    """(line, qualified name) of each public module-level function or class, or public method of a public class,
    that has no docstring."""
    out = []
    for node in _module_level(ast.parse(source).body):
        if not isinstance(node, DEFS) or node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None:
            out.append((node.lineno, node.name))
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, DEFS[:2]) and not item.name.startswith("_") and ast.get_docstring(item) is None:
                    out.append((item.lineno, f"{node.name}.{item.name}"))
    return out


def test_the_check_finds_what_it_should() -> None:
    # undocumented public function, class and method are reported; private, dunder and nested ones are not
    source = '''
def f(): pass
def _private(): pass
class C:
    def method(self): pass
    def _helper(self): pass
    def __len__(self): return 0
class _Hidden:
    def method(self): pass
def documented():
    """Doc."""
    def nested(): pass
try:
    def g(): pass
except ImportError:
    pass
'''
    assert missing_docstrings(source) == [(2, "f"), (4, "C"), (5, "C.method"), (14, "g")]


def test_public_definitions_have_docstrings() -> None:
    offenders = []
    for path in sorted(PKG_DIR.rglob("*.py")):
        rel = path.relative_to(ROOT)
        offenders += [f"{rel}:{line} {name}" for line, name in missing_docstrings(path.read_text(encoding="utf-8"))]
    assert not offenders, (
        f"{len(offenders)} public function(s)/class(es)/method(s) without a docstring (write one summary line, then "
        "Args / Returns / Raises where useful, as TRL does):\n  " + "\n  ".join(offenders)
    )
