"""The chart's PrometheusRule, checked and unit-tested by the real promtool (Debian `prometheus` package).

The rule groups are rendered by helm, written as a plain Prometheus rule file, and run through
`promtool check rules` and the unit tests in tests/promtool/*.yaml (each alert fires on a synthetic failing
series and stays silent on a healthy one).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from tests.tools import ALERTS, REPO, find_tool, helm_template, one, run, write_values

PROMTOOL_TESTS = sorted((REPO / "tests" / "promtool").glob("*.yaml"))
SUBJECT = re.compile(r'(?:grpojob|controller)="([^"]+)"')


def render_rule_groups(tmp_path: Path, rule_values: dict | None = None) -> list[dict]:
    values = {"monitoring": {"prometheusRule": {"enabled": True, **(rule_values or {})}}}
    objects = helm_template(write_values(tmp_path, "rules", values))
    return one(objects, "PrometheusRule")["spec"]["groups"]


def write_rule_file(tmp_path: Path, groups: list[dict]) -> Path:
    """A Prometheus rule file (what prometheus-operator generates from the PrometheusRule) + the unit tests."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    for test_file in PROMTOOL_TESTS:
        shutil.copy(test_file, tmp_path / test_file.name)
    return path


def promtool_test(tmp_path: Path, check: bool = True):
    promtool = find_tool("promtool")
    return run([promtool, "test", "rules", *(str(tmp_path / t.name) for t in PROMTOOL_TESTS)], check=check)


def test_rendered_rules_pass_promtool_check(tmp_path):
    promtool = find_tool("promtool")
    groups = render_rule_groups(tmp_path)
    assert {r["alert"] for g in groups for r in g["rules"]} == ALERTS
    path = write_rule_file(tmp_path, groups)
    proc = run([promtool, "check", "rules", str(path)])
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout


def test_promtool_check_catches_a_broken_expression(tmp_path):
    promtool = find_tool("promtool")
    groups = render_rule_groups(tmp_path)
    groups[0]["rules"][0]["expr"] = "max by (grpojob) (grpo_kl_loss"
    path = write_rule_file(tmp_path, groups)
    proc = run([promtool, "check", "rules", str(path)], check=False)
    assert proc.returncode != 0
    assert '"GRPOTrainingStalled": could not parse expression' in proc.stdout + proc.stderr


def test_every_alert_fires_on_a_bad_series_and_not_on_a_healthy_one(tmp_path):
    write_rule_file(tmp_path, render_rule_groups(tmp_path))
    proc = promtool_test(tmp_path)
    assert "SUCCESS" in proc.stdout
    # The unit tests cover each alert both ways, and every firing check has a healthy series beside the
    # bad one that must stay silent (promtool compares the exact list of alerts).
    firing, silent = set(), set()
    for test_file in PROMTOOL_TESTS:
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            subjects = {m.group(1) for s in case["input_series"] for m in [SUBJECT.search(s["series"])] if m}
            for check in case["alert_rule_test"]:
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
                alerting = {
                    a["exp_labels"].get("grpojob") or a["exp_labels"]["controller"]
                    for a in check["exp_alerts"]
                }
                if alerting:
                    assert subjects - alerting, f"{check['alertname']}: no healthy series next to {alerting}"
    assert firing == ALERTS, f"alerts without a firing case: {ALERTS - firing}"
    assert silent == ALERTS, f"alerts without a silent case: {ALERTS - silent}"


def test_thresholds_come_from_values_and_the_unit_tests_notice(tmp_path):
    groups = render_rule_groups(
        tmp_path,
        {
            "stalledAfterSeconds": 600,
            "klLossThreshold": 5,
            "responseClipRatioThreshold": 0.9,
            "reconcileErrorRateThreshold": 2,
            "alertLabels": {"team": "ml"},
        },
    )
    rules = {r["alert"]: r for g in groups for r in g["rules"]}
    assert "> 600" in rules["GRPOTrainingStalled"]["expr"]
    assert "(grpo_kl_loss) > 5" in rules["GRPOKLDivergenceHigh"]["expr"]
    assert "(grpo_response_clip_ratio) > 0.9" in rules["GRPOResponseTruncationHigh"]["expr"]
    assert rules["GRPOOperatorReconcileErrors"]["expr"].rstrip().endswith("> 2")
    assert all(r["labels"] == {"severity": r["labels"]["severity"], "team": "ml"} for r in rules.values())
    # The unit tests are written for the defaults: with these thresholds the firing cases must fail.
    write_rule_file(tmp_path, groups)
    proc = promtool_test(tmp_path, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    for alert in ("GRPOTrainingStalled", "GRPOKLDivergenceHigh", "GRPOResponseTruncationHigh"):
        assert f"alertname: {alert}" in out, out
