"""Shared fixtures. The code under test is the installed packages (scripts/setup.sh installs this checkout's
four packages editable); no test edits sys.path.

Layers, by folder: unit/ (pure functions, in-process), integration/ (real processes and real counterparts:
`kopf run` against the API emulator, helm, promtool, Prometheus, verl's own config and code on CPU, the
trainer as a subprocess), e2e/ (a real cluster: `pytest -m kind`; GPUs: `pytest -m gpu`).
"""

import pytest


@pytest.fixture()
def default_kubeconfig(monkeypatch):
    """`default_kubeconfig(path)`: what `grpo_operator.kube.load_configuration()` reads outside a pod.

    The kubernetes package reads $KUBECONFIG once, at import (the operator process gets it from its environment),
    and loading a kubeconfig replaces its process-wide default Configuration: restored afterwards.
    """
    from kubernetes import client
    from kubernetes.config import kube_config

    saved = client.Configuration.get_default_copy()
    yield lambda path: monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    client.Configuration.set_default(saved)
