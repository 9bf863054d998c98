#!/usr/bin/env python3
"""Print the values table of charts/grpo-operator (markdown) from the helm-docs comments in values.yaml.

A key is documented by the `# -- text` comment block right above it (continued by further `#` lines), as
helm-docs reads it. The default is the key's value in values.yaml (a documented mapping is shown whole).

    python scripts/chart_values_table.py [charts/grpo-operator/values.yaml]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

DEFAULT_VALUES = Path(__file__).resolve().parent.parent / "charts" / "grpo-operator" / "values.yaml"
_KEY = re.compile(r"^(\s*)([A-Za-z_][\w.-]*):")


class UndocumentedError(ValueError):
    pass


def documented_keys(text: str) -> list[tuple[str, str]]:
    """(dotted key, description) for every key with a `# --` comment, in file order."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []  # (indent, key)
    pending: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending is not None:
            pending.append(stripped[1:].strip())
            continue
        m = _KEY.match(line)
        if not m:
            if stripped and not stripped.startswith("-") and pending is not None:
                raise UndocumentedError(f"line {lineno}: `# --` comment not followed by a key")
            continue
        indent, key = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if pending is not None:
            out.append((".".join(k for _, k in stack), " ".join(pending)))
            pending = None
    return out


def lookup(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        node = node[part]
    return node


def _type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def values_table(values_path: Path = DEFAULT_VALUES) -> str:
    text = values_path.read_text()
    values = yaml.safe_load(text)
    rows = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for key, desc in documented_keys(text):
        value = lookup(values, key)
        default = json.dumps(value, separators=(",", ":"))
        cell = desc.replace("|", "\\|")
        rows.append(f"| `{key}` | {_type(value)} | `{default}` | {cell} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(values_table(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_VALUES))
