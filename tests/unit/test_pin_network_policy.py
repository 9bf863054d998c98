"""Pins the trainer NetworkPolicy where mutation testing found it unpinned: for a one-node and a multi-node
GRPOJob and each operator setting (chart values `networkPolicy.*`), the policy a cluster admin reads with
`kubectl get networkpolicy -o yaml`: which pods it fences, which ports it opens to whom, and when egress closes.
Every variant is checked against the Kubernetes 1.35 schema (strict) as well."""

from __future__ import annotations

import dataclasses

import kubernetes_validate
import pytest

from grpo_api import constants as c
from grpo_api import parse_grpojob
from grpo_operator.builders import DEFAULT_NETWORK_POLICY, NetworkPolicySettings, build_children
from grpo_operator.builders.network_policy import build_network_policy

UID = "6f1c2a9e-1111-4c2b-9a51-0123456789ab"
IMAGE = "registry.example/grpo-trainer:test"
K8S_VERSION = "1.35.0"
PROMETHEUS = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}, "namespaceSelector": {}}
OPERATOR = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "grpo-operator"}}, "namespaceSelector": {}}
KUBERAY = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}, "namespaceSelector": {}}
SELECTOR = {c.LABEL_GRPOJOB: "pin", c.LABEL_COMPONENT: "trainer", c.LABEL_MANAGED_BY: "grpo-operator"}
METRICS_RULE = {"from": [PROMETHEUS, OPERATOR], "ports": [{"port": 9400, "protocol": "TCP"}]}
SAME_JOB = {"podSelector": {"matchLabels": SELECTOR}}
DNS = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def job(nodes: int = 1):
    spec = {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, "data": {"train": {"path": "embedded:math"}},
            "resources": {"nodes": nodes, "gpusPerNode": 1}, "checkpoint": {"claimName": "shared"}}
    return parse_grpojob({"apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob",
                          "metadata": {"name": "pin", "namespace": "team-a"}, "spec": spec})


def policy(nodes: int = 1, settings: NetworkPolicySettings = DEFAULT_NETWORK_POLICY):
    p = build_network_policy(job(nodes), uid=UID, namespace="team-a", settings=settings)
    if p is not None:
        kubernetes_validate.validate(p, K8S_VERSION, strict=True)
    return p


def pod_labels(nodes: int) -> list[dict[str, str]]:
    """The labels of every trainer pod template of the GRPOJob's workload (Job pod, or Ray head and workers)."""
    workload = build_children(job(nodes), uid=UID, image=IMAGE, namespace="team-a")[-1]
    if workload["kind"] == "Job":
        return [workload["spec"]["template"]["metadata"]["labels"]]
    cluster = workload["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"]["metadata"]["labels"]] + [
        g["template"]["metadata"]["labels"] for g in cluster["workerGroupSpecs"]]


def selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match_labels.items())


def test_one_node_default_opens_only_the_metrics_port_to_the_scrapers():
    p = policy(1)
    assert (p["apiVersion"], p["kind"], p["metadata"]["name"]) == ("networking.k8s.io/v1", "NetworkPolicy",
                                                                   "pin-trainer")
    assert p["metadata"]["labels"][c.LABEL_COMPONENT] == "trainer"
    assert p["spec"] == {"podSelector": {"matchLabels": SELECTOR}, "policyTypes": ["Ingress"],
                         "ingress": [METRICS_RULE]}


@pytest.mark.parametrize("nodes", [1, 2, 4])
def test_the_policy_fences_every_trainer_pod_of_the_job(nodes):
    selector = policy(nodes)["spec"]["podSelector"]["matchLabels"]
    assert all(selects(selector, labels) for labels in pod_labels(nodes))
    other = policy(nodes)  # another GRPOJob's pods are not selected
    assert not selects(other["spec"]["podSelector"]["matchLabels"], {**pod_labels(nodes)[0], c.LABEL_GRPOJOB: "x"})


def test_multi_node_opens_everything_between_its_own_pods_and_the_dashboard_to_kuberay():
    p = policy(2)
    assert p["spec"]["policyTypes"] == ["Ingress"] and "egress" not in p["spec"]
    assert p["spec"]["ingress"] == [
        METRICS_RULE,
        {"from": [SAME_JOB]},  # no ports: GCS, raylet, object manager and NCCL ports are picked at run time
        {"from": [KUBERAY], "ports": [{"port": 8265, "protocol": "TCP"}]},
    ]
    # the port opened to KubeRay is the one the RayJob's head declares as its dashboard
    ray = build_children(job(2), uid=UID, image=IMAGE, namespace="team-a")[-1]
    head = ray["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": "dashboard", "containerPort": 8265, "protocol": "TCP"} in head["ports"]


def test_no_dashboard_peers_means_no_dashboard_rule():
    p = policy(2, NetworkPolicySettings(ray_dashboard_from=()))
    assert p["spec"]["ingress"] == [METRICS_RULE, {"from": [SAME_JOB]}]


def test_configured_peers_replace_the_defaults():
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    p = policy(2, NetworkPolicySettings(metrics_from=(scraper,), ray_dashboard_from=(scraper,)))
    assert p["spec"]["ingress"][0]["from"] == [scraper]
    assert p["spec"]["ingress"][2]["from"] == [scraper]


def test_disabled_means_no_policy_and_no_child():
    off = NetworkPolicySettings(enabled=False)
    assert policy(1, off) is None and policy(2, off) is None
    kinds = [o["kind"] for o in build_children(job(1), uid=UID, image=IMAGE, namespace="team-a", network_policy=off)]
    assert kinds == ["ConfigMap", "Job"]


def test_an_empty_egress_list_closes_egress_but_dns_and_the_jobs_own_pods():
    p = policy(1, NetworkPolicySettings(egress_to=()))
    assert p["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert p["spec"]["egress"] == [DNS, {"to": [SAME_JOB]}]
    rule = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443, "protocol": "TCP"}]}
    p = policy(2, NetworkPolicySettings(egress_to=(rule,)))
    assert p["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert p["spec"]["egress"] == [DNS, {"to": [SAME_JOB]}, rule]


def test_the_default_policy_leaves_egress_open():
    assert DEFAULT_NETWORK_POLICY.enabled is True and DEFAULT_NETWORK_POLICY.egress_to is None
    for nodes in (1, 2):
        assert "egress" not in policy(nodes)["spec"]


def test_settings_are_immutable_so_the_shared_default_cannot_drift():
    # DEFAULT_NETWORK_POLICY is one object, the default argument of every build; nobody may change it in place
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_NETWORK_POLICY.enabled = False  # type: ignore[misc]
    assert DEFAULT_NETWORK_POLICY.enabled is True
