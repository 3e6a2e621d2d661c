"""Write docs/contract.md and docs/features.md from the code that defines them.

    .venv/bin/python scripts/gen_docs.py

tests/test_docs.py fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sikta.engine.contract import CONTRACT, SURVEY_SCALES
from sikta.engine.features_catalog import FEATURE_DOCS, FEATURE_GROUPS, FEATURE_TYPES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def contract_md() -> str:
    lines = [
        "# The data contract",
        "",
        "Generated from `src/sikta/engine/contract.py` by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        "Only `accounts` (or `accounts: {derive_from: orders}` in the mapping) and one of `orders` /",
        "`subscriptions` are required. Every row that breaks a rule below is quarantined with file, row,",
        "column and reason; rows in = rows loaded + rows quarantined for every table. Rows are 1-based data",
        "rows: row 1 is the first row after the header.",
        "",
        "Rules applied to every table: required columns must exist in the file (else the whole ingest stops",
        "with one error naming the file); values must parse as their type (CSV and Excel text is trimmed;",
        "dates are ISO `YYYY-MM-DD[ HH:MM:SS]` unless the mapping sets `date_format`); whole numbers must fit",
        "in 64 bits; dates must lie between 1900-01-01 and 2100-12-31 (rows dated after the day of the ingest",
        "load, are counted, and never move the default as-of date); listed values are compared lower-case;",
        "keys are unique (checked after references, so the first *valid* occurrence is loaded and later ones",
        "are quarantined); references must point to a loaded row. Accounts' parent links must form a forest:",
        "self-parents, cycles, unknown parents and everything below them are quarantined. A CSV line that",
        "does not split into the header's columns (too few or too many fields, a quote never closed, only",
        "spaces) is quarantined with its row and the rest of the file loads; blank lines are not rows.",
        "Exact duplicate lines are counted (and quarantined with `dedupe: true`). Values that look like",
        "e-mail addresses read `<e-mail>` in every reason and quarantined record.",
        "",
        "The mapping file (column names, constants, extra columns, encodings, several sources per table) is",
        "described in [mapping.md](mapping.md).",
        "",
        "Survey scales: " + ", ".join(f"`{k}{'*' if k.endswith('_') else ''}` {lo:g}–{hi:g}" for k, (lo, hi) in SURVEY_SCALES.items()) + ".",
        "",
    ]
    for t in CONTRACT.values():
        lines += [f"## {t.name}", "", t.doc or "", ""]
        if t.key:
            lines.append(f"Key: `{', '.join(t.key)}`. ")
        refs = [f"`{r.column}` → `{r.table}.{r.target}`" for r in t.references]
        if refs:
            lines.append("References: " + ", ".join(refs) + ". ")
        if t.ordered:
            lines.append("Order: " + ", ".join(f"`{b}` ≥ `{a}`" for a, b in t.ordered) + ".")
        lines += ["", "| column | type | required | rule | notes |", "|---|---|---|---|---|"]
        for c in t.columns:
            rule = []
            if not c.nullable:
                rule.append("not empty")
            if c.allowed:
                rule.append("one of " + ", ".join(c.allowed))
            if c.min is not None:
                rule.append(f"≥ {c.min:g}")
            if c.max is not None:
                rule.append(f"≤ {c.max:g}")
            notes = c.doc + (" (personal data: redacted in quarantine, never exported by default)" if c.pii else "")
            lines.append(f"| `{c.name}` | {c.dtype} | {'yes' if c.required else ''} | {'; '.join(rule)} | {notes} |")
        lines.append("")
    return "\n".join(lines)


def features_md() -> str:
    lines = [
        "# The feature table",
        "",
        "Generated from `src/sikta/engine/features_catalog.py` by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        "One row per unit at the chosen grain (`ultimate_parent`, `account`, `department`), built in the",
        "engine by `sikta features` / `Workspace.features()`. Every feature uses only data up to `as_of`.",
        "The window is the `window_months` (default 12) months ending at `as_of`: (as_of − 12 months, as_of].",
        "Additive metrics (revenue, counts) are sums over the unit's member accounts, so their total is the",
        "same at every grain.",
        "",
    ]
    by_group: dict[str, list[str]] = {}
    for name in FEATURE_DOCS:
        by_group.setdefault(FEATURE_GROUPS.get(name, "other"), []).append(name)
    for group, names in by_group.items():
        lines += [f"## {group}", "", "| feature | type | definition |", "|---|---|---|"]
        lines += [f"| `{n}` | {FEATURE_TYPES.get(n, '')} | {FEATURE_DOCS[n]} |" for n in names]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "contract.md").write_text(contract_md(), encoding="utf-8")
    (DOCS / "features.md").write_text(features_md(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
