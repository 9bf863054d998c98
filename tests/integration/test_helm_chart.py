"""The Helm chart, rendered by the real helm (v4) for several value sets.

Every rendered object of a core kind validates against the Kubernetes 1.35 OpenAPI schemas
(kubernetes-validate, strict); prometheus-operator and kopf objects get structural JSON-schema checks
(the fields prometheus-operator requires and the ones this chart relies on). Behaviour per value set is
asserted on the objects: RBAC verbs, kopf arguments, CRD identity, monitoring labels.
"""

from __future__ import annotations

import json

import jsonschema
import kubernetes_validate
import pytest
import yaml

from grpo_api.constants import (
    DEFAULT_TRAINER_IMAGE,
    GROUP,
    LABEL_GRPOJOB,
    OPERATOR_HEALTH_PORT,
    OPERATOR_METRICS_PORT,
    PLURAL,
    TRAINER_IMAGE_ENV,
    TRAINER_METRICS_PORT,
    TRAINER_METRICS_PORT_NAME,
)
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

MONITORING_ON = {
    "monitoring": {
        "additionalLabels": {"release": "kube-prometheus-stack", "team": "ml"},
        "serviceMonitor": {"enabled": True},
        "podMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True, "alertLabels": {"team": "ml"}},
        "grafanaDashboard": {"enabled": True, "folder": "GRPO"},
    }
}
VALUE_SETS: dict[str, dict] = {
    "default": {},
    "monitoring": MONITORING_ON,
    "watch-namespaces": {"watchNamespaces": ["team-a", "team-b"], **MONITORING_ON},
    "crds-disabled": {"crds": {"enabled": False}},
    "crds-not-kept": {"crds": {"keep": False}},
    "peering": {"peering": {"enabled": True, "priority": 10}},
    "peering-namespaced": {"peering": {"enabled": True}, "watchNamespaces": ["team-a"]},
    "pinned-images": {
        "image": {"digest": "sha256:" + "a" * 64},
        "trainer": {"image": {"repository": "registry.local/grpo-trainer", "tag": "v9"}},
        "logLevel": "debug",
    },
    "no-network-policy": {"networkPolicy": {"enabled": False}, "watchNamespaces": ["team-a"]},
    "egress-restricted": {"networkPolicy": {"egressTo": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}},
}

MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
KOPF_KINDS = {"ClusterKopfPeering", "KopfPeering"}

_DURATION = {"type": "string", "pattern": "^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w|y))+)$"}
_META = {
    "type": "object",
    "required": ["name", "namespace", "labels"],
    "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
}
_RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {
            "enum": [
                "replace",
                "keep",
                "drop",
                "labelmap",
                "labeldrop",
                "labelkeep",
                "hashmod",
                "lowercase",
                "uppercase",
                "keepequal",
                "dropequal",
            ]
        },
        "sourceLabels": {"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "replacement": {"type": "string"},
        "separator": {"type": "string"},
        "modulus": {"type": "integer"},
    },
}
_SELECTOR = {
    "type": "object",
    "minProperties": 1,
    "properties": {
        "matchLabels": {"type": "object"},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {"operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]}},
            },
        },
    },
}
_ENDPOINT = {
    "type": "object",
    "required": ["port"],
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string"},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
        "relabelings": {"type": "array", "items": _RELABEL},
    },
}
_NS_SELECTOR = {
    "type": "object",
    "oneOf": [
        {"required": ["any"], "properties": {"any": {"const": True}}},
        {"required": ["matchNames"], "properties": {"matchNames": {"type": "array", "minItems": 1}}},
    ],
}


def _monitoring_object(spec: dict) -> dict:
    """A monitoring.coreos.com/v1 object with the given spec schema."""
    return {
        "type": "object",
        "required": ["apiVersion", "metadata", "spec"],
        "properties": {"apiVersion": {"const": "monitoring.coreos.com/v1"}, "metadata": _META, "spec": spec},
    }


def _monitor_schema(endpoints_key: str) -> dict:
    """ServiceMonitor and PodMonitor differ only in the name of their endpoint list."""
    return _monitoring_object({
        "type": "object",
        "required": ["selector", endpoints_key],
        "additionalProperties": False,
        "properties": {
            "selector": _SELECTOR,
            "namespaceSelector": _NS_SELECTOR,
            endpoints_key: {"type": "array", "minItems": 1, "items": _ENDPOINT},
        },
    })


