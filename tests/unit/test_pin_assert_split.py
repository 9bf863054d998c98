"""Pins for the split of an `assert` test (rewards/assert_split.py): which parts the untrusted program computes
(the probes, sent back as plain data) and which the trainer evaluates itself, and the verdict on the returned
data. This is the code reward's last line against a policy that games the checker: a program that redefines
`len`, or returns an object whose `__eq__` is always true, must gain nothing. Pure and fast: no sandbox here
(tests/unit/test_reward_code.py runs the same tests through it)."""

import pytest

from trainer_entry.rewards.assert_split import isclose_names, plan_source


def verdict(statement, values, setup=""):
    return plan_source(statement, setup).passed(values)


@pytest.mark.parametrize(("statement", "probes"), [
    ("assert f(3) == [1, 2]", ["f(3)"]),  # the literal stays in the trainer
    ("assert f(1) + g(2) == 5", ["f(1)", "g(2)"]),  # in order
    ("assert 0 < f(1) < 10", ["f(1)"]),
    ("assert f(1) and not g(2)", ["f(1)", "g(2)"]),
    ("assert len(f(1)) == 3", ["f(1)"]),  # len runs in the trainer on the returned data
    ("assert sorted(f(1)) == [1, 2]", ["f(1)"]),
    ("assert sorted(f(1), reverse=True) == [2, 1]", ["sorted(f(1), reverse=True)"]),  # keywords: computed remotely
    ("assert max(*f(1)) == 2", ["max(*f(1))"]),  # a starred argument: computed remotely
    ("assert f(1)[0] == 1", ["f(1)"]),
    ("assert f(1)[1:3] == [2, 3]", ["f(1)"]),
    ("assert -f(1) == 3", ["f(1)"]),
    ("assert x.y == 1", ["x.y"]),  # a name or an attribute is the program's to compute
    ("assert isclose(f(1), 0.3)", ["isclose(f(1), 0.3)"]),  # math.isclose is not imported by the setup
    ("assert f(1) == -3", ["f(1)"]),
    ("assert True", []),
])
def test_probes_are_only_what_the_program_must_compute(statement, probes):
    assert plan_source(statement).probes == probes


@pytest.mark.parametrize(("statement", "right", "wrong"), [
    ("assert f() == 3", 3, 4),
    ("assert f() != 3", 4, 3),
    ("assert f() < 3", 2, 3),
    ("assert f() <= 3", 3, 4),
    ("assert f() > 3", 4, 3),
    ("assert f() >= 3", 3, 2),
    ("assert f() is None", None, 0),
    ("assert f() is not None", 0, None),
    ("assert f() in [1, 2]", 2, 3),
    ("assert f() not in [1, 2]", 3, 2),
    ("assert 0 < f() < 10", 5, 10),
    ("assert 0 < f() < 10", 5, 0),
    ("assert f() == [1, 2]", [1, 2], [2, 1]),
    ("assert -f() == 3", -3, 3),
    ("assert +f() == 3", 3, -3),
    ("assert not f()", 0, 1),
    ("assert f() + 1 == 3", 2, 3),
    ("assert f() - 1 == 1", 2, 3),
    ("assert f() * 2 == 4", 2, 3),
    ("assert f() / 2 == 1.5", 3, 4),
    ("assert f() // 2 == 1", 3, 4),
    ("assert f() % 2 == 1", 3, 4),
    ("assert f() + 'b' == 'ab'", "a", "b"),  # concatenation of two strings ...
    ("assert f() + [2] == [1, 2]", [1], [2]),  # ... or two lists
    ("assert f() + (2,) == (1, 2)", (1,), (2,)),
    ("assert len(f()) == 3", [1, 2, 3], [1, 2]),
    ("assert sorted(f()) == [1, 2]", [2, 1], [2, 2]),
    ("assert f()[0] == 1", [1, 9], [9, 1]),
    ("assert f()[1:3] == [2, 3]", [1, 2, 3, 4], [1, 2]),
    ("assert f()[::2] == [1, 3]", [1, 2, 3], [1, 3]),
    ("assert f()[:1] == [1]", [1, 2], [2, 1]),
])
def test_the_trainer_judges_the_returned_data(statement, right, wrong):
    assert verdict(statement, [right]) is True
    assert verdict(statement, [wrong]) is False


@pytest.mark.parametrize(("statement", "values", "passed"), [
    ("assert f() and g()", [1, 1], True),
    ("assert f() and g()", [1, 0], False),
    ("assert f() and g()", [0, 1], False),
    ("assert f() or g()", [0, 1], True),
    ("assert f() or g()", [1, 0], True),
    ("assert f() or g()", [0, 0], False),
    ("assert f() + g() == 5", [2, 3], True),
    ("assert f() + g() == 5", [3, 3], False),
])
def test_several_probes_are_matched_by_position(statement, values, passed):
    assert verdict(statement, values) is passed


