"""The developer tooling around the chart: tool discovery (skip locally, fail in CI), the kind setup files."""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest
import yaml

from tests import tools
from tests.tools import REPO, helm_template, one, run

KIND_UP = REPO / "scripts" / "kind-up.sh"


def test_missing_tool_skips_locally_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(tools, "TOOLS_BIN", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install-tools.sh"):
        tools.find_tool("helm")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        tools.find_tool("helm")
    # Found in .tools/bin first.
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert tools.find_tool("helm") == str(fake)


def test_kind_config_is_a_kind_cluster():
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [n["role"] for n in config["nodes"]]
    assert roles.count("control-plane") == 1 and "worker" in roles
    assert f"name: {config['name']}" in (REPO / "kind-config.yaml").read_text()
    assert re.search(r'CLUSTER="\$\{CLUSTER:-' + config["name"] + r'\}"', KIND_UP.read_text())


def test_kind_up_refers_to_files_and_objects_that_exist():
    script = KIND_UP.read_text()
    paths = re.findall(r"(?:-f|EXAMPLE-)\s*(images/\S+/Dockerfile|examples/[\w.-]+\.yaml)", script)
    assert sorted(set(paths)) == [
        "examples/local-cpu.yaml",
        "images/operator/Dockerfile",
        "images/trainer/Dockerfile",
    ]
    for path in paths:
        assert (REPO / path).is_file(), f"kind-up.sh uses {path}, which does not exist"
    assert (REPO / "examples" / "local-cpu.yaml").is_file()
    # The rollout-status line names the Deployment the chart creates for release "grpo".
    deployment = re.search(r"rollout status deployment/(\S+)", script).group(1)
    assert one(helm_template(release="grpo"), "Deployment")["metadata"]["name"] == deployment


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (optional lint)")
def test_shell_scripts_pass_shellcheck():
    run(["shellcheck", str(KIND_UP), str(REPO / "scripts" / "install-tools.sh")])


def _leaves(node, prefix=""):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


def test_chart_readme_values_table_is_current_and_complete():
    spec = importlib.util.spec_from_file_location(
        "chart_values_table", REPO / "scripts" / "chart_values_table.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    DEFAULT_VALUES, documented_keys, values_table = mod.DEFAULT_VALUES, mod.documented_keys, mod.values_table  # noqa: N806

    readme = (REPO / "charts" / "grpo-operator" / "README.md").read_text()
    table = readme.split("<!-- values-table:start -->\n")[1].split("<!-- values-table:end -->")[0]
    assert table == values_table(), (
        "charts/grpo-operator/README.md is stale: python scripts/chart_values_table.py"
    )
    documented = [k for k, _ in documented_keys(DEFAULT_VALUES.read_text())]
    for leaf in _leaves(yaml.safe_load(DEFAULT_VALUES.read_text())):
        assert any(leaf == k or leaf.startswith(k + ".") for k in documented), (
            f"values.yaml: `{leaf}` has no `# --` doc"
        )
