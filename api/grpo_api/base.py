"""Shared pydantic base for every GRPOJob API model.

Python attributes are snake_case; the Kubernetes wire format is camelCase (the alias). Unknown fields are
rejected so a typo such as `rolloutn` is an error, not a silently ignored setting. A model's cross-field
`__rules__` run as a pydantic validator and are emitted into its JSON schema as CEL
(`x-kubernetes-validations`), so the API server and the Python code enforce the same rules.
"""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from .rules import Rule


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class APIModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
    )

    __rules__: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _run_rules(self):
        errors = [e for r in self.__rules__ if (e := r.error(self))]
        if errors:
            raise ValueError("\n".join(errors))
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        schema = handler(core_schema)
        if cls.__rules__:
            target = handler.resolve_ref_schema(schema)
            target["x-kubernetes-validations"] = [r.to_cel() for r in cls.__rules__]
        return schema

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict as stored in Kubernetes, with every default filled in."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
