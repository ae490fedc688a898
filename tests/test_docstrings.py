"""The public API of ``helpers`` has docstrings whose sections say what the names do not.

The rule, read from the source (no import, so it runs without TensorFlow):

- Every public module-level function and class, and every public method of a public class except a
  property, has a docstring (public: no leading underscore, or ``__call__``).
- Sections (tf-keras-vis style) come in the order Args, Attributes, Returns (or Yields), Raises. None is
  required: a parameter or a result is listed only where there is something to say about it (a shape, a
  dtype, a unit, a range, what it means, what None means).
- Every name listed under ``Args:`` or ``Attributes:`` (grouped entries such as ``low, high:`` count each
  name) is real: a parameter of the function; for a class, a constructor argument, a dataclass field, a
  name assigned in the class body or on ``self`` in one of its methods. No stale names.
- No entry says nothing. An ``Args:``/``Attributes:`` entry, or the whole of a ``Returns:``/``Yields:``
  section, fails when, lowercased, with its markup (``:class:`~a.B```, backquotes), a leading article
  (the, a, an), underscores and its final full stop taken away, it is empty, one of ``CONTENTLESS`` (e.g.
  "the figure.", "the paths written."), the entry's own name (``foo: the foo.``; a Returns section: the
  function's name), or its annotation's name (``bundle: ModelBundle`` documented as "the model bundle.";
  ``-> Result`` documented as "the :class:`Result`."). Anything longer passes: "the text; 'not measured'
  for no flags" says something the annotation does not; so does a Returns naming a parameter in backquotes
  ("``path``": the very object passed in). ``NOT_YET_TRIMMED`` lists the modules this check skips for now.
"""

import ast
import re
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
SECTION = re.compile(r"^\s*(Args|Attributes|Returns|Yields|Raises):\s*$", re.MULTILINE)
ORDER = ["Args", "Attributes", "Returns", "Yields", "Raises"]
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
ENTRY = re.compile(r"(\**\w+(?:\s*,\s*\**\w+)*)\s*:(?:\s+|$)")
# normalised entries (see normalised) that only name the kind of thing passed or returned: "the figure."
CONTENTLESS = {"figure", "figures", "paths written", "path written", "text", "table", "tables", "result", "results",
               "lines", "paragraph", "row", "rows", "function", "string", "list", "dict", "dictionary", "array",
               "object", "data frame", "dataframe"}
# modules that others are reworking now (issue 29): the contentless-entry check skips them until they are trimmed;
# every other check holds for them. Remove a module from here once its docstrings are trimmed.
NOT_YET_TRIMMED = ()


def public(name: str) -> bool:
    return not name.startswith("_") or name == "__call__"


def sections(doc: str) -> dict[str, str]:
    """Section name -> its text (up to the next section or the end)."""
    hits = list(SECTION.finditer(doc))
    return {m.group(1): doc[m.end():hits[i + 1].start() if i + 1 < len(hits) else len(doc)]
            for i, m in enumerate(hits)}


