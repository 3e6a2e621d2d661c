"""Load a YAML file into a pydantic model; every error names file and line.

Shared by the column mapping (ingest) and the segmentation model file, both
of which users keep under version control and edit by hand.

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


def _yaml_path(loc: tuple, lines: dict[tuple, int]) -> tuple:
    """``loc`` without the steps pydantic adds that the YAML lacks (the tag of a tagged union).

    Examples
    --------
    >>> _yaml_path(("schemes", "s", "needs", "k_max"), {("schemes",): 1, ("schemes", "s"): 2, ("schemes", "s", "k_max"): 3})
    ('schemes', 's', 'k_max')
    """
    out: list = []
    for i, step in enumerate(loc):
        if (*out, step) not in lines and i + 1 < len(loc) and (*out, loc[i + 1]) in lines:
            continue
        out.append(step)
    return tuple(out)


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
    try:
        node = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}:{line}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    lines = line_index(node) if node is not None else {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _yaml_path(tuple(p for p in first["loc"] if not str(p).startswith("function-")), lines)
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise error(f"{source}:{nearest_line(lines, loc)}: {where}: {msg}") from None


def load_yaml_file(model: type[M], path: str | Path, *, error: type[InputError] = InputError) -> M:
    """Read ``path`` and validate it as ``model`` (see :func:`load_yaml_model`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{p}: cannot read: {exc}") from None
    return load_yaml_model(model, text, source=str(p), error=error)
