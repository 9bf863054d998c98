"""The GRPOJob object (apiVersion, kind, metadata, spec, status) and readable validation errors."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .constants import API_VERSION, KIND, MAX_NAME_LENGTH
from .core_v1 import AnnotationMap, LabelMap
from .k8s_rules import DNS1035_LABEL_PATTERN
from .spec import GRPOJobSpec
from .status import GRPOJobStatus


class ObjectMeta(BaseModel):
    """The part of metav1.ObjectMeta the API cares about; everything else is kept as is."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str | None = None
    generate_name: str | None = Field(None, alias="generateName")
    namespace: str | None = None
    labels: LabelMap | None = None  # the Kueue queue label is copied onto the children
    annotations: AnnotationMap | None = None

    @field_validator("name")
    @classmethod
    def _name_fits_children(cls, name: str | None) -> str | None:
        if name is None:
            return name
        import re

        if len(name) > MAX_NAME_LENGTH:
            raise ValueError(
                f"must be at most {MAX_NAME_LENGTH} characters so child names (RayJob, Job, ConfigMaps) fit "
                f"(got {len(name)}: {name!r})")
        if not re.match(DNS1035_LABEL_PATTERN, name):
            raise ValueError("must be a DNS-1035 label (it names Services and RayJobs): lower-case letters, digits "
                             f"and '-', starting with a letter (got {name!r})")
        return name


class GRPOJob(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: str = Field(API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: GRPOJobSpec
    status: GRPOJobStatus | None = None

    @field_validator("api_version", "kind")
    @classmethod
    def _type_fields(cls, v: str, info) -> str:
        expected = {"api_version": API_VERSION, "kind": KIND}[info.field_name]
        if v != expected:
            raise ValueError(f"must be {expected!r} (got {v!r})")
        return v

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class GRPOJobInvalid(ValueError):
    """A manifest that does not satisfy the GRPOJob API; `errors` holds one readable line per problem."""

    def __init__(self, errors: list[str], source: str | None = None):
        self.errors = errors
        head = f"invalid GRPOJob{f' in {source}' if source else ''}"
        super().__init__(head + ":\n" + "\n".join(f"  - {e}" for e in errors))


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def format_validation_error(err: ValidationError) -> list[str]:
    """One line per problem: `<field path>: <what is wrong> (got <value>)`."""
    lines = []
    for e in err.errors(include_url=False):
        path = _loc_to_path(e["loc"]) or "(root)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see README: GRPOJob reference)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif "got" not in msg and e["type"] not in ("value_error", "assertion_error"):
            msg += f" (got {e.get('input')!r})"
        # one model validator may report several broken rules at once: one line each
        lines.extend(f"{path}: {part}" for part in msg.split("\n"))
    return lines


def parse_grpojob(obj: dict[str, Any], source: str | None = None) -> GRPOJob:
    """Validate a manifest dict; raise GRPOJobInvalid with every problem, each naming its field."""
    if not isinstance(obj, dict):
        raise GRPOJobInvalid([f"(root): expected a mapping (a GRPOJob manifest), got {type(obj).__name__}"], source)
    try:
        return GRPOJob.model_validate(obj)
    except ValidationError as err:
        raise GRPOJobInvalid(format_validation_error(err), source) from None
