"""Load a YAML file into a pydantic model; every error names file and line.

Shared by the column mapping (ingest) and the segmentation model file, both
of which users keep under version control and edit by hand, and which the
REST API accepts from any analyst. A hostile file must cost little: before
anything is built, one streaming pass over the YAML events (no recursion)
refuses a text over :data:`MAX_CHARS`, nesting deeper than :data:`MAX_DEPTH`,
and aliases that would expand the document past :data:`MAX_NODES` values
(the "billion laughs": 1.3 KB of anchors that stand for 10^9 strings) or
that refer to the node containing them. A plain file uses anchors freely.

Examples
--------
>>> from pydantic import BaseModel
>>> class Cfg(BaseModel):
...     size: int
>>> load_yaml_model(Cfg, "size: 3\\n", source="cfg.yaml").size
3
>>> try:
...     load_yaml_model(Cfg, "size: big\\n", source="cfg.yaml")
... except InputError as exc:
...     print(exc)
cfg.yaml:1: size: Input should be a valid integer, unable to parse string as an integer
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sikta.errors import InputError

M = TypeVar("M", bound=BaseModel)

#: the longest YAML text accepted (a real model or mapping file is a few KB)
MAX_CHARS = 1_000_000
#: the deepest nesting of mappings and lists (a model file needs about 6)
MAX_DEPTH = 50
#: the most values (scalars, mappings, lists) the document may hold with every alias expanded
MAX_NODES = 100_000
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the same events, faster


def check_size(text: str, *, source: str, error: type[InputError] = InputError) -> None:
    r"""Refuse YAML whose text, nesting or expanded aliases are too big, in one bounded pass.

    Examples
    --------
    >>> check_size("base: &b {x: 1}\nother: *b\n", source="ok.yaml")
    >>> bomb = "a: &a [1, 1]\n" + "".join(f"{q}: &{q} [*{p}, *{p}, *{p}]\n" for p, q in zip("abcdefghijklm", "bcdefghijklmn"))
    >>> try:
    ...     check_size(bomb, source="bomb.yaml")
    ... except InputError as exc:
    ...     print(exc)
    bomb.yaml:10: its aliases expand it to more than 100,000 values: write the values out, or use fewer aliases
    """
    if len(text) > MAX_CHARS:
        raise error(f"{source}: {len(text):,} characters is too long for a YAML file here (at most {MAX_CHARS:,})")
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    stack: list[list] = []  # open mappings and lists: [values so far, anchor]
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise error(f"{source}:{line}: nested more than {MAX_DEPTH} levels deep")
                stack.append([1, event.anchor])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                n, anchor = stack.pop()
                if anchor is not None:
                    sizes[anchor] = n
            elif isinstance(event, yaml.ScalarEvent):
                n = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in sizes:
                    if any(a == event.anchor for _, a in stack):
                        raise error(f"{source}:{line}: the alias *{event.anchor} refers to the value that contains it")
                    continue  # an undefined alias: the parser says so below, with its line
                n = sizes[event.anchor]
            else:
                continue
            if stack:
                stack[-1][0] += n
            else:
                total += n
            if total + sum(s for s, _ in stack) > MAX_NODES:
                raise error(f"{source}:{line}: its aliases expand it to more than {MAX_NODES:,} values: "
                            "write the values out, or use fewer aliases")
    except yaml.YAMLError:
        return  # the loader below reports the syntax error with its line


def line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    r"""Map every key path of a composed YAML tree to its 1-based line.

    Examples
    --------
    >>> line_index(yaml.compose("name: m\npotential:\n  - feature: x\n"))[("potential", 0, "feature")]
    3
    """
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            line_index(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            line_index(item, (*path, i), out)
    return out


def nearest_line(lines: dict[tuple, int], loc: tuple) -> int:
    """The line of ``loc``, or of its nearest ancestor that has one (1 when none does).

    Examples
    --------
    >>> nearest_line({("a",): 2, ("a", "b"): 3}, ("a", "c", 0))
    2
    """
    for cut in range(len(loc), -1, -1):
        key = tuple(loc[:cut])
        if key in lines:
            return lines[key]
    return 1


def load_yaml_model(model: type[M], text: str, *, source: str, error: type[InputError] = InputError) -> M:
    """Parse ``text`` and validate it as ``model``.

    Parameters
    ----------
    model
        The pydantic model class.
    text
        YAML text.
    source
        File name used in error messages.
    error
        The :class:`InputError` subclass to raise.

    Raises
    ------
    InputError
        ``"<source>:<line>: <field path>: <what is wrong>"`` for the first problem.
    """
    check_size(text, source=source, error=error)
    try:
        node = yaml.compose(text, Loader=_Loader)
        data: Any = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}:{line}: not valid YAML: {problem}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise error(f"{source}: a value cannot be read: {str(exc).split(':')[0]}") from None
    if data is None:
        data = {}
    lines = line_index(node) if node is not None else {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise error(f"{source}:{nearest_line(lines, loc)}: {where}: {msg}") from None


def load_yaml_file(model: type[M], path: str | Path, *, error: type[InputError] = InputError) -> M:
    """Read ``path`` and validate it as ``model`` (see :func:`load_yaml_model`)."""
    p = Path(path)
    try:
        if not p.is_file():
            raise error(f"{p}: file not found" if not p.exists() else f"{p}: not a file")
        with p.open("rb") as f:  # at most one byte past the limit: /dev/zero or a huge file cost nothing
            raw = f.read(4 * MAX_CHARS + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise error(f"{p}: file not found") from None
    except UnicodeDecodeError:
        raise error(f"{p}: cannot read: not UTF-8 text") from None
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc}") from None
    return load_yaml_model(model, text, source=str(p), error=error)
