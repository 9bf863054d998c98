"""The README's GRPOJob reference table, generated from the models (a test keeps README in sync).

`python -m grpo_api.docs` prints the table; `--write README.md` replaces the block between the
markers in place.
"""

import argparse
import json
import re
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .spec import GRPOJobSpec
from .verl_keys import FIELD_TO_VERL_KEY

BEGIN = "<!-- BEGIN GENERATED: grpojob-reference -->"
END = "<!-- END GENERATED: grpojob-reference -->"

# Groups whose sub-fields are Kubernetes pass-through types: listed once, not expanded.
_NOT_EXPANDED = {"pod", "data.train", "data.val", "reward.configMapRef"}


def _model_of(annotation) -> type[BaseModel] | None:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is list:
        return "list"
    if origin is dict:
        return "map"
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    model = _model_of(annotation)
    if model is not None:
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        return "" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"
    if field.default is None or field.default is PydanticUndefined:
        return ""
    return f"`{json.dumps(field.default)}`"


def _rows(model: type[BaseModel], prefix: str):
    for name, field in model.model_fields.items():
        alias = field.alias or name
        path = f"{prefix}{alias}"
        sub = _model_of(field.annotation)
        verl = FIELD_TO_VERL_KEY.get(path, "")
        desc = (field.description or "").replace("|", "\\|")
        if sub is not None and path not in _NOT_EXPANDED and typing.get_origin(field.annotation) is not list:
            yield (path, "object", _default(field), verl, desc)
            yield from _rows(sub, path + ".")
        else:
            yield (path, _type_name(field.annotation), _default(field), verl, desc)


def reference_table() -> str:
    lines = ["| `spec.` field | type | default | verl key | description |", "|---|---|---|---|---|"]
    for path, type_, default, verl, desc in _rows(GRPOJobSpec, ""):
        lines.append(f"| `{path}` | {type_} | {default} | {f'`{verl}`' if verl else ''} | {desc} |")
    return "\n".join(lines)


def generated_block() -> str:
    return f"{BEGIN}\n{reference_table()}\n{END}"


def replace_block(text: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"markers {BEGIN} ... {END} not found")
    return pattern.sub(lambda _: generated_block(), text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="update the generated block in this file (README.md)")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(replace_block(args.write.read_text()))
    else:
        sys.stdout.write(reference_table() + "\n")


if __name__ == "__main__":
    main()