# The parts of the prometheus-operator (monitoring.coreos.com/v1) and kopf CRD schemas this chart uses.
STRUCTURAL_SCHEMAS = {
    "ServiceMonitor": _monitor_schema("endpoints"),
    "PodMonitor": _monitor_schema("podMetricsEndpoints"),
    "PrometheusRule": _monitoring_object({
        "type": "object",
        "required": ["groups"],
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "rules": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["alert", "expr"],
                                "additionalProperties": False,
                                "properties": {
                                    "alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"},
                                    "expr": {"type": "string", "minLength": 1},
                                    "for": _DURATION,
                                    "labels": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "annotations": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    }),
    "ClusterKopfPeering": {
        "type": "object",
        "required": ["apiVersion", "metadata"],
        "properties": {
            "apiVersion": {"const": "kopf.dev/v1"},
            "metadata": {"type": "object", "required": ["name"], "not": {"required": ["namespace"]}},
        },
    },
    "KopfPeering": {
        "type": "object",
        "required": ["apiVersion", "metadata"],
        "properties": {
            "apiVersion": {"const": "kopf.dev/v1"},
            "metadata": {"type": "object", "required": ["name", "namespace"]},
        },
    },
}


def _validate(obj: dict) -> None:
    kind = obj["kind"]
    where = f"{kind}/{obj['metadata'].get('name')}"
    if kind in STRUCTURAL_SCHEMAS:
        try:
            jsonschema.validate(obj, STRUCTURAL_SCHEMAS[kind])
        except jsonschema.ValidationError as e:
            raise AssertionError(f"{where}: {e.message} at {list(e.absolute_path)}") from None
        return
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise AssertionError(
            f"{where}: {str(e).splitlines()[0]} (Kubernetes {KUBE_VERSION} schema)"
        ) from None
    except kubernetes_validate.SchemaNotFoundError:
        raise AssertionError(
            f"{where}: {obj['apiVersion']} {kind} is not a Kubernetes {KUBE_VERSION} kind and "
            "has no structural schema in this test"
        ) from None


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("values")
    return {name: helm_template(write_values(tmp, name, values)) for name, values in VALUE_SETS.items()}


def _rules(role: dict) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def _expand(groups, resources, verbs) -> set[tuple[str, str, str]]:
    return {(g, r, v) for g in groups for r in resources for v in verbs}


CRUD = ["get", "list", "watch", "create", "patch", "update", "delete"]
NAMESPACED_RULES = (
    _expand([GROUP], [PLURAL], ["get", "list", "watch", "patch", "update"])
    | _expand([GROUP], [f"{PLURAL}/status"], ["get", "patch", "update"])
    | _expand([""], ["configmaps"], CRUD)
    | _expand(["batch"], ["jobs"], CRUD)
    | _expand(["ray.io"], ["rayjobs"], CRUD)
    | _expand([""], ["pods"], ["get", "list", "watch"])
    | _expand(["", "events.k8s.io"], ["events"], ["create", "patch"])
    | _expand(["networking.k8s.io"], ["networkpolicies"], ["get", "create", "patch"])
)
CRD_WATCH = _expand(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["list", "watch"])


