"""Reading GRPOJob manifests from files and writing Kubernetes objects as a YAML stream.

Input is bounded before anything is built from it: at most 3 MiB of UTF-8 (the API server's request limit),
and per document at most MAX_EXPANDED nodes + characters once aliases are expanded and MAX_DEPTH levels of
nesting, so a YAML alias bomb ("billion laughs") or deeply nested flow collection is refused, not expanded.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from grpo_api.constants import GROUP, KIND

RENDER_UID = "00000000-0000-0000-0000-000000000000"  # stands in for the uid the API server assigns
MAX_MANIFEST_BYTES = 3 * 1024 * 1024  # the API server refuses larger requests
MAX_EXPANDED = 1024 * 1024  # nodes + characters of one document, aliases expanded (the config ConfigMap holds 1 MiB)
MAX_DEPTH = 100  # nesting levels of one document
_SURROGATE = re.compile("[\ud800-\udfff]")


class ManifestError(Exception):
    """The file cannot be read as YAML; the message names the file (and line when known)."""


@dataclass
class Document:
    index: int  # 0-based position in the YAML stream
    body: Any

    @property
    def label(self) -> str:
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return f"{KIND}/{name}" if isinstance(name, str) and name else f"document {self.index + 1}"


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that stops at MAX_DEPTH levels while scanning and composing (PyYAML's scanner slows
    quadratically with flow nesting and its composer recurses once per level)."""

    _depth = 0

    def _too_deep(self) -> ManifestError:
        return ManifestError(f"line {self.get_mark().line + 1}: nested more than {MAX_DEPTH} levels deep")

    def fetch_flow_collection_start(self, token_class):
        if self.flow_level >= MAX_DEPTH:
            raise self._too_deep()
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._too_deep()
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_document(root: yaml.Node, where: str) -> None:
    """Refuse a document whose alias expansion or nesting is too big, or a string that is not valid Unicode.
    Iterative post-order walk over the node graph (shared alias targets are sized once)."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            own = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
            size[key] = own + sum(size[id(c)] for c in _children(node))
            if size[key] > MAX_EXPANDED:
                line = node.start_mark.line + 1
                raise ManifestError(f"{where}: line {line}: too large once its YAML aliases are expanded (more than "
                                    f"{MAX_EXPANDED} nodes and characters); write the values out or use fewer aliases")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise ManifestError(f"{where}: line {node.start_mark.line + 1}: a YAML alias refers to its own parent "
                                "(a recursive structure)")
        if depth > MAX_DEPTH:
            raise ManifestError(f"{where}: line {node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.ScalarNode) and (bad := _SURROGATE.search(node.value)):
            raise ManifestError(f"{where}: line {node.start_mark.line + 1}: a string holds a lone surrogate "
                                f"{bad.group()!r}, which is not valid Unicode")
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node) if id(c) not in size)


def _read_text(path: str) -> str:
    try:
        with open("/dev/stdin" if path == "-" else path, "rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as err:
        raise ManifestError(f"{path}: cannot read the file: {err.strerror or err}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes (the API server's request limit)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ManifestError(f"{path}: line {line}: not UTF-8 text (byte {data[err.start]:#04x} at offset "
                            f"{err.start})") from None


def load_documents(path: str) -> list[Document]:
    """Every non-empty YAML document of `path` (`-` reads stdin)."""
    text = _read_text(path)
    docs = []
    loader = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters at once
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _check_document(node, f"{path}: document {len(docs) + 1}")
            docs.append(loader.construct_document(node) if node is not None else None)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ManifestError(f"{path}:{where}: not valid YAML: {problem}") from None
    except ManifestError as err:
        raise ManifestError(f"{path}: {err}") from None
    finally:
        if loader is not None:
            loader.dispose()
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
