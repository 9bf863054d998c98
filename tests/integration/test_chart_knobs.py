"""The chart knobs well-kept charts (cert-manager, kuberay-operator, kube-prometheus-stack) offer, rendered by the
real helm: per-monitor namespace/labels/annotations/honorLabels/relabelings/metricRelabelings, extraArgs, JSON
logs, commonLabels, pod labels/annotations, extra volumes, global.imagePullSecrets, dashboard annotations, alert
runbook URLs and per-alert disabling, and cluster-wide trainer pod defaults. Every rendered object is validated
(core kinds strictly against Kubernetes' schemas, monitors against prometheus-operator's CRDs); the values schema
refuses undocumented keys. NOTES.txt only names files the packaged chart contains."""

from __future__ import annotations

import json
import re
import tarfile

import kubernetes_validate
import pytest
import yaml

from grpo_api import parse_grpojob
from grpo_operator.operator_config import POD_DEFAULTS_ENV, parse_pod_defaults
from tests import upstream_crds
from tests.tools import (
    ALERTS,
    CHART,
    KUBE_VERSION,
    REPO,
    by_kind,
    find_tool,
    helm_template,
    one,
    run,
    write_values,
)

RELABEL = {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}
DROP = {"action": "drop", "sourceLabels": ["__name__"], "regex": "grpo_learning_rate"}
MONITOR = {"namespace": "monitoring", "labels": {"scrape": "yes"}, "annotations": {"owner": "ml-platform"},
           "honorLabels": True, "relabelings": [RELABEL], "metricRelabelings": [DROP]}
