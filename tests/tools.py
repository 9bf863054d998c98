"""Locate the real command-line tools the chart and monitoring tests run, and render the chart with helm.

Tools come from `scripts/install-tools.sh`: helm and kubectl in `<repo>/.tools/bin`, prometheus and promtool from
the Debian package (on PATH), typescript and @grafana/schema in `<repo>/.tools/node_modules`. A missing tool skips the test with the install command as the reason, except
under CI (`CI` set), where a missing tool is a failure: CI must not pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO / ".tools" / "bin"
CHART = REPO / "charts" / "grpo-operator"
KUBE_VERSION = "1.35.0"  # helm's kubectl layer ships 1.35; kubernetes-validate has its schemas
# The Kubernetes minors the project supports (Chart.yaml kubeVersion >=1.29: the Job's podReplacementPolicy) that
# kubernetes-validate has strict schemas for; rendered objects are validated against each.
SUPPORTED_KUBE_MINORS = [f"1.{m}.0" for m in range(29, 38)]


def find_tool(name: str) -> str:
    """Path of `name` from .tools/bin or PATH; skip (locally) or fail (CI) when it is absent."""
    local = TOOLS_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    _missing(f"`{name}` not found in {TOOLS_BIN} or PATH; run scripts/install-tools.sh")


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so a missing tool is an error)")
    pytest.skip(reason)


NODE_MODULES = REPO / ".tools" / "node_modules"


def find_node_package(package: str) -> Path:
    """`<repo>/.tools/node_modules/<package>` (npm, from scripts/install-tools.sh); skip locally, fail in CI."""
    find_tool("node")
    path = NODE_MODULES / package
    if not (path / "package.json").is_file():
        _missing(f"npm package `{package}` not found in {NODE_MODULES}; run scripts/install-tools.sh")
    return path


def run(cmd: list[str], *, timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def write_values(tmp_path: Path, name: str, values: dict) -> Path:
    path = tmp_path / f"values-{name}.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def helm_template(
    values_file: Path | None = None, *, release: str = "grpo", namespace: str = "grpo-system"
) -> list[dict]:
    """`helm template` the chart; returns the rendered objects (hooks included, empty documents dropped)."""
    helm = find_tool("helm")
    cmd = [helm, "template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    if values_file is not None:
        cmd += ["--values", str(values_file)]
    out = run(cmd).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict], kind: str) -> dict:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected exactly one {kind}, got {[o['metadata'].get('name') for o in found]}"
    return found[0]


# Every alert the chart's PrometheusRule defines (the chart test and the promtool test both check this set).
ALERTS = {
    "GRPOTrainingStalled",
    "GRPOTrainerNoFirstStep",
    "GRPOLossNaN",
    "GRPOKLDivergenceHigh",
    "GRPOResponseTruncationHigh",
    "GRPOJobFailed",
    "GRPOOperatorReconcileErrors",
}