def _container(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_helm_lint(name, tmp_path):
    helm = find_tool("helm")
    values = write_values(tmp_path, name, VALUE_SETS[name])
    proc = run(
        [helm, "lint", "--strict", str(CHART), "--values", str(values), "--kube-version", KUBE_VERSION]
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_rendered_object_validates(rendered, name):
    objects = rendered[name]
    assert objects, "helm rendered nothing"
    for obj in objects:
        _validate(obj)
    keys = [(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects]
    assert len(keys) == len(set(keys)), f"duplicate objects: {keys}"


def test_validation_catches_a_broken_object():
    """The validators are not vacuous: a misspelled field in a core kind and a monitoring kind is reported."""
    with pytest.raises(AssertionError, match="containerPorts"):
        bad = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i", "containerPorts": []}]},
        }
        _validate(bad)
    with pytest.raises(AssertionError, match="PodMonitor/x"):
        _validate(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": {"name": "x", "namespace": "n", "labels": {}},
                "spec": {"selector": {"matchLabels": {"a": "b"}}, "podMetricEndpoints": [{"port": "m"}]},
            }
        )


def test_default_deployment_is_a_hardened_standalone_kopf_operator(rendered):
    objects = rendered["default"]
    deploy = one(objects, "Deployment")
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    pod = deploy["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["command"] == ["kopf", "run"]
    assert c["args"] == [
        "--module=grpo_operator.handlers",
        "--standalone",
        "--all-namespaces",
        f"--liveness=http://0.0.0.0:{OPERATOR_HEALTH_PORT}/healthz",
    ]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": OPERATOR_METRICS_PORT, "health": OPERATOR_HEALTH_PORT}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    # The chart's default trainer image is the operator's built-in default.
    assert env[TRAINER_IMAGE_ENV] == DEFAULT_TRAINER_IMAGE
    # Pod and container security context.
    psc, csc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and isinstance(psc["runAsUser"], int) and psc["runAsUser"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["readOnlyRootFilesystem"] is True and csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    tmp_mount = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp_mount and {"name": tmp_mount[0]["name"], "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    # The metrics Service selects the operator pod.
    svc = one(objects, "Service")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert svc["spec"]["ports"][0]["port"] == OPERATOR_METRICS_PORT
    # Monitoring objects are opt-in.
    assert not [o for o in objects if o["kind"] in MONITORING_KINDS | {"ConfigMap"}]


def test_default_rbac_is_one_clusterrole_with_only_the_verbs_used(rendered):
    objects = rendered["default"]
    role = one(objects, "ClusterRole")
    assert _rules(role) == NAMESPACED_RULES | CRD_WATCH
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = one(objects, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}
    ]
    # Never: wildcards, any permission on Secrets, or managing CRDs.
    for g, r, v in _rules(role):
        assert "*" not in (g, r, v)
        assert r != "secrets"
        assert not (r == "customresourcedefinitions" and v not in ("list", "watch"))


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_no_value_set_grants_any_secret_permission(rendered, name):
    for role in by_kind(rendered[name], "ClusterRole") + by_kind(rendered[name], "Role"):
        assert not [rule for rule in _rules(role) if rule[1] == "secrets"], role["metadata"]["name"]


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container["env"]}


def test_network_policy_settings_reach_the_operator(rendered):
    env = _env(_container(rendered["default"]))
    assert env["GRPO_NETWORK_POLICY"] == "true"
    assert "GRPO_NETWORK_POLICY_EGRESS_TO" not in env  # egress open by default
    metrics_from = json.loads(env["GRPO_NETWORK_POLICY_METRICS_FROM"])
    deploy = one(rendered["default"], "Deployment")
    own = metrics_from[0]  # the operator's progress poller: its own pods, in the release namespace
    assert own["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": deploy["metadata"]["namespace"]}}
    assert own["podSelector"]["matchLabels"] == deploy["spec"]["template"]["metadata"]["labels"]
    assert {"app.kubernetes.io/name": "prometheus"} in [p["podSelector"]["matchLabels"] for p in metrics_from[1:]]
    assert json.loads(env["GRPO_NETWORK_POLICY_RAY_DASHBOARD_FROM"])[0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "kuberay-operator"}
    assert json.loads(_env(_container(rendered["egress-restricted"]))["GRPO_NETWORK_POLICY_EGRESS_TO"]) == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]
    # Off: the operator is told, and gets no NetworkPolicy permission.
    off = rendered["no-network-policy"]
    assert _env(_container(off))["GRPO_NETWORK_POLICY"] == "false"
    for role in by_kind(off, "Role"):
        assert not [rule for rule in _rules(role) if rule[1] == "networkpolicies"]


