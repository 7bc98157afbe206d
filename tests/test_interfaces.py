"""storeroom.interfaces matches the seed (tests/data/SEED-INTERFACES.md, a copy of
the vibex documentation) name for name and signature for signature, and the
public API is complete."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import storeroom
from storeroom import interfaces

SEED = (Path(__file__).parent / "data" / "SEED-INTERFACES.md").read_text()


def _seed_methods() -> dict[str, dict[str, str]]:
    """Class name -> method name -> the signature line the seed documents."""
    classes: dict[str, dict[str, str]] = {}
    current = None
    for block in re.split(r"\n(?=##+ )", SEED):
        heading = re.match(r"(##+) (\w+)", block)
        if not heading:
            continue
        level, name = heading.groups()
        if level == "##":
            current = classes.setdefault(name, {})
            continue
        signature = re.search(r"```python\n(.*?)\n```", block, re.S)
        assert current is not None, block
        assert signature, block
        current[name] = signature.group(1).strip()
    return classes


SEED_METHODS = _seed_methods()


def _normalise(signature_line: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse(signature_line + ": ...")
    node = tree.body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node


def _shape(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[object, ...]:
    args = node.args
    defaults = [ast.unparse(d) for d in args.defaults]
    return (
        isinstance(node, ast.AsyncFunctionDef),
        [a.arg for a in args.args],
        [ast.unparse(a.annotation) if a.annotation else None for a in args.args],
        defaults,
        ast.unparse(node.returns) if node.returns else None,
    )


def test_the_seed_lists_seven_names() -> None:
    assert sorted(SEED_METHODS) == sorted(interfaces.__all__)
    assert len(SEED_METHODS) == 7


@pytest.mark.parametrize(
    ("cls", "method"),
    [(cls, method) for cls, methods in SEED_METHODS.items() for method in methods],
)
def test_every_seed_method_has_the_seed_signature(cls: str, method: str) -> None:
    source = inspect.getsource(getattr(getattr(interfaces, cls), method))
    ours = ast.parse(inspect.cleandoc("\n" + source)).body[0]
    assert isinstance(ours, (ast.FunctionDef, ast.AsyncFunctionDef))
    ours.body = [ast.Expr(ast.Constant(...))]
    assert _shape(ours) == _shape(_normalise(SEED_METHODS[cls][method]))
    assert getattr(getattr(interfaces, cls), method).__isabstractmethod__


def test_abstract_methods_are_exactly_the_seed_ones() -> None:
    for cls, methods in SEED_METHODS.items():
        if not methods:  # the two records
            continue
        inherited = {
            name
            for base in getattr(interfaces, cls).__mro__[1:]
            for name in SEED_METHODS.get(base.__name__, {})
        }
        assert getattr(interfaces, cls).__abstractmethods__ == set(methods) | inherited, cls


def test_records_keep_the_fields_vibex_code_reads() -> None:
    result = interfaces.StorageResult(success=True)
    assert (result.path, result.size, result.error, result.data, result.metadata) == (
        None,
        None,
        None,
        {},
        {},
    )
    assert interfaces.StorageResult(False, data=None).data == {}
    fields = list(inspect.signature(interfaces.FileInfo).parameters)
    assert fields[:6] == ["path", "size", "created_at", "modified_at", "content_type", "metadata"]
    assert "is_directory" in fields


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(storeroom).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    } - {"annotations", "TYPE_CHECKING", "Any"}
    assert public <= set(storeroom.__all__)
    for name in storeroom.__all__:
        assert getattr(storeroom, name) is not None, name
    with pytest.raises(AttributeError):
        _ = storeroom.NoSuchThing
