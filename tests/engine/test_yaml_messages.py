"""YAML mistakes are explained in plain words with the line (model and mapping files alike)."""

from __future__ import annotations

import pytest

from sikta.engine.mapping import Mapping
from sikta.engine.yamlspec import load_yaml_model
from sikta.errors import InputError


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("orders:\n  date_format: day: month\n", 2, "quote a value that contains ': '"),
        ("orders:\n  columns: [a, b\n", 3, "a list in [ ] is not closed"),
        ('orders:\n  file: "x.csv\n', 3, "a quote is opened and never closed"),
        ("orders:\n\tfile: x.csv\n", 2, "often a tab: indent with spaces"),
        ("orders:\n  file: a.csv\n  file: b.csv\n", 3, "key 'file' appears twice (first on line 2)"),
    ],
)
def test_yaml_mistakes_in_plain_words(text, line, words):
    with pytest.raises(InputError) as exc:
        load_yaml_model(Mapping, text, source="m.yaml")
    msg = str(exc.value)
    assert msg.startswith(f"m.yaml:{line}: ") and words in msg and "\n" not in msg, msg
