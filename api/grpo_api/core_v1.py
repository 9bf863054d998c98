"""core/v1 shapes the GRPOJob passes through to its pods, typed so the CRD schema, the models and the API server
agree, plus `checked()`: a string type validated by a k8s_rules function (and, in the CRD, by a pattern or CEL).

Only what a trainer pod needs from core/v1 Affinity is modelled, field for field (names and enums as in
k8s.io/api/core/v1/types.go); the value rules follow k8s.io/kubernetes/pkg/apis/core/validation.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from . import k8s_rules
from .base import APIModel
from .rules import Rule


def checked(check: Callable[[str], list[str]], *, pattern: str | None = None, cel: str | None = None,
            message: str | None = None, **field: Any) -> Any:
    """A str validated by `check` (a k8s_rules function); the CRD gets `pattern` and/or the CEL rule."""

    def validate(value: str) -> str:
        errs = check(value)
        if errs:
            raise ValueError("; ".join(errs) + f" (got {value!r})")
        return value

    extra: dict[str, Any] = {}
    if pattern:
        extra["pattern"] = pattern
    if cel:
        extra["x-kubernetes-validations"] = [{"rule": cel, "message": message or "invalid value"}]
    return Annotated[str, Field(json_schema_extra=extra or None, **field), AfterValidator(validate)]


def labels_checked(check: Callable[[dict[str, str]], list[str]]) -> Any:
    """A str->str map validated as a whole (label keys/values, annotation size)."""

    def validate(value: dict[str, str]) -> dict[str, str]:
        errs = check(value)
        if errs:
            raise ValueError("; ".join(errs))
        return value

    return AfterValidator(validate)


LabelValue = checked(k8s_rules.is_label_value, pattern=k8s_rules.LABEL_VALUE_PATTERN,
                     max_length=k8s_rules.LABEL_VALUE_MAX_LENGTH)
LabelMap = Annotated[dict[str, LabelValue], labels_checked(k8s_rules.validate_labels)]
AnnotationMap = Annotated[dict[str, str], labels_checked(k8s_rules.validate_annotations)]
QualifiedName = checked(k8s_rules.is_qualified_name, min_length=1, max_length=317)


# --- Affinity ---------------------------------------------------------------------------------------------

_SET_OPERATORS = ("In", "NotIn")


def _requirement_rule(numeric: bool) -> Rule:
    """In/NotIn need values, Exists/DoesNotExist none, Gt/Lt exactly one integer (node selectors only)."""
    cel = ("(self.operator in ['In', 'NotIn']) ? (has(self.values) && size(self.values) > 0) : "
           "((self.operator in ['Gt', 'Lt']) ? (has(self.values) && size(self.values) == 1) : "
           "(!has(self.values) || size(self.values) == 0))")

    def check(r: Any) -> bool:
        values = r.values or []
        if r.operator in _SET_OPERATORS:
            return bool(values)
        if r.operator in ("Gt", "Lt"):
            return len(values) == 1 and values[0].lstrip("-").isdigit()
        return not values

    return Rule(cel=cel, message=("values: must be non-empty for In/NotIn, empty for Exists/DoesNotExist"
                                  + (", one integer for Gt/Lt" if numeric else "")),
                check=check, detail=lambda r: f"operator={r.operator}, values={r.values}")


class NodeSelectorRequirement(APIModel):
    __rules__ = (_requirement_rule(numeric=True),)

    key: QualifiedName
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(APIModel):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(APIModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(APIModel):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(APIModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class LabelSelectorRequirement(APIModel):
    __rules__ = (_requirement_rule(numeric=False),)

    key: QualifiedName
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[LabelValue] | None = None


class LabelSelector(APIModel):
    match_labels: LabelMap | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class PodAffinityTerm(APIModel):
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    topology_key: QualifiedName
    match_label_keys: list[QualifiedName] | None = None
    mismatch_label_keys: list[QualifiedName] | None = None


class WeightedPodAffinityTerm(APIModel):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(APIModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class Affinity(APIModel):
    """core/v1 Affinity."""

    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None