def test_watch_namespaces_gets_roles_per_namespace_and_namespace_args(rendered):
    objects = rendered["watch-namespaces"]
    c = _container(objects)
    assert "--namespace=team-a" in c["args"] and "--namespace=team-b" in c["args"]
    assert "--all-namespaces" not in c["args"]
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objects, "Role")}
    assert set(roles) == {"team-a", "team-b"}
    for role in roles.values():
        assert _rules(role) == NAMESPACED_RULES
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(objects, "RoleBinding")}
    assert set(bindings) == {"team-a", "team-b"}
    for b in bindings.values():
        assert b["roleRef"]["kind"] == "Role" and b["subjects"][0]["namespace"] == "grpo-system"
    # Cluster-wide, only the read-only CRD watch kopf uses for discovery.
    (cluster_role,) = by_kind(objects, "ClusterRole")
    assert _rules(cluster_role) == CRD_WATCH
    # The PodMonitor follows the watched namespaces.
    pm = one(objects, "PodMonitor")
    assert pm["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}


def test_crd_template_is_identical_to_the_generated_crd(rendered):
    chart_copy = (CHART / "files" / "crd.yaml").read_text()
    assert chart_copy == (REPO / "crds" / "grpojob.yaml").read_text(), (
        "charts/grpo-operator/files/crd.yaml differs from crds/grpojob.yaml: cp crds/grpojob.yaml "
        "charts/grpo-operator/files/crd.yaml"
    )
    source = yaml.safe_load((REPO / "crds" / "grpojob.yaml").read_text())
    crd = one(rendered["default"], "CustomResourceDefinition")
    assert crd["spec"] == source["spec"]
    assert crd["apiVersion"] == source["apiVersion"] and crd["metadata"]["name"] == source["metadata"]["name"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    not_kept = one(rendered["crds-not-kept"], "CustomResourceDefinition")
    assert "annotations" not in not_kept["metadata"] and not_kept["spec"] == source["spec"]
    assert not by_kind(rendered["crds-disabled"], "CustomResourceDefinition")


def test_monitoring_objects_carry_additional_labels_and_scrape_the_right_ports(rendered):
    objects = rendered["monitoring"]
    extra = MONITORING_ON["monitoring"]["additionalLabels"]
    monitoring = [o for o in objects if o["kind"] in MONITORING_KINDS] + by_kind(objects, "ConfigMap")
    assert {o["kind"] for o in monitoring} == MONITORING_KINDS | {"ConfigMap"}
    for obj in monitoring:
        labels = obj["metadata"]["labels"]
        assert extra.items() <= labels.items(), f"{obj['kind']} lacks additionalLabels: {labels}"
    sm = one(objects, "ServiceMonitor")
    svc = one(objects, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"] == "metrics"
    pm = one(objects, "PodMonitor")
    assert pm["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/managed-by": "grpo-operator", "app.kubernetes.io/component": "trainer"},
        "matchExpressions": [{"key": LABEL_GRPOJOB, "operator": "Exists"}],
    }
    assert pm["spec"]["namespaceSelector"] == {"any": True}
    endpoint = pm["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == TRAINER_METRICS_PORT_NAME and endpoint["path"] == "/metrics"
    meta_label = "__meta_kubernetes_pod_label_" + "".join(ch if ch.isalnum() else "_" for ch in LABEL_GRPOJOB)
    assert {"action": "replace", "sourceLabels": [meta_label], "targetLabel": "grpojob"} in endpoint[
        "relabelings"
    ]
    rule = one(objects, "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {r["alert"] for r in alerts} == ALERTS
    assert all(r["labels"]["team"] == "ml" and r["labels"]["severity"] for r in alerts)
    assert all("{{ $labels." in r["annotations"]["summary"] for r in alerts)


def test_trainer_metrics_port_matches_constants():
    """The PodMonitor scrapes the port named `grpo-metrics`; the trainer serves on TRAINER_METRICS_PORT (9400)."""
    assert TRAINER_METRICS_PORT == 9400
    assert "9400" in (CHART / "values.yaml").read_text()


def test_dashboard_configmap_holds_the_dashboard_file(rendered):
    cm = one(rendered["monitoring"], "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "GRPO"}
    source = (CHART / "files" / "dashboards" / "grpo-training.json").read_text()
    assert json.loads(cm["data"]["grpo-training.json"]) == json.loads(source)


def test_peering_replaces_standalone_and_adds_kopf_rbac(rendered):
    c = _container(rendered["peering"])
    assert "--standalone" not in c["args"]
    assert "--peering=grpo-operator" in c["args"] and "--priority=10" in c["args"]
    assert one(rendered["peering"], "Deployment")["spec"]["replicas"] == 1
    role = one(rendered["peering"], "ClusterRole")
    assert _rules(role) - NAMESPACED_RULES - CRD_WATCH == _expand(
        ["kopf.dev"], ["clusterkopfpeerings"], ["get", "list", "watch", "patch"]
    )
    peering = one(rendered["peering"], "ClusterKopfPeering")
    assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    crds = {o["metadata"]["name"] for o in by_kind(rendered["peering"], "CustomResourceDefinition")}
    assert crds == {f"{PLURAL}.{GROUP}", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    # Namespaced peering: a KopfPeering and its verbs in each watched namespace.
    ns_objects = rendered["peering-namespaced"]
    assert one(ns_objects, "KopfPeering")["metadata"]["namespace"] == "team-a"
    assert _rules(one(ns_objects, "Role")) - NAMESPACED_RULES == _expand(
        ["kopf.dev"], ["kopfpeerings"], ["get", "list", "watch", "patch"]
    )
    # Without peering there is no kopf.dev anywhere.
    assert not [o for o in rendered["default"] if o["kind"] in KOPF_KINDS]
    assert all(g != "kopf.dev" for g, _, _ in _rules(one(rendered["default"], "ClusterRole")))


def test_pinned_images_and_log_level(rendered):
    c = _container(rendered["pinned-images"])
    assert c["image"] == "ghcr.io/grpo-operator/operator@sha256:" + "a" * 64
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["GRPO_TRAINER_IMAGE"] == "registry.local/grpo-trainer:v9"
    assert c["args"][-1] == "--debug"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ({"logLevel": "loud"}, "/logLevel"),
        ({"monitoring": {"podMonitor": {"interval": "15 seconds"}}}, "/monitoring/podMonitor/interval"),
        ({"crds": {"enable": True}}, "enable"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
    ],
)
def test_schema_rejects_bad_values_with_the_field(tmp_path, values, message):
    helm = find_tool("helm")
    path = write_values(tmp_path, "bad", values)
    proc = run([helm, "template", "x", str(CHART), "--values", str(path)], check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
