"""The public API of ``helpers`` documents its arguments, results and fields (tf-keras-vis style sections).

The rule, read from the source (no import, so it runs without TensorFlow):

- A public function is a module-level function, or a method of a module-level class, whose name has no
  leading underscore (``__call__`` counts as public: an object called as a function), in a public class
  for a method. Every public function with parameters (``self`` and ``cls`` aside) has an ``Args:``
  section that names each of its parameters (grouped entries such as ``value, ci_low, ci_high:`` are
  fine), and a ``Returns:`` (or ``Yields:``) section unless it is annotated ``-> None``. A function
  without parameters needs neither (its summary line says what it returns).
- A public class whose constructor takes arguments (dataclass fields, or ``__init__`` parameters) names
  each of them in an ``Attributes:`` or ``Args:`` section of the class docstring.
- Sections come in the order Args, Attributes, Returns (or Yields), Raises.
"""

import ast
import re
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
SECTION = re.compile(r"^\s*(Args|Attributes|Returns|Yields|Raises):\s*$", re.MULTILINE)
ORDER = ["Args", "Attributes", "Returns", "Yields", "Raises"]
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def public(name: str) -> bool:
    return not name.startswith("_") or name == "__call__"


def sections(doc: str) -> dict[str, str]:
    """Section name -> its text (up to the next section or the end)."""
    hits = list(SECTION.finditer(doc))
    return {m.group(1): doc[m.end():hits[i + 1].start() if i + 1 < len(hits) else len(doc)]
            for i, m in enumerate(hits)}


def parameters(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return [n for n in names if n not in ("self", "cls")]


def is_dataclass(cls: ast.ClassDef) -> bool:
    return any("dataclass" in ast.unparse(d) for d in cls.decorator_list)


def fields(cls: ast.ClassDef) -> list[str]:
    """A dataclass's fields, or the ``__init__`` parameters of another class."""
    names = [s.target.id for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
             and is_dataclass(cls)]
    init = next((s for s in cls.body if isinstance(s, FUNCTIONS) and s.name == "__init__"), None)
    return names + (parameters(init) if init else [])


def named(text: str, names: list[str]) -> list[str]:
    """The names that ``text`` does not mention as a word."""
    return [n for n in names if not re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)]


def definitions():
    """(qualified name, node) of every public function, method and class in helpers/."""
    for path in sorted(HELPERS.rglob("*.py")):
        module = ".".join(path.relative_to(HELPERS.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, FUNCTIONS) and public(node.name):
                yield f"{module}.{node.name}", node
            elif isinstance(node, ast.ClassDef) and public(node.name):
                yield f"{module}.{node.name}", node
                yield from ((f"{module}.{node.name}.{m.name}", m) for m in node.body
                            if isinstance(m, FUNCTIONS) and public(m.name))


def problems(qualname: str, node: ast.AST) -> list[str]:
    doc = ast.get_docstring(node) or ""
    found = sections(doc)
    order = [ORDER.index(s) for s in found]
    out = [f"{qualname}: sections out of order {list(found)}"] if order != sorted(order) else []
    if isinstance(node, ast.ClassDef):
        names = fields(node)
        if names and not ({"Attributes", "Args"} & set(found)):
            out.append(f"{qualname}: no Attributes: or Args: section for {names}")
        elif names:
            missing = named(found.get("Attributes", "") + found.get("Args", ""), names)
            out += [f"{qualname}: fields not documented: {missing}"] if missing else []
        return out
    names = parameters(node)
    if not names:
        return out
    if "Args" not in found:
        out.append(f"{qualname}: no Args: section")
    else:
        missing = named(found["Args"], names)
        out += [f"{qualname}: parameters not in Args: {missing}"] if missing else []
    returns_none = isinstance(node.returns, ast.Constant) and node.returns.value is None
    if not returns_none and not ({"Returns", "Yields"} & set(found)):
        out.append(f"{qualname}: no Returns: section (annotate -> None if it returns nothing)")
    return out


def test_public_api_documents_args_returns_and_fields():
    found = [p for qualname, node in definitions() for p in problems(qualname, node)]
    assert not found, f"{len(found)} docstring problems:\n" + "\n".join(found)


def _parse(source: str) -> ast.AST:
    return ast.parse(source).body[0]


@pytest.mark.parametrize(("source", "expected"), [
    ('def f(x, y):\n    """Sum.\n\n    Args:\n        x, y: numbers.\n\n    Returns:\n        x + y."""\n', []),
    ('def f(x, y):\n    """Sum.\n\n    Args:\n        x: a number.\n\n    Returns:\n        x + y."""\n',
     ["m.f: parameters not in Args: ['y']"]),
    ('def f(x):\n    """Sum: x + 1, given x."""\n', ["m.f: no Args: section", "m.f: no Returns: section"]),
    ('def f(x) -> None:\n    """Print.\n\n    Args:\n        x: what."""\n', []),
    ('def f(x):\n    """Print.\n\n    Returns:\n        y.\n\n    Args:\n        x: what."""\n',
     ["m.f: sections out of order"]),
    ('def f():\n    """A constant."""\n', []),
    ('@dataclass\nclass C:\n    """A pair.\n\n    Attributes:\n        a: one."""\n    a: int\n    b: int\n',
     ["m.C: fields not documented: ['b']"]),
    ('class C:\n    """A thing."""\n    def __init__(self, n):\n        pass\n', ["m.C: no Attributes: or Args:"]),
])
def test_the_rule_on_hand_made_cases(source, expected):
    """The rule catches each kind of gap (and passes complete docstrings), so the test above can fail."""
    got = problems("m." + _parse(source).name, _parse(source))
    assert len(got) == len(expected) and all(g.startswith(e) for g, e in zip(got, expected, strict=True)), got