def entries(text: str) -> list[tuple[list[str], str]]:
    """The ``names: text`` entries of an Args or Attributes section: (names, the entry's text, joined)."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return []
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    out: list[tuple[list[str], str]] = []
    for line in lines:
        m = ENTRY.match(line.strip()) if len(line) - len(line.lstrip()) == indent else None
        if m:
            out.append(([n.strip().lstrip("*") for n in m.group(1).split(",")], line.strip()[m.end():]))
        elif out:
            out[-1] = (out[-1][0], f"{out[-1][1]} {line.strip()}")
        else:
            out.append(([], line.strip()))  # text before any entry: an entry without a name
    return out


def parameters(fn: ast.FunctionDef) -> dict[str, ast.expr | None]:
    """Parameter name -> its annotation (``self`` and ``cls`` aside)."""
    a = fn.args
    args = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x is not None)]
    return {x.arg: x.annotation for x in args if x.arg not in ("self", "cls")}


def is_dataclass(cls: ast.ClassDef) -> bool:
    return any("dataclass" in ast.unparse(d) for d in cls.decorator_list)


def fields(cls: ast.ClassDef) -> dict[str, ast.expr | None]:
    """Name -> annotation of a class's documentable names: constructor arguments and dataclass fields, names
    assigned in its body, its methods, and names assigned on ``self`` in its methods."""
    names: dict[str, ast.expr | None] = {}
    for s in cls.body:
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
            names[s.target.id] = s.annotation
        elif isinstance(s, ast.Assign):
            names.update({t.id: None for t in s.targets if isinstance(t, ast.Name)})
        elif isinstance(s, FUNCTIONS):
            names.setdefault(s.name, None)
            if s.name == "__init__":
                names.update(parameters(s))
            for node in ast.walk(s):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, ast.AnnAssign) else []
                for t in (e for target in targets
                          for e in (target.elts if isinstance(target, ast.Tuple) else [target])):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        names.setdefault(t.attr, node.annotation if isinstance(node, ast.AnnAssign) else None)
    return names


def normalised(text: str) -> str:
    """Lowercase, markup (``:class:`~a.B``` -> b, backquotes) and underscores gone, no leading article or
    final full stop."""
    text = re.sub(r":\w+:`~?([\w.]*?)(\w+)`", r"\2", text)
    text = " ".join(text.replace("`", "").replace("_", " ").lower().split()).rstrip(".").strip()
    return re.sub(r"^(the|a|an)\s+", "", text)


def type_names(annotation: ast.expr | None) -> set[str]:
    """The normalised ways to write an annotation's name: ``ModelBundle`` -> {"modelbundle", "model bundle"}."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):  # a string annotation
        annotation = ast.parse(annotation.value, mode="eval").body
    name = annotation.id if isinstance(annotation, ast.Name) else \
        annotation.attr if isinstance(annotation, ast.Attribute) else None
    return {name.lower(), " ".join(re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name)).lower()} if name else set()


def contentless(text: str, names: list[str], annotation: ast.expr | None = None) -> bool:
    """Whether ``text``, documenting ``names`` of type ``annotation``, only restates the name or the type."""
    core = normalised(text)
    return (not core or core in CONTENTLESS or core in {n.replace("_", " ").lower() for n in names}
            or core in type_names(annotation))


