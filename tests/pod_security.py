"""The Pod Security Standards "restricted" profile (Kubernetes 1.25+, policy version latest) as a checker.

Written from the control tables of https://kubernetes.io/docs/concepts/security/pod-security-standards:
"restricted" is every "baseline" control plus its own. `restricted_violations(pod_spec)` returns one line
per failed control, naming the control and the field, as Pod Security admission would refuse the pod.
Controls about fields this project never sets (Windows HostProcess, AppArmor/SELinux/procMount/sysctls) are
checked too, so a pod template changed later cannot slip through.
"""

from __future__ import annotations

from typing import Any

# Baseline: capabilities a container may add.
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
# Baseline: the "safe" sysctls.
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# Restricted: the only volume types.
RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
})
VOLUME_META_KEYS = frozenset({"name"})


def _containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(field) or []):
            out.append((f"spec.{field}[{i}]", container))
    return out


def _seccomp_type(sc: dict[str, Any] | None) -> str | None:
    return ((sc or {}).get("seccompProfile") or {}).get("type")


def baseline_violations(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[str]:
    problems = []
    pod_sc = spec.get("securityContext") or {}
    annotations = annotations or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"Host Namespaces: spec.{field} must be unset or false")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("HostProcess: spec.securityContext.windowsOptions.hostProcess must be unset or false")
    for i, vol in enumerate(spec.get("volumes") or []):
        if "hostPath" in vol:
            problems.append(f"HostPath Volumes: spec.volumes[{i}].hostPath is forbidden")
    if _seccomp_type(pod_sc) == "Unconfined":
        problems.append("Seccomp: spec.securityContext.seccompProfile.type must not be Unconfined")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"Sysctls: spec.securityContext.sysctls {sysctl.get('name')!r} is not a safe sysctl")
    for where, sc in [("spec.securityContext", pod_sc)] + [(f"{p}.securityContext", c.get("securityContext") or {})
                                                            for p, c in _containers(spec)]:
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            problems.append(f"SELinux: {where}.seLinuxOptions may set only an allowed type")
        if (sc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"AppArmor: {where}.appArmorProfile.type must be RuntimeDefault or Localhost")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and value != "runtime/default" \
                and not value.startswith("localhost/"):
            problems.append(f"AppArmor: annotation {key}={value!r} is not allowed")
    for path, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"Privileged Containers: {path}.securityContext.privileged must be unset or false")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"HostProcess: {path}.securityContext.windowsOptions.hostProcess must be unset or false")
        extra = set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if extra:
            problems.append(f"Capabilities: {path}.securityContext.capabilities.add {sorted(extra)} beyond baseline")
        for j, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                problems.append(f"Host Ports: {path}.ports[{j}].hostPort must be unset or 0")
        if _seccomp_type(sc) == "Unconfined":
            problems.append(f"Seccomp: {path}.securityContext.seccompProfile.type must not be Unconfined")
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"/proc Mount Type: {path}.securityContext.procMount must be Default")
    return problems


def restricted_violations(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[str]:
    """Every baseline and restricted control the pod spec fails (empty: admitted under enforce=restricted)."""
    problems = baseline_violations(spec, annotations)
    pod_sc = spec.get("securityContext") or {}
    for i, vol in enumerate(spec.get("volumes") or []):
        kinds = set(vol) - VOLUME_META_KEYS
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"Volume Types: spec.volumes[{i}] uses {sorted(kinds - RESTRICTED_VOLUME_TYPES)}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("Running as Non-root user: spec.securityContext.runAsUser must not be 0")
    for path, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"Privilege Escalation: {path}.securityContext.allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot") is False or (sc.get("runAsNonRoot") is None and pod_sc.get("runAsNonRoot") is not True):
            problems.append(f"Running as Non-root: {path}.securityContext.runAsNonRoot (or the pod's) must be true")
        if sc.get("runAsUser") == 0:
            problems.append(f"Running as Non-root user: {path}.securityContext.runAsUser must not be 0")
        seccomp = _seccomp_type(sc) or _seccomp_type(pod_sc)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"Seccomp: {path} needs seccompProfile.type RuntimeDefault or Localhost "
                            f"(its own or the pod's)")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"Capabilities: {path}.securityContext.capabilities.drop must include ALL")
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            problems.append(f"Capabilities: {path}.securityContext.capabilities.add may only hold NET_BIND_SERVICE "
                            f"(got {sorted(extra)})")
    return problems
