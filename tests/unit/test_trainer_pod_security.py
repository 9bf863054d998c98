"""Least privilege of the trainer pods: Pod Security Standards "restricted" for every example's Job pod and
RayJob head/worker templates (checked by tests/pod_security.py, which is itself shown to flag each control),
no service-account token unless asked, writable places only on volumes, and the NetworkPolicy that selects
exactly the job's trainer pods and admits exactly the ports it should."""

from __future__ import annotations

import copy
import posixpath

import pytest

from grpo_api import constants as c
from grpo_api.spec import TRAINER_UID
from grpo_operator.builders import NetworkPolicySettings, build_children
from grpo_operator.builders.network_policy import RAY_DASHBOARD_PORT
from grpo_operator.builders.pod import HF_HOME, WRITABLE_ENV
from grpo_operator.builders.rayjob import HEAD_PORTS
from tests.pod_security import restricted_violations
from tests.unit.test_builders import EXAMPLES, IMAGE, UID, children, load_job, pod_specs

WORKLOAD_KINDS = ("Job", "RayJob")


def _workload(objs):
    return next(o for o in objs if o["kind"] in WORKLOAD_KINDS)


def _templates(workload):
    if workload["kind"] == "Job":
        return [workload["spec"]["template"]]
    cluster = workload["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]


EXAMPLE_PODS = [pytest.param(ex.name, i, id=f"{ex.stem}-{i}") for ex in EXAMPLES
                for i in range(len(pod_specs(_workload(children(ex.name)))))]


@pytest.mark.parametrize("example, index", EXAMPLE_PODS)
def test_every_example_pod_passes_restricted(example, index):
    template = _templates(_workload(children(example)))[index]
    assert restricted_violations(template["spec"], template["metadata"].get("annotations")) == []


@pytest.mark.parametrize("example, index", EXAMPLE_PODS)
def test_no_token_and_writable_places_on_volumes(example, index):
    spec = _templates(_workload(children(example)))[index]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsUser"] == TRAINER_UID and spec["securityContext"]["fsGroup"] == TRAINER_UID
    for container in spec["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = {e["name"]: e.get("value") for e in container["env"]}
        writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
        for name in (*WRITABLE_ENV, "HF_HOME"):
            path = env[name]
            assert any(path == m or path.startswith(m.rstrip("/") + "/") for m in writable), \
                f"{name}={path} is not on a writable volume ({writable})"
        assert env["HF_HOME"] == HF_HOME
        assert posixpath.commonpath([env["RAY_TMPDIR"], "/tmp"]) == "/tmp"


def test_token_and_capabilities_on_request():
    job = load_job("minimal.yaml", **{"spec.pod": {"automountServiceAccountToken": True,
                                                  "securityContext": {"addCapabilities": ["IPC_LOCK"],
                                                                      "runAsUser": 2000, "fsGroup": 3000}}})
    spec = _workload(build_children(job, uid=UID, image=IMAGE, namespace="ns"))["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is True
    assert spec["securityContext"]["runAsUser"] == 2000 and spec["securityContext"]["fsGroup"] == 3000
    sc = spec["containers"][0]["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["IPC_LOCK"]}
    # IPC_LOCK is outside "restricted" (and "baseline"): documented, and the checker says so.
    assert any("IPC_LOCK" in p for p in restricted_violations(spec))


# --- the checker flags each control it implements ---------------------------------------------------------


def _base_pod():
    return copy.deepcopy(_templates(_workload(children("minimal.yaml")))[0]["spec"])


VIOLATIONS = {
    "root user": (lambda p: p["securityContext"].update(runAsUser=0), "Running as Non-root user"),
    "container root user": (lambda p: p["containers"][0]["securityContext"].update(runAsUser=0), "Non-root user"),
    "runAsNonRoot false": (lambda p: p["containers"][0]["securityContext"].update(runAsNonRoot=False),
                           "Running as Non-root"),
    "runAsNonRoot unset": (lambda p: (p["securityContext"].pop("runAsNonRoot"),
                                      p["containers"][0]["securityContext"].pop("runAsNonRoot")), "Running as Non-root"),
    "privilege escalation": (lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
                             "Privilege Escalation"),
    "capabilities kept": (lambda p: p["containers"][0]["securityContext"].pop("capabilities"), "drop must include ALL"),
    "NET_RAW added": (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["NET_RAW"]),
                      "may only hold NET_BIND_SERVICE"),
    "SYS_ADMIN added": (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
                        "beyond baseline"),
    "no seccomp": (lambda p: (p["securityContext"].pop("seccompProfile"),
                              p["containers"][0]["securityContext"].pop("seccompProfile")), "Seccomp"),
    "seccomp unconfined": (lambda p: p["containers"][0]["securityContext"].update(
        seccompProfile={"type": "Unconfined"}), "Unconfined"),
    "privileged": (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "Privileged Containers"),
    "hostPath": (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "HostPath"),
    "nfs volume": (lambda p: p["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}), "Volume Types"),
    "hostNetwork": (lambda p: p.update(hostNetwork=True), "Host Namespaces"),
    "hostPID": (lambda p: p.update(hostPID=True), "Host Namespaces"),
    "hostPort": (lambda p: p["containers"][0]["ports"][0].update(hostPort=9400), "Host Ports"),
    "unsafe sysctl": (lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
                      "Sysctls"),
    "procMount": (lambda p: p["containers"][0]["securityContext"].update(procMount="Unmasked"), "/proc Mount"),
    "selinux user": (lambda p: p["securityContext"].update(seLinuxOptions={"user": "root"}), "SELinux"),
    "init container": (lambda p: p.setdefault("initContainers", []).append({"name": "i", "image": "x"}),
                       "initContainers[0]"),
}


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_checker_flags_a_violating_pod(case):
    pod = _base_pod()
    assert restricted_violations(pod) == []
    mutate, expected = VIOLATIONS[case]
    mutate(pod)
    problems = restricted_violations(pod)
    assert problems and any(expected in p for p in problems), problems


def test_kuberay_sidecar_submitter_is_the_known_exception():
    """KubeRay's SidecarMode submitter (GetDefaultSubmitterContainer: name, image, resources; command and env
    added) sets no container securityContext: the head pod it lands in leaves "restricted" (README: Security
    model). The pod-level settings still make it non-root with seccomp."""
    head = copy.deepcopy(_templates(_workload(children("multi-node.yaml")))[0]["spec"])
    head["containers"].append({"name": "ray-job-submitter", "image": head["containers"][0]["image"],
                               "command": ["ray", "job", "submit"], "resources": {"limits": {"cpu": "1"}}})
    problems = restricted_violations(head)
    assert problems and all("containers[1]" in p for p in problems), problems
    assert {p.split(":")[0] for p in problems} == {"Privilege Escalation", "Capabilities"}


# --- the NetworkPolicy ------------------------------------------------------------------------------------


def _matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and \
        not selector.get("matchExpressions")


def _policy(objs):
    return next(o for o in objs if o["kind"] == "NetworkPolicy")


@pytest.mark.parametrize("example", [ex.name for ex in EXAMPLES])
def test_network_policy_selects_exactly_the_jobs_trainer_pods(example):
    objs = children(example)
    other = children(example, **{"metadata.name": "someone-else"})
    policy = _policy(objs)
    selector = policy["spec"]["podSelector"]
    for template in _templates(_workload(objs)):
        assert _matches(selector, template["metadata"]["labels"])
    for template in _templates(_workload(other)):
        assert not _matches(selector, template["metadata"]["labels"]), "selects another GRPOJob's pods"
    assert not _matches(selector, {**_templates(_workload(objs))[0]["metadata"]["labels"],
                                   c.LABEL_COMPONENT: "config"})
    assert policy["metadata"]["ownerReferences"][0]["uid"] == UID
    assert policy["spec"]["policyTypes"] == ["Ingress"], "egress is open by default"


@pytest.mark.parametrize("example", [ex.name for ex in EXAMPLES])
def test_network_policy_admits_only_the_metrics_port_and_rays_ports_within_the_job(example):
    objs = children(example)
    policy, workload = _policy(objs), _workload(objs)
    templates = _templates(workload)
    ingress = policy["spec"]["ingress"]
    settings = NetworkPolicySettings()
    # The metrics port: the port the trainer container declares, from the configured scrapers only.
    declared = {p["containerPort"] for t in templates for ctr in t["spec"]["containers"] for p in ctr.get("ports", [])}
    metrics_rules = [r for r in ingress if r.get("ports") == [{"port": c.TRAINER_METRICS_PORT, "protocol": "TCP"}]]
    assert len(metrics_rules) == 1 and metrics_rules[0]["from"] == list(settings.metrics_from)
    assert c.TRAINER_METRICS_PORT in declared
    if workload["kind"] == "Job":
        assert ingress == metrics_rules
        assert declared == {c.TRAINER_METRICS_PORT}
        return
    # RayJob: every port (Ray's fixed and dynamic ones, NCCL) only from this job's pods; 8265 also from KubeRay.
    same_job = [r for r in ingress if "ports" not in r]
    assert len(same_job) == 1 and same_job[0]["from"] == [{"podSelector": policy["spec"]["podSelector"]}]
    dashboard = [r for r in ingress if r.get("ports") == [{"port": RAY_DASHBOARD_PORT, "protocol": "TCP"}]]
    assert len(dashboard) == 1 and dashboard[0]["from"] == list(settings.ray_dashboard_from)
    assert ingress == metrics_rules + same_job + dashboard
    ray_ports = {p["containerPort"] for p in HEAD_PORTS}
    assert ray_ports <= declared
    open_to_others = {p["port"] for r in ingress if r is not same_job[0] for p in r["ports"]}
    assert open_to_others & ray_ports == {RAY_DASHBOARD_PORT}


def test_network_policy_settings():
    job = load_job("multi-node.yaml")
    off = build_children(job, uid=UID, image=IMAGE, namespace="ns", network_policy=NetworkPolicySettings(enabled=False))
    assert "NetworkPolicy" not in [o["kind"] for o in off]
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    egress = ({"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},)
    policy = _policy(build_children(job, uid=UID, image=IMAGE, namespace="ns", network_policy=NetworkPolicySettings(
        metrics_from=(peer,), ray_dashboard_from=(), egress_to=egress)))
    assert policy["spec"]["ingress"][0]["from"] == [peer]
    assert len(policy["spec"]["ingress"]) == 2  # no dashboard rule without peers
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    same_job = {"podSelector": policy["spec"]["podSelector"]}
    assert {"to": [same_job]} in policy["spec"]["egress"] and egress[0] in policy["spec"]["egress"]
    assert any(p.get("port") == 53 for r in policy["spec"]["egress"] for p in r.get("ports", []))
