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


def test_the_python_error_says_the_rule_and_the_bad_values():
    class Obj:
        a = -2

    plain = Rule(cel="self.a > 0", message="a must be positive", check=lambda o: o.a > 0)
    assert plain.error(Obj()) == "a must be positive"
    with_values = Rule(cel="self.a > 0", message="a must be positive", check=lambda o: o.a > 0,
                       detail=lambda o: f"a={o.a}")
    assert with_values.error(Obj()) == "a must be positive (got a=-2)"
    whole = Rule(cel="self.a > 0", message="a must be positive", check=lambda o: o.a > 0,
                 detail=lambda o: f"a is {o.a}; it must be positive", detail_is_message=True)
    assert whole.error(Obj()) == "a is -2; it must be positive"
    # detail_is_message without a detail falls back to the message, never calls None
    odd = Rule(cel="self.a > 0", message="a must be positive", check=lambda o: o.a > 0, detail_is_message=True)
    assert odd.error(Obj()) == "a must be positive"
    Obj.a = 3
    assert plain.error(Obj()) is None and whole.error(Obj()) is None