POD_DEFAULTS = {
    "nodeSelector": {"pool": "gpu"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "training",
    "imagePullSecrets": [{"name": "registry"}],
    "env": [{"name": "NCCL_DEBUG", "value": "WARN"}],
}
KNOBS = {
    "global": {"imagePullSecrets": [{"name": "global-pull"}, "plain-name"]},
    "imagePullSecrets": [{"name": "global-pull"}, {"name": "own-pull"}],
    "commonLabels": {"cost-center": "ml"},
    "podLabels": {"sidecar.istio.io/inject": "false"},
    "podAnnotations": {"example.com/scrape": "no"},
    "logFormat": "json",
    "extraArgs": ["--log-refkey=grpojob"],
    "volumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
    "volumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
    "trainer": {"podDefaults": POD_DEFAULTS},
    "monitoring": {
        "serviceMonitor": {"enabled": True, **MONITOR},
        "podMonitor": {"enabled": True, **MONITOR},
        "prometheusRule": {"enabled": True, "namespace": "monitoring", "labels": {"rules": "grpo"},
                           "annotations": {"owner": "ml-platform"},
                           "disabled": {"GRPOResponseTruncationHigh": True},
                           "runbookUrl": "https://runbooks.example.com/grpo/",
                           "runbookUrls": {"GRPOJobFailed": "https://wiki.example.com/failed"},
                           "firstStepTimeoutSeconds": 900},
        "grafanaDashboard": {"enabled": True, "folder": "ML", "annotations": {"k8s-sidecar-target-directory": "ml"}},
    },
}


@pytest.fixture(scope="module")
def knobs(tmp_path_factory) -> list[dict]:
    return helm_template(write_values(tmp_path_factory.mktemp("knobs"), "knobs", KNOBS))


def test_every_object_is_valid_with_every_knob_set(knobs):
    for obj in knobs:
        if obj["kind"] in upstream_crds.CRD_FILES:
            upstream_crds.require_upstream_crds()
            assert upstream_crds.validate(obj) == [], obj["kind"]
        elif obj["metadata"].get("annotations", {}).get("helm.sh/hook") is None:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        assert obj["metadata"]["labels"]["cost-center"] == "ml", obj["kind"]  # commonLabels on every object


def test_monitor_knobs(knobs):
    for kind, endpoints in (("ServiceMonitor", "endpoints"), ("PodMonitor", "podMetricsEndpoints")):
        m = one(knobs, kind)
        assert m["metadata"]["namespace"] == "monitoring"
        assert m["metadata"]["labels"]["scrape"] == "yes"
        assert m["metadata"]["annotations"] == {"owner": "ml-platform"}
        (ep,) = m["spec"][endpoints]
        assert ep["honorLabels"] is True
        assert ep["relabelings"][-1] == RELABEL and ep["metricRelabelings"] == [DROP]
    # The ServiceMonitor still finds the operator's Service in the release namespace.
    assert one(knobs, "ServiceMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["grpo-system"]}
    # The chart's own relabelings stay first: grpojob and the one namespace label, grpojob_namespace.
    pm_relabel = one(knobs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert [r["targetLabel"] for r in pm_relabel] == ["grpojob", "grpojob_namespace", "node"]


def test_operator_pod_knobs(knobs):
    pod = one(knobs, "Deployment")["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["args"][-2:] == ["--log-format=json", "--log-refkey=grpojob"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "no"}
    assert spec["imagePullSecrets"] == [{"name": "global-pull"}, {"name": "plain-name"}, {"name": "own-pull"}]
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in spec["volumes"]
    assert {"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True} in container["volumeMounts"]
    # Trainer pod defaults reach the operator as JSON it parses into the GRPOJob pod fields.
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env[POD_DEFAULTS_ENV]) == POD_DEFAULTS
    parsed = parse_pod_defaults(env[POD_DEFAULTS_ENV])
    assert parsed.priority_class_name == "training" and parsed.node_selector == {"pool": "gpu"}


def test_defaults_render_no_pod_defaults_and_kopfs_own_log_format(tmp_path):
    (container,) = one(helm_template(), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert POD_DEFAULTS_ENV not in {e["name"] for e in container["env"]}
    assert not [a for a in container["args"] if a.startswith("--log-format")]  # kopf's default, full


def test_alert_knobs(knobs):
    rule = one(knobs, "PrometheusRule")
    assert rule["metadata"]["namespace"] == "monitoring" and rule["metadata"]["labels"]["rules"] == "grpo"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == ALERTS - {"GRPOResponseTruncationHigh"}
    assert alerts["GRPOJobFailed"]["annotations"]["runbook_url"] == "https://wiki.example.com/failed"
    assert alerts["GRPOLossNaN"]["annotations"]["runbook_url"] == "https://runbooks.example.com/grpo/grpolossnan"
    assert "> 900" in alerts["GRPOTrainerNoFirstStep"]["expr"]


def test_disabling_every_alert_of_a_group_or_all_alerts(tmp_path):
    operator_alerts = {"GRPOJobFailed": True, "GRPOOperatorReconcileErrors": True}
    values = {"monitoring": {"prometheusRule": {"enabled": True, "disabled": operator_alerts, "runbookUrl": ""}}}
    rule = one(helm_template(write_values(tmp_path, "ops-off", values)), "PrometheusRule")
    assert [g["name"] for g in rule["spec"]["groups"]] == ["grpo-training"]
    assert all("runbook_url" not in r["annotations"] for g in rule["spec"]["groups"] for r in g["rules"])
    values["monitoring"]["prometheusRule"]["disabled"] = {a: True for a in ALERTS}
    assert not by_kind(helm_template(write_values(tmp_path, "all-off", values)), "PrometheusRule")


def test_every_default_runbook_url_has_its_anchor_in_the_readme(tmp_path):
    rule = one(helm_template(write_values(tmp_path, "rb", {"monitoring": {"prometheusRule": {"enabled": True}}})),
               "PrometheusRule")
    readme = (REPO / "README.md").read_text()
    for r in (r for g in rule["spec"]["groups"] for r in g["rules"]):
        url = r["annotations"]["runbook_url"]
        assert url.startswith("https://github.com/grpo-operator/grpo-operator/blob/main/README.md#")
        assert f'<a id="{url.split("#", 1)[1]}"></a>`{r["alert"]}`' in readme, r["alert"]


def test_dashboard_annotations(knobs):
    (cm,) = [c for c in by_kind(knobs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboards")]
    assert cm["metadata"]["annotations"] == {"grafana_folder": "ML", "k8s-sidecar-target-directory": "ml"}


def test_readme_documents_the_sidecar_folder_setting():
    text = (CHART / "values.yaml").read_text() + (CHART / "README.md").read_text()
    assert "folderAnnotation=grafana_folder" in text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"logFormat": "xml"}, "/logFormat"),
        ({"extraArgs": ["standalone"]}, "/extraArgs/0"),
        ({"trainer": {"podDefaults": {"affinity": {}}}}, "affinity"),
        ({"trainer": {"podDefaults": {"tolerations": [{"effect": "Sometimes"}]}}}, "/trainer/podDefaults/tolerations/0/effect"),
        ({"monitoring": {"prometheusRule": {"disabled": {"GRPONoSuchAlert": True}}}}, "GRPONoSuchAlert"),
        ({"monitoring": {"podMonitor": {"honorLabels": "yes"}}}, "/monitoring/podMonitor/honorLabels"),
        ({"monitoring": {"serviceMonitor": {"relabeling": []}}}, "relabeling"),
        ({"monitoring": {"prometheusRule": {"firstStepTimeoutSeconds": 5}}}, "/monitoring/prometheusRule/firstStepTimeoutSeconds"),
    ],
)
def test_schema_refuses_undocumented_or_bad_knobs(tmp_path, values, message):
    helm = find_tool("helm")
    proc = run([helm, "template", "x", str(CHART), "--values", str(write_values(tmp_path, "bad", values))],
               check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_every_documented_value_is_in_the_schema_and_nothing_else():
    """values.schema.json accepts exactly the documented values: every leaf in values.yaml has a schema property
    and every schema property (below the free-form maps) is a key of values.yaml."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(v, s, path):
        assert s.get("additionalProperties") is False or path == "global", f"{path}: schema allows unknown keys"
        props = s.get("properties", {})
        assert set(v) == set(props), f"{path or '.'}: values {sorted(set(v) - set(props))}, schema " \
                                     f"{sorted(set(props) - set(v))}"
        for key, sub in v.items():
            if isinstance(sub, dict) and sub and props[key].get("properties"):
                walk(sub, props[key], f"{path}.{key}".lstrip("."))

    walk(values, schema, "")


def test_notes_only_point_at_files_in_the_chart_package(tmp_path):
    """`helm package`, then every repository-looking path NOTES.txt mentions must be inside the package."""
    helm = find_tool("helm")
    run([helm, "package", str(CHART), "--destination", str(tmp_path)])
    (package,) = tmp_path.glob("grpo-operator-*.tgz")
    with tarfile.open(package) as tar:
        files = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    paths = set(re.findall(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.(?:ya?ml|json|txt|md))\b", notes))
    missing = sorted(p for p in paths if p not in files)
    assert not missing, f"NOTES.txt refers to files not in the chart package: {missing}"
    # The GRPOJob NOTES.txt shows inline (instead of a repository example file) is a valid one.
    (example,) = re.findall(r"<<EOF\n(.*?)\n\s*EOF", notes, re.S)
    job = parse_grpojob(yaml.safe_load("\n".join(line[3:] for line in example.splitlines())))
    assert job.metadata.name == "math-reasoning"