@pytest.mark.parametrize(("statement", "value"), [
    ("assert f() * 'ab' == 'abab'", 2),  # repetition: the program could make the trainer build a huge string
    ("assert f() * 'b' == 'ab'", "a"),  # only + joins two strings; other operators refuse them
    ("assert f() - 'b' == 'ab'", "a"),
    ("assert f() + 1 == 'a1'", "a"),  # arithmetic on a non-number
    ("assert f() + [1] == (1, 1)", (1,)),  # a tuple and a list do not concatenate
    ("assert -f() == 'x'", "x"),
    ("assert f() / 0 == 1", 1),  # division by zero is a failed test, not a crash
    ("assert f() < 3", "x"),  # a comparison that fails on the data
    ("assert f()[5] == 1", [1]),  # an index out of range
])
def test_data_the_trainer_refuses_to_compute_on_fails_the_test(statement, value):
    assert verdict(statement, [value]) is False


@pytest.mark.parametrize("values", [None, "1", (1,), [], [1, 2], {"0": 1}])
def test_values_that_are_not_one_per_probe_fail(values):
    assert verdict("assert f() == 1", values) is False


def test_too_few_values_fail_even_when_the_missing_one_would_not_be_read():
    assert verdict("assert f() or g()", [1, 0]) is True
    assert verdict("assert f() or g()", [1]) is False  # `or` would stop after f(): the count is checked first


def test_a_plan_cannot_be_changed_after_it_is_made():
    import dataclasses

    plan = plan_source("assert f() == 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.probes = []


@pytest.mark.parametrize(("setup", "names"), [
    ("from math import isclose", {"isclose"}),
    ("from math import isclose as close", {"close"}),
    ("from math import sqrt", set()),
    ("from cmath import isclose", set()),
    ("from numpy import isclose", set()),  # another module's isclose (numpy's is not symmetric) is the program's
    ("from mpmath import isclose", set()),
    ("import math", {"math.isclose"}),
    ("import math as m", {"m.isclose"}),
    ("import cmath", set()),
    ("import os, math", {"math.isclose"}),
    ("def f(:", set()),  # a setup that does not parse names nothing
    ("", set()),
])
def test_isclose_names(setup, names):
    assert isclose_names(setup) == names


@pytest.mark.parametrize(("setup", "statement"), [
    ("from math import isclose", "assert isclose(f(), 0.3)"),
    ("import math", "assert math.isclose(f(), 0.3)"),
    ("import math as m", "assert m.isclose(f(), 0.3)"),
])
def test_isclose_runs_in_the_trainer_when_the_setup_imports_it(setup, statement):
    plan = plan_source(statement, setup)
    assert plan.probes == ["f()"]
    assert plan.passed([0.1 + 0.2]) is True
    assert plan.passed([0.31]) is False
    assert plan.passed(["0.3"]) is False  # not a number


def test_isclose_tolerances_are_honoured_and_other_keywords_are_probes():
    setup = "from math import isclose"
    loose = plan_source("assert isclose(f(), 1.0, rel_tol=0.1)", setup)
    assert loose.probes == ["f()"] and loose.passed([1.05]) is True and loose.passed([1.2]) is False
    absolute = plan_source("assert isclose(f(), 0.0, abs_tol=0.01)", setup)
    assert absolute.passed([0.005]) is True and absolute.passed([0.02]) is False
    other = plan_source("assert isclose(f(), 1.0, foo=1)", setup)
    assert other.probes == ["isclose(f(), 1.0, foo=1)"]


@pytest.mark.parametrize(("statement", "message"), [
    ("assert f(", "does not parse"),
    ("x = 1", "single assert statements"),
    ("assert f()\nassert g()", "single assert statements"),
    ("", "single assert statements"),
])
def test_anything_but_one_assert_is_refused(statement, message):
    with pytest.raises(ValueError, match=message):
        plan_source(statement)


def test_plan_keeps_the_statement_it_was_given():
    assert plan_source("  assert f() == 1  ").source == "  assert f() == 1  "


def test_an_assert_with_hundreds_of_probes():
    statement = "assert " + " + ".join(f"f({i})" for i in range(300)) + " == 300"
    plan = plan_source(statement)
    assert len(plan.probes) == 300
    assert plan.passed([1] * 300) is True and plan.passed([1] * 299 + [2]) is False