def definitions():
    """(qualified name, node, its class or None) of every public function, method and class in helpers/."""
    for path in sorted(HELPERS.rglob("*.py")):
        module = ".".join(path.relative_to(HELPERS.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, FUNCTIONS) and public(node.name):
                yield f"{module}.{node.name}", node, None
            elif isinstance(node, ast.ClassDef) and public(node.name):
                yield f"{module}.{node.name}", node, None
                yield from ((f"{module}.{node.name}.{m.name}", m, node) for m in node.body
                            if isinstance(m, FUNCTIONS) and public(m.name))


def problems(qualname: str, node: ast.AST, cls: ast.ClassDef | None = None) -> list[str]:
    doc = ast.get_docstring(node)
    if doc is None:
        is_property = any(ast.unparse(d).endswith(("property", ".setter")) for d in getattr(node, "decorator_list", []))
        return [] if cls is not None and is_property else [f"{qualname}: no docstring"]
    found = sections(doc)
    order = [ORDER.index(s) for s in found]
    out = [f"{qualname}: sections out of order {list(found)}"] if order != sorted(order) else []
    real = fields(node) if isinstance(node, ast.ClassDef) else parameters(node)
    check_content = not qualname.startswith(NOT_YET_TRIMMED)
    for section in ("Args", "Attributes"):
        for names, text in entries(found.get(section, "")):
            stale = [n for n in names if n not in real] if names else ["(no name)"]
            out += [f"{qualname}: {section} lists what it does not have: {stale}"] if stale else []
            if check_content and contentless(text, names, real.get(names[0]) if len(names) == 1 else None):
                out.append(f"{qualname}: {section} entry says nothing: {', '.join(names)}: {text.strip()!r}")
    for section in ("Returns", "Yields"):
        returns_an_argument = any(f"``{n}``" in found.get(section, "") for n in real)  # "``path``": the same object
        if check_content and section in found and not returns_an_argument and \
                contentless(found[section], [getattr(node, "name", "")], getattr(node, "returns", None)):
            out.append(f"{qualname}: {section} says nothing: {found[section].strip()!r}")
    return out


def test_public_api_docstrings_say_what_the_names_do_not():
    found = [p for qualname, node, cls in definitions() for p in problems(qualname, node, cls)]
    assert not found, f"{len(found)} docstring problems:\n" + "\n".join(found)


def _parse(source: str) -> ast.AST:
    return ast.parse(source).body[0]


@pytest.mark.parametrize(("source", "expected"), [
    ('def f(x, y):\n    """Sum.\n\n    Args:\n        x, y: numbers, in metres.\n\n    Returns:\n        x + y."""\n',
     []),
    ('def f(x, y):\n    """Sum of x and y, in metres."""\n', []),
    ('def f(x):\n    return x\n', ["m.f: no docstring"]),
    ('def f(x):\n    """Sum.\n\n    Args:\n        x: a number.\n        z: another."""\n',
     ["m.f: Args lists what it does not have: ['z']"]),
    ('def f(x):\n    """Print.\n\n    Returns:\n        y, in m.\n\n    Args:\n        x: what."""\n',
     ["m.f: sections out of order"]),
    ('def f(fig) -> Figure:\n    """Plot.\n\n    Returns:\n        the figure."""\n', ["m.f: Returns says nothing"]),
    ('def f(d):\n    """Write.\n\n    Returns:\n        the paths written."""\n', ["m.f: Returns says nothing"]),
    ('def f(d) -> "Result":\n    """Run.\n\n    Returns:\n        the :class:`~helpers.x.Result`."""\n',
     ["m.f: Returns says nothing"]),
    ('def caption(d) -> str:\n    """Make.\n\n    Returns:\n        The caption"""\n',
     ["m.caption: Returns says nothing"]),
    ('def f(d) -> str:\n    """Make.\n\n    Returns:\n        the text; \'\' when d is empty."""\n', []),
    ('def f(foo, bar_baz):\n    """Do.\n\n    Args:\n        foo: the foo.\n        bar_baz: the bar baz"""\n',
     ["m.f: Args entry says nothing: foo", "m.f: Args entry says nothing: bar_baz"]),
    ('def f(bundle: ModelBundle):\n    """Do.\n\n    Args:\n        bundle: the model bundle."""\n',
     ["m.f: Args entry says nothing: bundle"]),
    ('def f(bundle: ModelBundle):\n    """Do.\n\n    Args:\n        bundle: its model must be compiled."""\n', []),
    ('def f(x):\n    """Do.\n\n    Args:\n        x:\n\n    Returns:\n    """\n',
     ["m.f: Args entry says nothing: x", "m.f: Returns says nothing"]),
    ('@dataclass\nclass C:\n    """A pair.\n\n    Attributes:\n        a: one, in m.\n        c: gone."""\n'
     '    a: int\n',
     ["m.C: Attributes lists what it does not have: ['c']"]),
    ('class C:\n    """A thing.\n\n    Attributes:\n        t: None before fit."""\n    def fit(self):\n'
     '        """Fit."""\n        self.t = 1\n', []),
    ('def f(path) -> Path:\n    """Write.\n\n    Returns:\n        ``path``."""\n', []),
    ('class C:\n    """A thing."""\n    @property\n    def n(self):\n        return 1\n', []),
])
def test_the_rule_on_hand_made_cases(source, expected):
    """The rule catches each kind of fault (and passes good docstrings), so the test above can fail."""
    node = _parse(source)
    got = [p for q, n, c in [("m." + node.name, node, None)] + [
        (f"m.{node.name}.{m.name}", m, node) for m in getattr(node, "body", []) if isinstance(m, FUNCTIONS)]
        for p in problems(q, n, c)]
    assert len(got) == len(expected) and all(g.startswith(e) for g, e in zip(got, expected, strict=True)), got
