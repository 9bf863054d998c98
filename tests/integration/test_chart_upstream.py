"""The chart's objects against what consumes them: prometheus-operator v0.93.0's CRDs (strict, tests/upstream_crds.py),
the strict Kubernetes schemas of every supported minor (1.29-1.37), and the pods and Service each monitor selects
(the operator Service, the one-node Job pod, the RayJob head and workers as KubeRay creates them). Also the chart
values that the real controllers would reject, refused at `helm template`."""

from __future__ import annotations

import copy
import json

import kubernetes_validate
import pytest

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_operator.builders import build_children
from tests import upstream_crds
from tests.kuberay_kueue import RAY_METRICS_PORT_NAME, kuberay_pods
from tests.tools import CHART, REPO, by_kind, find_tool, helm_template, one, run, write_values
from tests.tools import SUPPORTED_KUBE_MINORS as SUPPORTED_MINORS

MONITORING = {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True},
              "prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}
VALUE_SETS = {
    "monitoring": {"monitoring": MONITORING},
    "monitoring-labels-namespaces": {"watchNamespaces": ["team-a"], "monitoring": {
        **copy.deepcopy(MONITORING), "additionalLabels": {"release": "kps"},
        "prometheusRule": {"enabled": True, "alertLabels": {"team": "ml"}, "klLossThreshold": 0.25,
                           "responseClipRatioThreshold": 1, "reconcileErrorRateThreshold": 0}}},
    "monitoring-intervals": {"monitoring": {
        **copy.deepcopy(MONITORING),
        "serviceMonitor": {"enabled": True, "interval": "1m30s", "scrapeTimeout": "1m30s"},
        "podMonitor": {"enabled": True, "interval": "2m", "scrapeTimeout": "500ms", "namespaces": ["ml"]}}},
    "default": {},
    "peering": {"peering": {"enabled": True}},
}
KOPF_KINDS = {"ClusterKopfPeering", "KopfPeering"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("values")
    return {name: helm_template(write_values(tmp, name, values)) for name, values in VALUE_SETS.items()}


@pytest.mark.parametrize("name", [n for n in VALUE_SETS if n.startswith("monitoring")])
def test_monitoring_objects_are_valid_for_prometheus_operator(rendered, name):
    upstream_crds.require_upstream_crds()
    monitors = [o for o in rendered[name] if o["kind"] in upstream_crds.CRD_FILES]
    assert {o["kind"] for o in monitors} == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    for obj in monitors:
        assert upstream_crds.validate(obj) == [], obj["kind"]


def test_prometheus_operator_schema_check_is_not_vacuous(rendered):
    upstream_crds.require_upstream_crds()
    pm = copy.deepcopy(one(rendered["monitoring"], "PodMonitor"))
    pm["spec"]["podMetricsEndpoints"][0]["scrapeTimout"] = "5s"
    pm["spec"]["podMetricsEndpoints"][0]["interval"] = 30
    errors = upstream_crds.validate(pm)
    assert "spec.podMetricsEndpoints[0].scrapeTimout: unknown field" in errors
    assert any(e.startswith("spec.podMetricsEndpoints[0].interval:") for e in errors)


@pytest.mark.parametrize("version", SUPPORTED_MINORS)
def test_every_core_object_is_valid_on_every_supported_minor(rendered, version):
    """Each distinct core object of every value set (Deployment, RBAC, Service, CRD, ...), strictly."""
    seen = set()
    for objects in rendered.values():
        for obj in objects:
            key = json.dumps(obj, sort_keys=True)
            if obj["kind"] in upstream_crds.CRD_FILES or obj["kind"] in KOPF_KINDS or key in seen:
                continue
            seen.add(key)
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} on {version}: "
                                     f"{str(e).splitlines()[0]}") from None
    assert {"Deployment", "Service", "ClusterRole", "Role", "ServiceAccount", "CustomResourceDefinition"} <= {
        json.loads(k)["kind"] for k in seen}


def test_kube_version_range_is_enforced_by_helm():
    helm = find_tool("helm")
    ok = run([helm, "template", "x", str(CHART), "--kube-version", SUPPORTED_MINORS[0]], check=False)
    assert ok.returncode == 0, ok.stderr
    old = run([helm, "template", "x", str(CHART), "--kube-version", "1.28.9"], check=False)
    assert old.returncode != 0 and "kubeVersion" in old.stderr


# --- selectors and port names between each monitor and what it selects -------------------------------------


def _matches(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"Exists": key in labels, "DoesNotExist": key not in labels,
              "In": labels.get(key) in values, "NotIn": labels.get(key) not in values}[op]
        if not ok:
            return False
    return True


def pod_targets(podmonitor: dict, pod: dict) -> list[int]:
    """Ports prometheus-operator scrapes on `pod` for a PodMonitor: the pod matches the selector, and each
    endpoint keeps the container ports whose name equals `port` (its generated relabel `keep` rule)."""
    if not _matches(podmonitor["spec"]["selector"], pod["metadata"].get("labels", {})):
        return []
    return [p["containerPort"] for ep in podmonitor["spec"]["podMetricsEndpoints"]
            for ctr in pod["spec"]["containers"] for p in ctr.get("ports", []) if p.get("name") == ep["port"]]


