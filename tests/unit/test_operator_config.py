"""The operator's settings from its environment: the chart's networkPolicy.* values reach the NetworkPolicy
builder, and a malformed value fails at start-up naming the variable (property-based over the value space)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_operator.builders import NetworkPolicySettings
from grpo_operator.operator_config import OperatorConfig

VARS = ("GRPO_NETWORK_POLICY", "GRPO_NETWORK_POLICY_METRICS_FROM", "GRPO_NETWORK_POLICY_RAY_DASHBOARD_FROM",
        "GRPO_NETWORK_POLICY_EGRESS_TO")
labels = st.dictionaries(st.from_regex(r"[a-z][a-z0-9./-]{0,20}", fullmatch=True),
                         st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True), max_size=3)
peers = st.lists(st.builds(lambda ns, pod: {"namespaceSelector": {"matchLabels": ns},
                                            "podSelector": {"matchLabels": pod}}, labels, labels), max_size=3)


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for var in VARS:
        monkeypatch.delenv(var, raising=False)


def test_defaults_without_the_chart():
    assert OperatorConfig.from_env().network_policy == NetworkPolicySettings()
    assert NetworkPolicySettings().egress_to is None  # egress open


@given(enabled=st.booleans(), metrics=peers, dashboard=peers, egress=st.none() | peers)
def test_settings_round_trip(enabled, metrics, dashboard, egress):
    env = {"GRPO_NETWORK_POLICY": "true" if enabled else "false",
           "GRPO_NETWORK_POLICY_METRICS_FROM": json.dumps(metrics),
           "GRPO_NETWORK_POLICY_RAY_DASHBOARD_FROM": json.dumps(dashboard)}
    if egress is not None:
        env["GRPO_NETWORK_POLICY_EGRESS_TO"] = json.dumps([{"to": egress}])
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = OperatorConfig.from_env().network_policy
    assert settings.enabled is enabled
    assert list(settings.metrics_from) == metrics and list(settings.ray_dashboard_from) == dashboard
    assert settings.egress_to == (None if egress is None else ({"to": egress},))


@given(raw=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30).filter(
    lambda t: t.strip().lower() not in ("true", "1", "yes", "false", "0", "no")))
def test_a_bad_switch_names_the_variable(raw):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRPO_NETWORK_POLICY", raw)
        with pytest.raises(ValueError, match="GRPO_NETWORK_POLICY=.*expected true or false"):
            OperatorConfig.from_env()


@given(value=st.one_of(st.integers(), st.text(max_size=10), st.dictionaries(st.text(max_size=3), st.integers()),
                       st.lists(st.integers(), min_size=1)))
def test_a_peer_list_must_be_a_json_list_of_objects(value):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRPO_NETWORK_POLICY_METRICS_FROM", json.dumps(value))
        with pytest.raises(ValueError, match="GRPO_NETWORK_POLICY_METRICS_FROM: expected a JSON list of objects"):
            OperatorConfig.from_env()


def test_not_json_names_the_variable(monkeypatch):
    monkeypatch.setenv("GRPO_NETWORK_POLICY_EGRESS_TO", "[{")
    with pytest.raises(ValueError, match="GRPO_NETWORK_POLICY_EGRESS_TO: not JSON"):
        OperatorConfig.from_env()
