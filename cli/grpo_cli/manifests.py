"""Reading GRPOJob manifests from files and writing Kubernetes objects as a YAML stream."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grpo_api.constants import GROUP, KIND

RENDER_UID = "00000000-0000-0000-0000-000000000000"  # stands in for the uid the API server assigns


class ManifestError(Exception):
    """The file cannot be read as YAML; the message names the file (and line when known)."""


@dataclass
class Document:
    index: int  # 0-based position in the YAML stream
    body: Any

    @property
    def label(self) -> str:
        name = self.body.get("metadata", {}).get("name") if isinstance(self.body, dict) else None
        return f"{KIND}/{name}" if name else f"document {self.index + 1}"


def load_documents(path: str) -> list[Document]:
    """Every non-empty YAML document of `path` (`-` reads stdin)."""
    try:
        text = Path("/dev/stdin").read_text() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise ManifestError(f"{path}: cannot read the file: {err.strerror or err}") from None
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ManifestError(f"{path}:{where}: not valid YAML: {problem}") from None
    return [Document(i, d) for i, d in enumerate(docs) if d is not None]


def is_grpojob(body: Any) -> bool:
    """A document meant as a GRPOJob: kind GRPOJob, or any kind in the grpo.dev API group (a typo'd kind)."""
    if not isinstance(body, dict):
        return False
    api_group = str(body.get("apiVersion", "")).split("/", 1)[0]
    return body.get("kind") == KIND or api_group == GROUP


def grpojob_documents(docs: list[Document]) -> Iterator[Document]:
    return (d for d in docs if is_grpojob(d.body))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the job JSON, inline reward code) as `|` blocks, readable in a diff."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_stream(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=120)