def _job_pods() -> dict[str, dict]:
    import yaml
    pods = {}
    for example in ("minimal.yaml", "multi-node.yaml"):
        body = next(d for d in yaml.safe_load_all((REPO / "examples" / example).read_text())
                    if d and d.get("kind") == c.KIND)
        workload = build_children(parse_grpojob(body), uid="u-1", image="img", namespace="team-a")[-1]
        if workload["kind"] == "Job":
            tpl = workload["spec"]["template"]
            pods["job"] = {"metadata": tpl["metadata"], "spec": tpl["spec"]}
        else:
            for role, pod in kuberay_pods(workload).items():
                pods["ray-head" if role == "head" else "ray-worker"] = pod
    return pods


def test_podmonitor_scrapes_the_trainer_exporter_and_nothing_of_ray(rendered):
    pm = one(rendered["monitoring"], "PodMonitor")
    pods = _job_pods()
    assert pod_targets(pm, pods["job"]) == [c.TRAINER_METRICS_PORT]
    assert pod_targets(pm, pods["ray-head"]) == [c.TRAINER_METRICS_PORT]  # not Ray's 8080 on the same pod
    assert pod_targets(pm, pods["ray-worker"]) == []  # labels match, but no exporter: no target
    # KubeRay's own head PodMonitor (port `metrics`, selector ray.io/node-type: head) gets Ray's port, not ours.
    kuberay_head_pm = {"spec": {"selector": {"matchLabels": {"ray.io/node-type": "head"}},
                                "podMetricsEndpoints": [{"port": RAY_METRICS_PORT_NAME}]}}
    assert pod_targets(kuberay_head_pm, pods["ray-head"]) == [8080]


def test_servicemonitor_service_and_deployment_agree(rendered):
    objects = rendered["monitoring"]
    sm, svc, deploy = one(objects, "ServiceMonitor"), one(objects, "Service"), one(objects, "Deployment")
    assert _matches(sm["spec"]["selector"], svc["metadata"]["labels"])
    assert svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for ep in sm["spec"]["endpoints"]:
        assert ep["port"] in ports
    pod = deploy["spec"]["template"]
    assert _matches({"matchLabels": svc["spec"]["selector"]}, pod["metadata"]["labels"])
    container_ports = {p["name"]: p["containerPort"] for ctr in pod["spec"]["containers"] for p in ctr["ports"]}
    for p in svc["spec"]["ports"]:
        assert container_ports[p["targetPort"]] == c.OPERATOR_METRICS_PORT
    assert by_kind(objects, "PodMonitor")  # and the trainer side: the test above


# --- values the real controllers reject are refused at render time --------------------------------------


def _template(*sets: str) -> object:
    helm = find_tool("helm")
    args = [helm, "template", "x", str(CHART), "--kube-version", "1.35.0"]
    for s in sets:
        args += ["--set", s]
    return run(args, check=False)


@pytest.mark.parametrize("kind", ["podMonitor", "serviceMonitor"])
def test_scrape_timeout_longer_than_interval_is_refused(kind):
    proc = _template(f"monitoring.{kind}.enabled=true", f"monitoring.{kind}.interval=5s",
                     f"monitoring.{kind}.scrapeTimeout=1m")
    assert proc.returncode != 0
    assert f"monitoring.{kind}.scrapeTimeout (1m) must not be longer than monitoring.{kind}.interval (5s)" in proc.stderr
    assert _template(f"monitoring.{kind}.enabled=true", f"monitoring.{kind}.interval=1m",
                     f"monitoring.{kind}.scrapeTimeout=60s").returncode == 0


def test_decimal_thresholds_work_with_set():
    proc = _template("monitoring.prometheusRule.enabled=true", "monitoring.prometheusRule.klLossThreshold=0.5",
                     "monitoring.prometheusRule.responseClipRatioThreshold=0.25",
                     "monitoring.prometheusRule.reconcileErrorRateThreshold=0.05")
    assert proc.returncode == 0, proc.stderr
    assert "(grpo_kl_loss) > 0.5" in proc.stdout and "(grpo_response_clip_ratio) > 0.25" in proc.stdout


@pytest.mark.parametrize("setting", ["klLossThreshold=0", "klLossThreshold=abc", "klLossThreshold=-1",
                                     "responseClipRatioThreshold=1.5", "reconcileErrorRateThreshold=x"])
def test_bad_thresholds_are_still_refused(setting):
    proc = _template("monitoring.prometheusRule.enabled=true", f"monitoring.prometheusRule.{setting}")
    assert proc.returncode != 0
    assert f"/monitoring/prometheusRule/{setting.split('=')[0]}" in proc.stderr
