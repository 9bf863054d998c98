"""Cross-field rules, written once and used twice.

Each rule carries a CEL expression (emitted into the CRD as `x-kubernetes-validations`, so the API server
rejects the object at `kubectl apply`) and the same check as a Python predicate (run by the pydantic models,
so `grpo validate`, `./train.sh` and the operator reject the same objects with the same words).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    cel: str
    message: str  # static text for the API server; names the fields
    check: Callable[[Any], bool]  # True when the object is valid
    detail: Callable[[Any], str] | None = None  # the bad values, for the Python error
    field_path: str | None = None  # CEL fieldPath (relative to the object carrying the rule)
    detail_is_message: bool = False  # the Python error is `detail` alone (it already says what and why, with numbers)

    def to_cel(self) -> dict[str, str]:
        out = {"rule": self.cel, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        return out

    def error(self, obj: Any) -> str | None:
        if self.check(obj):
            return None
        if self.detail and self.detail_is_message:
            return self.detail(obj)
        return self.message + (f" (got {self.detail(obj)})" if self.detail else "")
