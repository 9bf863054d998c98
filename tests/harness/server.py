"""Serve a `KubeEmulator` over real HTTP on 127.0.0.1 from a background thread, with a kubeconfig for it.

    with EmulatorServer() as api:
        api.kubeconfig          # path of a kubeconfig pointing at http://127.0.0.1:<port>
        api.client()            # a kubernetes.client.ApiClient for that kubeconfig
        api.emulator            # the KubeEmulator (objects, writes, inject_fault)
        api.drop_watches()      # end every open watch stream
        api.cli_env()           # the environment for a CLI process (./train.sh, grpo_cli) talking to it
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import kmock
import yaml

from .emulator import KubeEmulator

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "grpojob.yaml"


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester",
                                                      "namespace": "default"}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


class EmulatorServer:
    def __init__(self, workdir: Path | None = None):
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="kube-emulator-")
        self.workdir = Path(workdir or self._tmp.name)
        self.emulator: KubeEmulator | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error:
            raise RuntimeError(f"the emulator did not start: {self._error!r}")
        self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.url)
        self._load_crd()
        return self

    def cli_env(self) -> dict[str, str]:
        """This process's environment, with the kubeconfig pointing at this server and this interpreter as the
        PYTHON that ./train.sh runs."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHON": sys.executable}

    def __exit__(self, *exc: Any) -> None:
        if self.loop and self._stop:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)
        if self._tmp:
            self._tmp.cleanup()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with KubeEmulator() as emulator, kmock.Server(emulator, host="127.0.0.1") as server:
            self.emulator = emulator
            self.port = server.port
            self._ready.set()
            await self._stop.wait()

    def call(self, coro, timeout: float = 10) -> Any:
        """Run a coroutine on the emulator's loop from the test thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def drop_watches(self) -> None:
        self.call(self.emulator.drop_watches())

    def _load_crd(self) -> None:
        """Store the real CRD, as `kubectl apply -f crds/` would (kopf reads it to find the resource)."""
        from kubernetes import client

        crd = yaml.safe_load(CRD_PATH.read_text())
        client.ApiextensionsV1Api(self.client()).create_custom_resource_definition(crd)

    def client(self):
        """A kubernetes ApiClient configured from the emulator's kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))
