"""`grpo logs NAME [-n NS] [--follow]` and the log half of `./train.sh`'s follow mode: the trainer's log.

The trainer pod is the newest pod labelled with the GRPOJob (`grpo.dev/grpojob`) that is not a Ray worker: the
Job's pod (container `trainer`) or the RayJob's head. On the head, KubeRay's SidecarMode submitter container
(`ray-job-submitter`) follows the Ray job driver, i.e. the trainer's output; `ray-head` (the Ray runtime) is
the fallback. The log comes from the API server's pods/log endpoint (`read_namespaced_pod_log`, streamed with
`follow=True, _preload_content=False`), so it needs only the `pods/log` get right `kubectl logs` needs.
"""

from __future__ import annotations

import argparse
import codecs
import sys
import threading
from collections.abc import Callable
from typing import Any

from grpo_api import TERMINAL_PHASES
from grpo_api.constants import GROUP, LABEL_GRPOJOB, PLURAL, VERSION

from .train_args import UsageError

TRAINER_CONTAINERS = ("trainer", "ray-job-submitter", "ray-head")  # the first one a pod has is read
RAY_NODE_TYPE = "ray.io/node-type"


def trainer_pod(core, name: str, namespace: str) -> tuple[str, str] | None:
    """(pod, container) of the GRPOJob's newest trainer pod, or None while there is none."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"{LABEL_GRPOJOB}={name}").items
    pods = [p for p in pods if (p.metadata.labels or {}).get(RAY_NODE_TYPE) != "worker"]
    for pod in sorted(pods, key=lambda p: str(p.metadata.creation_timestamp or ""), reverse=True):
        names = [c.name for c in (pod.spec.containers if pod.spec else None) or []]
        for container in TRAINER_CONTAINERS:
            if container in names:
                return pod.metadata.name, container
    return None


def stream_pod_log(core, pod: str, container: str, namespace: str, follow: bool,
                   write: Callable[[str], None]) -> None:
    """Copy the container's log to `write` as it arrives (whole UTF-8 characters)."""
    resp = core.read_namespaced_pod_log(pod, namespace, container=container, follow=follow,
                                        _preload_content=False)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        for chunk in resp.stream(4096):
            if text := decoder.decode(chunk):
                write(text)
        if tail := decoder.decode(b"", final=True):
            write(tail)
    finally:
        resp.release_conn()


def _phase(custom, name: str, namespace: str) -> str | None:
    return (custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get("status") or {}).get(
        "phase")


def _waiting(exc) -> bool:
    """The API's answer for a container that has not started yet (400 '... is waiting to start')."""
    return exc.status == 400 and "waiting to start" in str(exc.body or "")


def print_logs(api, name: str, namespace: str, *, follow: bool, write: Callable[[str], None],
               interval_s: float = 1.0, stop: threading.Event | None = None) -> int:
    """Print the trainer's log. With `follow`, wait for the pod, stream until its container ends, and go on with
    a newer pod (a retry, a resume) until the GRPOJob is Succeeded or Failed or `stop` is set."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    stop = stop or threading.Event()
    done: set[str] = set()
    try:
        phase = _phase(custom, name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise UsageError(f"GRPOJob {name} not found in namespace {namespace}") from None
        raise
    while not stop.is_set():
        found = trainer_pod(core, name, namespace)
        if not follow:
            if found is None:
                raise UsageError(f"GRPOJob {name} has no trainer pod (phase {phase or 'Pending'}); "
                                 f"use --follow to wait for it")
            try:
                stream_pod_log(core, *found, namespace, False, write)
            except ApiException as exc:
                raise UsageError(f"no log for pod {found[0]} container {found[1]}: {exc.status} {exc.reason}: "
                                 f"{exc.body}") from None
            return 0
        if found is not None and found[0] not in done:
            try:
                stream_pod_log(core, *found, namespace, True, write)
                done.add(found[0])
            except ApiException as exc:
                if exc.status != 404 and not _waiting(exc):
                    raise
        if _phase(custom, name, namespace) in TERMINAL_PHASES:
            return 0
        stop.wait(interval_s)
    return 0


class LineWriter:
    """Writes whole lines to `out` under a lock (a log stream and progress lines share one terminal)."""

    def __init__(self, out: Any, lock: threading.Lock):
        self.out, self.lock, self.partial = out, lock, ""

    def __call__(self, text: str) -> None:
        *lines, self.partial = (self.partial + text).split("\n")
        if lines:
            with self.lock:
                self.out.write("".join(line + "\n" for line in lines))
                self.out.flush()

    def flush(self) -> None:
        if self.partial:
            self("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grpo logs", description="print the trainer's log of a GRPOJob "
                                     "(the Job's pod, or the RayJob head's Ray job driver)")
    parser.add_argument("name", metavar="NAME", help="GRPOJob name")
    parser.add_argument("--namespace", "-n", help="namespace (default: the kube context's)")
    parser.add_argument("--follow", "-f", action="store_true",
                        help="wait for the trainer pod and stream its log until the GRPOJob ends")
    args = parser.parse_args(argv)
    from .submit import connect

    try:
        connection = connect()
        if connection is None:
            raise UsageError("no Kubernetes cluster is reachable (no kubeconfig, or its API server does not answer)")
        api, context_ns = connection
        write = LineWriter(sys.stdout, threading.Lock())
        try:
            return print_logs(api, args.name, args.namespace or context_ns, follow=args.follow, write=write)
        finally:
            write.flush()
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
