"""Cluster side of `./train.sh`: upload local files, create the GRPOJob, follow it.

Local files become objects the operator understands: a local reward file becomes `spec.reward.inline`
(the operator stores it in a ConfigMap), a small local data file a ConfigMap `<name>-data` that the
GRPOJob then owns (deleted with it).
"""

import sys
import threading
import time
from pathlib import Path
from typing import Any

from grpo_api import TERMINAL_PHASES, GRPOJob
from grpo_api.constants import GROUP, PLURAL, VERSION
from grpo_operator.builders import owner_reference

from .logs import LineWriter, print_logs
from .train_args import UsageError

LOG_DRAIN_S = 5.0  # at the end, how long the log stream may take to send its last lines

CONFIGMAP_LIMIT = 900 * 1024  # a ConfigMap holds at most 1 MiB, metadata included


def inline_local_files(manifest: dict[str, Any], reward_file: str | None, data_file: str | None
                       ) -> dict[str, Any] | None:
    """Rewrite the manifest so it names no file on this machine; return the data ConfigMap to create."""
    spec = manifest["spec"]
    if reward_file:
        source = Path(reward_file).read_text()
        spec["reward"] = {k: v for k, v in spec["reward"].items() if k != "path"} | {"inline": source}
    if not data_file:
        return None
    path = Path(data_file)
    if path.stat().st_size > CONFIGMAP_LIMIT:
        raise UsageError(f"--data {data_file}: {path.stat().st_size} bytes is too big for a ConfigMap "
                         f"(max {CONFIGMAP_LIMIT}); put it on a PVC (--data pvc://CLAIM/PATH) or a URL")
    name = f"{manifest['metadata']['name']}-data"
    key = path.name
    spec["data"]["train"] = {"configMap": {"name": name, "key": key}}
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    if path.suffix == ".parquet":
        import base64

        body["binaryData"] = {key: base64.b64encode(path.read_bytes()).decode()}
    else:
        body["data"] = {key: path.read_text()}
    return body


def connect(timeout_s: float = 3.0):
    """(ApiClient, namespace) for the current kube context, or None when no API server answers.

    The probe lists GRPOJobs, so a cluster without the CRD (or without the rights) is a clear error here
    rather than a failed create later."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    try:
        config.load_kube_config()
        _, active = config.list_kube_config_contexts()
        namespace = active.get("context", {}).get("namespace") or "default"
    except Exception:
        try:
            config.load_incluster_config()
            namespace = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
        except Exception:
            return None
    api = client.ApiClient()
    try:
        client.CustomObjectsApi(api).list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, limit=1, _request_timeout=timeout_s)
    except ApiException as exc:
        if exc.status == 404:
            raise UsageError(f"the cluster has no GRPOJob API ({PLURAL}.{GROUP}): install the operator first "
                             "(helm install grpo-operator charts/grpo-operator; see README)") from None
        if exc.status in (401, 403):
            raise UsageError(f"the cluster refused to list GRPOJobs in namespace {namespace} "
                             f"({exc.status} {exc.reason}); check your kube context's rights") from None
        raise UsageError(f"the API server answered {exc.status} {exc.reason} when listing GRPOJobs") from None
    except Exception:
        return None
    return api, namespace


def submit(api, job: GRPOJob, namespace: str, data_configmap: dict[str, Any] | None) -> dict[str, Any]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    name = job.metadata.name
    if data_configmap is not None:
        try:
            core.create_namespaced_config_map(namespace, data_configmap)
        except ApiException as exc:
            if exc.status != 409:
                raise
            core.replace_namespaced_config_map(data_configmap["metadata"]["name"], namespace, data_configmap)
    body = job.to_wire()
    body["metadata"]["namespace"] = namespace
    try:
        created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    except ApiException as exc:
        if exc.status == 409:
            raise UsageError(f"GRPOJob {name} already exists in namespace {namespace}; pick another --name") from None
        raise UsageError(f"the API server refused GRPOJob {name}: {exc.status} {exc.reason}: {exc.body}") from None
    if data_configmap is not None:
        ref = owner_reference(name, created["metadata"]["uid"])
        core.patch_namespaced_config_map(data_configmap["metadata"]["name"], namespace,
                                         {"metadata": {"ownerReferences": [ref]}})
    return created


def progress_line(obj: dict[str, Any], width: int = 30) -> str:
    status = obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    progress = status.get("progress") or {}
    step, total = progress.get("globalStep"), progress.get("totalSteps")
    reward = progress.get("rewardMean")
    if step is not None and total:
        done = min(width, int(width * step / total))
        bar = f"[{'#' * done}{'.' * (width - done)}] step {step}/{total}"
    else:
        bar = f"[{'.' * width}] step {step if step is not None else '-'}"
    reward_text = f"{reward:.3f}" if isinstance(reward, int | float) else "-"
    return f"{bar}  reward {reward_text}  phase {phase}"


def _stream_logs(api, name: str, namespace: str, write: LineWriter, stop: threading.Event) -> None:
    try:
        print_logs(api, name, namespace, follow=True, write=write, stop=stop)
    except Exception as exc:  # the log is a convenience: progress and the exit code don't depend on it
        write(f"(the trainer's log is not available: {exc})\n")
    finally:
        write.flush()


def follow(api, name: str, namespace: str, interval_s: float = 2.0, out=sys.stdout, logs: bool = True) -> int:
    """Print progress, and the trainer's log as it comes (`logs`), until the job ends: 0 when it succeeded,
    1 when it failed. Ctrl-C detaches."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    last = None
    lock, stop = threading.Lock(), threading.Event()
    log_thread = threading.Thread(target=_stream_logs, args=(api, name, namespace, LineWriter(out, lock), stop),
                                  name="trainer-log", daemon=True)
    if logs:
        log_thread.start()
    try:
        while True:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            line = progress_line(obj)
            if line != last:
                with lock:
                    out.write(line + "\n")
                    out.flush()
                last = line
            phase = (obj.get("status") or {}).get("phase")
            if phase in TERMINAL_PHASES:
                if logs:  # the log's last lines (the error) come before the verdict
                    log_thread.join(timeout=LOG_DRAIN_S)
                    stop.set()
                message = (obj.get("status") or {}).get("message")
                with lock:
                    if message:
                        out.write(f"{phase}: {message}\n")
                    out.flush()
                return 0 if phase == "Succeeded" else 1
            time.sleep(interval_s)
    except KeyboardInterrupt:
        stop.set()
        out.write(f"\ndetached; GRPOJob {name} keeps running: kubectl get grpo {name} -n {namespace} -w\n")
        return 0
