"""Tests import this checkout's code, whatever `pip install -e` last pointed at (subprocesses too)."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_PATHS = [str(REPO / "operator"), str(REPO)]
for path in reversed(_PATHS):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ["PYTHONPATH"] = os.pathsep.join(_PATHS + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                     if p and p not in _PATHS])


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
