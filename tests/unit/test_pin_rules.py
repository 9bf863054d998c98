"""Pins grpo_api.rules.Rule: a rule is a shared, immutable constant (one object emitted into the CRD and run by
the models), so nothing can change a rule in place after the CRD was generated from it."""

from __future__ import annotations

import dataclasses

import pytest

from grpo_api.rules import Rule


def test_rules_are_immutable_and_hashable():
    rule = Rule(cel="self.a > 0", message="a must be positive", check=lambda o: o.a > 0, field_path=".a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.message = "changed"  # type: ignore[misc]
    assert {rule: 1}[rule] == 1
    assert rule.to_cel() == {"rule": "self.a > 0", "message": "a must be positive", "fieldPath": ".a"}
    assert Rule(cel="x", message="m", check=bool).to_cel() == {"rule": "x", "message": "m"}
