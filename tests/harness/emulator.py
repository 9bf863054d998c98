"""A kmock Kubernetes emulator with the API-server behaviour the grpo operator relies on.

kmock 0.8's `KubernetesEmulator` stores objects, serves list/watch/fetch and API discovery over real HTTP.
This subclass replaces its write path (create/patch/put/delete) to add what a real kube-apiserver does and
kopf or the operator depend on:

- metadata on create: `uid`, `resourceVersion` (one global counter), `creationTimestamp`, `generation`;
  `generateName` (kopf posts Events that way); 409 AlreadyExists for a live name.
- PATCH as JSON merge patch or JSON patch (a failed `test` op is 422, as kopf expects); strategic-merge
  patches are applied as merge patches (lists are replaced, not merged by key). PUT replaces, with a 409
  on a stale `metadata.resourceVersion`.
- the `status` subresource: writes to the main resource keep the stored status, writes to `/status` change
  only the status; `generation` grows when anything but metadata/status changes; status is dropped on create.
- watches that honour `resourceVersion` (replayed from an event log, 410 Expired when it is too old),
  `labelSelector`, `fieldSelector` and `timeoutSeconds`, with no gap between the snapshot and the stream;
  lists with the same selectors and a real `resourceVersion`.
- garbage collection: deleting an owner deletes the objects whose ownerReferences name its uid (at once,
  recursively; `propagationPolicy: Orphan` keeps them). Finalizers block deletion as in kmock. An object
  created with ownerReferences whose owners are all gone is accepted (201, as the real API server does) and
  then deleted at once, as the garbage collector would shortly after (`orphans_collected` records it).
- fault injection: `inject_fault(status, ...)` answers the next matching requests with an error and no
  state change; `drop_watches()` ends every open watch stream (clients must reconnect).
- `/api/v1/namespaces` (kmock's path parser cannot handle it): list/get the namespaces in use; create and delete
  are accepted (every namespace exists implicitly; deleting one does not delete its objects).

- `pods/{name}/log` (a stand-in for the kubelet's log stream): `set_pod_log(ns, pod, text, container=...)`
  sets or extends (`append=True`) what a container has logged, `end_pod_log` ends it (the container
  stopped). A GET answers 404 for a missing pod, 400 "container ... is waiting to start" before any log is
  set (as for a ContainerCreating pod), the text so far, and with `follow=true` keeps the response open and
  streams what is appended until the log ends or the pod is deleted.

Not emulated: admission, schema/CEL validation, RBAC, server-side apply, asynchronous GC timing, controllers
(no pods appear for a Job: tests patch the Job/pod status to simulate the lifecycle).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
from kmock._internal import enums

# plural -> (group/version, kind, namespaced, subresources)
RESOURCES: dict[str, tuple[str, str, bool, tuple[str, ...]]] = {
    "grpojobs": ("grpo.dev/v1alpha1", "GRPOJob", True, ("status",)),
    "configmaps": ("v1", "ConfigMap", True, ()),
    "secrets": ("v1", "Secret", True, ()),
    "pods": ("v1", "Pod", True, ("status",)),
    "events": ("v1", "Event", True, ()),
    "namespaces": ("v1", "Namespace", False, ("status",)),
    "jobs": ("batch/v1", "Job", True, ("status",)),
    "rayjobs": ("ray.io/v1", "RayJob", True, ("status",)),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", True, ()),
    "events.k8s": ("events.k8s.io/v1", "Event", True, ()),
    "customresourcedefinitions": ("apiextensions.k8s.io/v1", "CustomResourceDefinition", False, ("status",)),
}
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
EVENT_LOG_SIZE = 20000
_DROP = {"type": "_DROP"}  # bus sentinel: end the watch streams


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details or {})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return _clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- selectors ----------------------------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def match_labels(selector: str | None, labels: dict[str, str] | None) -> bool:
    """Kubernetes label selector: k, !k, k=v, k==v, k!=v, k in (a,b), k notin (a,b), joined by commas."""
    labels = labels or {}
    for term in _split_selector(selector or ""):
        if m := _SET_RE.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            ok = (labels.get(key) in values) if op == "in" else (labels.get(key) not in values)
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            ok = labels.get(key) != value
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            ok = labels.get(key) == value
        elif term.startswith("!"):
            ok = term[1:].strip() not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    return True


def match_fields(selector: str | None, obj: dict[str, Any]) -> bool:
    """Field selector on dotted paths (metadata.name=x, involvedObject.name=y, status.phase!=Running)."""
    for term in _split_selector(selector or ""):
        negate = "!=" in term
        path, value = (s.strip() for s in term.replace("==", "=").split("!=" if negate else "=", 1))
        cur: Any = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if (str(cur) == value if cur is not None else value == "") == negate:
            return False
    return True


# --- faults -------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    status: int
    action: str | None = None  # create, update (patch), replace (put), delete, fetch, list, watch
    plural: str | None = None
    name: str | None = None
    subresource: str | None = None
    count: int = 1
    retry_after: float | None = None  # sent as the Retry-After header (429/503)
    message: str | None = None  # the Status message (default: "injected fault: ...")
    hits: int = field(default=0)
    hit_times: list[float] = field(default_factory=list)  # monotonic time of each answered request
    hit_names: list[str | None] = field(default_factory=list)  # the object's name (a create's: from its body)

    def matches(self, action: str, plural: str | None, name: str | None, subresource: str | None) -> bool:
        return (self.count > 0 and self.action in (None, action) and self.plural in (None, plural)
                and self.name in (None, name) and self.subresource in (None, subresource))


_FAULT_REASONS = {409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests",
                  404: "NotFound", 422: "Invalid"}


def _clone(obj: Any) -> Any:
    """A deep copy of JSON data: cheaper than copy.deepcopy, which was the emulator's largest cost per create."""
    return json.loads(json.dumps(obj))


# --- the emulator -------------------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    _rv: int = attrs.field(default=0, init=False)
    _event_log: deque = attrs.field(factory=lambda: deque(maxlen=EVENT_LOG_SIZE), init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _created_namespaces: set[str] = attrs.field(factory=set, init=False)
    _faults_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    # (monotonic time, action, plural, namespace, name) of every successful write, for tests and benchmarks.
    writes: list[tuple[float, str, str, str | None, str]] = attrs.field(factory=list, init=False)
    # (monotonic time, plural, namespace, name) of every object created for an owner that was already gone.
    orphans_collected: list[tuple[float, str, str | None, str]] = attrs.field(factory=list, init=False)
    _live_uids: set[str] = attrs.field(factory=set, init=False)
    # (namespace, pod, container or None) -> [text so far, ended]; see set_pod_log
    _pod_logs: dict[tuple[str, str, str | None], list[Any]] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for plural, (gv, kind, namespaced, subresources) in RESOURCES.items():
            self.resources[f"{gv}/{plural.split('.')[0]}"] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=namespaced, verbs=VERBS,
                subresources=set(subresources))

    # --- public helpers (thread-safe enough: list appends are atomic; reads tolerate a moving target) -----

    def inject_fault(self, status: int, *, action: str | None = None, plural: str | None = None,
                     name: str | None = None, subresource: str | None = None, count: int = 1,
                     retry_after: float | None = None, message: str | None = None) -> Fault:
        """Answer the next `count` matching requests with `status` (no state change), with a `Retry-After`
        header when given (a throttling API server: 429 Too Many Requests), and `message` in the Status."""
        fault = Fault(status=status, action=action, plural=plural, name=name, subresource=subresource,
                      count=count, retry_after=retry_after, message=message)
        with self._faults_lock:
            self._faults.append(fault)
        return fault

    async def drop_watches(self) -> None:
        """End every open watch stream, as an API server restart or a load balancer timeout would."""
        for bus in list(self._buses.values()):
            await bus.put(_DROP)

    def set_pod_log(self, namespace: str, pod: str, text: str, *, container: str | None = None,
                    append: bool = False) -> None:
        """What the pod's container has logged (a stand-in for the kubelet); `append` extends a followed log."""
        entry = self._pod_logs.setdefault((namespace, pod, container), ["", False])
        entry[0] = entry[0] + text if append else text

    def end_pod_log(self, namespace: str, pod: str, *, container: str | None = None) -> None:
        """The container stopped: a followed log stream ends once it has sent everything."""
        self._pod_logs.setdefault((namespace, pod, container), ["", False])[1] = True

    def live_objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        gv = RESOURCES[plural][0]
        res = kmock.resource(gv + "/" + plural)
        return [_clone(obj.raw) for (r, ns, _), obj in list(self._objects.items())
                if r == res and not obj.deleted and namespace in (None, ns)]

    # --- request dispatch -----------------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        path = raw_request.path.rstrip("/")
        if path == "/api/v1/namespaces" or re.fullmatch(r"/api/v1/namespaces/[^/]+", path):
            return await self._serve_namespaces(raw_request, path)
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path):
            return await self._serve_pod_log(raw_request, m.group(1), m.group(2))
        return await super().__call__(raw_request)

    def _pod_exists(self, namespace: str, pod: str) -> bool:
        return any((obj.get("metadata") or {}).get("name") == pod for obj in self.live_objects("pods", namespace))

    async def _serve_pod_log(self, raw_request: aiohttp.web.BaseRequest, namespace: str,
                             pod: str) -> aiohttp.web.StreamResponse:
        def status(code: int, reason: str, message: str) -> aiohttp.web.Response:
            return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                              "code": code, "reason": reason, "message": message}, status=code)

        container = raw_request.query.get("container")
        if not self._pod_exists(namespace, pod):
            return status(404, "NotFound", f'pods "{pod}" not found')
        entry = self._pod_logs.get((namespace, pod, container)) or self._pod_logs.get((namespace, pod, None))
        if entry is None:
            return status(400, "BadRequest", f'container "{container or "?"}" in pod "{pod}" is waiting to start: '
                                             "ContainerCreating")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(raw_request)
        sent = 0
        while True:
            text, ended = entry[0], entry[1]
            if len(text) > sent:
                await response.write(text[sent:].encode())
                sent = len(text)
            if raw_request.query.get("follow") != "true" or ended or not self._pod_exists(namespace, pod):
                break
            await asyncio.sleep(0.05)
        await response.write_eof()
        return response

    async def _serve_namespaces(self, raw_request: aiohttp.web.BaseRequest, path: str) -> aiohttp.web.StreamResponse:
        if raw_request.method == "POST" and path == "/api/v1/namespaces":  # accepted; any namespace works anyway
            body = await raw_request.json()
            self._created_namespaces.add(body["metadata"]["name"])
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Namespace", **body}, status=201)
        if raw_request.method == "DELETE" and path != "/api/v1/namespaces":  # objects inside are kept (no GC)
            self._created_namespaces.discard(path.rsplit("/", 1)[1])
            return aiohttp.web.json_response({"kind": "Status", "status": "Success"})
        names = {"default", "kube-system"} | self._created_namespaces | {ns for (_, ns, _) in list(self._objects) if ns}
        items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}, "status": {"phase": "Active"}}
                 for n in sorted(names)]
        if raw_request.method != "GET":
            return aiohttp.web.json_response({"kind": "Status", "code": 405, "status": "Failure",
                                              "reason": "MethodNotAllowed",
                                              "message": f"{raw_request.method} {path} is not emulated"}, status=405)
        if path == "/api/v1/namespaces":
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "NamespaceList",
                                              "metadata": {"resourceVersion": str(self._rv)}, "items": items})
        name = path.rsplit("/", 1)[1]
        for item in items:
            if item["metadata"]["name"] == name:
                return aiohttp.web.json_response(item)
        return aiohttp.web.json_response({"kind": "Status", "code": 404, "status": "Failure", "reason": "NotFound",
                                          "message": f'namespaces "{name}" not found'}, status=404)

    def _action_name(self, request: kmock.Request) -> str | None:
        if request.method == enums.method.PUT and request.name:
            return "replace"
        return request.action.value.lower() if request.action is not None else None

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None:
            return await super()._handle(request)
        action = self._action_name(request)
        with self._faults_lock:
            fault = next((f for f in self._faults
                          if f.matches(action, request.resource.plural, request.name, request.subresource)), None)
            if fault is not None:
                fault.count -= 1
                fault.hits += 1
                fault.hit_times.append(time.monotonic())
                data = request.data if action == "create" and isinstance(request.data, dict) else {}
                fault.hit_names.append(request.name or (data.get("metadata") or {}).get("name"))
        if fault is not None:
            message = fault.message or f"injected fault: {fault.status} for {action} {request.resource.plural}/{request.name}"
            if fault.retry_after is not None:
                return aiohttp.web.json_response(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": fault.status,
                     "reason": _FAULT_REASONS.get(fault.status, "InjectedFault"), "message": message,
                     "details": {"retryAfterSeconds": int(fault.retry_after)}},
                    status=fault.status, headers={"Retry-After": f"{fault.retry_after:g}"})
            raise _error(fault.status, _FAULT_REASONS.get(fault.status, "InjectedFault"), message)
        if not request.resource.plural:  # API discovery: kmock's own reactions
            return await super()._handle(request)
        # Resource requests are served here directly: kmock's generic reaction matching costs ~10 ms a request.
        if action in ("create", "update", "replace", "delete") and (action != "delete" or request.name):
            async with self._lock:
                events = self._write(request, action)
                for event in events:
                    await self._publish(event)
            if action == "create":  # the real API answers 201 Created (the kubernetes client relies on it)
                key = (request.resource, request.data["metadata"].get("namespace"), request.data["metadata"]["name"])
                return aiohttp.web.json_response(self._objects[key].last.raw, status=201)
            info = self._info(request)
            key = (request.resource, request.namespace if info.namespaced else None, request.name)
            return aiohttp.web.json_response(self._objects[key].last.raw)
        if action == "fetch":
            info = self._info(request)
            key = (request.resource, request.namespace if info.namespaced else None, request.name)
            obj = self._objects[key] if key in self._objects else None  # noqa: SIM401 (no .get)
            if obj is None or obj.deleted:
                raise _error(404, "NotFound", f'{request.resource.plural} "{request.name}" not found',
                             name=request.name, kind=info.kind)
            return aiohttp.web.json_response(obj.raw)
        if action == "list":
            return aiohttp.web.json_response(await self._serve_list(request))
        if action == "watch":
            timeout = request.params.get("timeoutSeconds")
            if timeout is not None and not timeout.isdigit():  # the real API server answers 400 too
                raise _error(400, "BadRequest", f"timeoutSeconds: invalid integer {timeout!r}")
            response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request._raw_request)
            async for event in self._serve_watch(request):
                if event:
                    await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
            return response
        raise _error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.resource.plural}")

    # --- writes (called with self._lock held) ---------------------------------------------------------------

    def _info(self, request: kmock.Request) -> kmock.ResourceInfo:
        try:
            return self.resources[request.resource]
        except KeyError:
            raise _error(404, "NotFound", f"the server could not find the requested resource "
                                          f"({request.resource.plural})") from None

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _write(self, request: kmock.Request, action: str) -> list[dict[str, Any]]:
        info = self._info(request)
        if action == "create":
            return self._create(request, info)
        key = (request.resource, request.namespace if info.namespaced else None, request.name)
        obj = self._objects[key] if key in self._objects else None  # noqa: SIM401 (no .get)
        if obj is None or obj.deleted:
            raise _error(404, "NotFound", f'{request.resource.plural} "{request.name}" not found',
                         name=request.name, kind=info.kind)
        if action == "delete":
            body = request.data if isinstance(request.data, dict) else {}
            orphan = (body.get("propagationPolicy") or request.params.get("propagationPolicy")) == "Orphan"
            return self._delete(key, obj, orphan=orphan)
        return self._update(request, info, key, obj, replace=action == "replace")

    def _create(self, request: kmock.Request, info: kmock.ResourceInfo) -> list[dict[str, Any]]:
        data = request.data
        if not isinstance(data, dict):
            raise _error(400, "BadRequest", "the request body must be a JSON object")
        meta = data.setdefault("metadata", {})
        if info.namespaced:
            meta["namespace"] = request.namespace or meta.get("namespace") or "default"
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise _error(422, "Invalid", "metadata.name: Required value: name or generateName is required")
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        key = (request.resource, meta.get("namespace"), meta["name"])
        if key in self._objects and not self._objects[key].deleted:
            raise _error(409, "AlreadyExists", f'{request.resource.plural} "{meta["name"]}" already exists',
                         name=meta["name"], kind=info.kind)
        for volatile in ("uid", "resourceVersion", "deletionTimestamp", "generation", "creationTimestamp"):
            meta.pop(volatile, None)
        meta.update(uid=str(uuid.uuid4()), resourceVersion=self._next_rv(), creationTimestamp=_now(), generation=1)
        if "status" in info.subresources:
            data.pop("status", None)
        data.setdefault("apiVersion", request.resource.group + "/" + request.resource.version
                        if request.resource.group else request.resource.version)
        data.setdefault("kind", info.kind)
        if key in self._objects:
            self._objects[key].create(data)
        else:
            self._objects[key] = data
        self._live_uids.add(meta["uid"])
        self.writes.append((time.monotonic(), "create", request.resource.plural, key[1], key[2]))
        events = [{"type": "ADDED", "object": _clone(data), "_resource": request.resource}]
        if self._orphaned(meta):  # as the garbage collector would, soon after (the real API accepts the create)
            self.orphans_collected.append((time.monotonic(), request.resource.plural, key[1], key[2]))
            events += self._delete(key, self._objects[key], orphan=False)
        return events

    def _orphaned(self, meta: dict[str, Any]) -> bool:
        """Whether every owner this object names is gone (no live object has that uid)."""
        owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
        if not owners:
            return False
        return not owners & self._live_uids

    def _update(self, request: kmock.Request, info: kmock.ResourceInfo, key, obj, *, replace: bool):
        old = _clone(obj.raw)
        data = request.data
        if request.subresource not in (None, "status") or (request.subresource and request.subresource
                                                            not in info.subresources):
            raise _error(404, "NotFound", f"no subresource {request.subresource!r} on {request.resource.plural}")
        if replace:
            if not isinstance(data, dict):
                raise _error(400, "BadRequest", "the request body must be a JSON object")
            sent_rv = (data.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise _error(409, "Conflict", f'Operation cannot be fulfilled on {request.resource.plural} '
                             f'"{request.name}": the object has been modified; please apply your changes to the '
                             f'latest version and try again')
            new = _clone(data)
        elif isinstance(data, list):
            try:
                new = jsonpatch.apply_patch(old, data, in_place=False)
            except jsonpatch.JsonPatchTestFailed as e:
                raise _error(422, "Invalid", f"the JSON patch test failed: {e}") from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise _error(422, "Invalid", f"the JSON patch cannot be applied: {e}") from None
        elif isinstance(data, dict):
            sent_rv = (data.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise _error(409, "Conflict", f'the object {request.name!r} has been modified (resourceVersion '
                                              f'{sent_rv} is stale)')
            new = merge_patch(old, data)
        else:
            raise _error(400, "BadRequest", "the patch must be a JSON object or a JSON patch list")
        new_meta = new.setdefault("metadata", {})
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if fixed in old["metadata"]:
                new_meta[fixed] = old["metadata"][fixed]
            else:
                new_meta.pop(fixed, None)
        if "status" in info.subresources:
            if request.subresource == "status":
                new = {**old, "status": new.get("status")}
                new_meta = new["metadata"] = dict(old["metadata"])
            elif "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if new.get("status") is None:
            new.pop("status", None)
        new_meta.pop("resourceVersion", None)
        old_cmp = {**old, "metadata": {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}}
        if new == old_cmp:
            return []  # a no-op write: no new resourceVersion, no watch event (as the real API server)
        spec_keys = set(old) | set(new)
        if any(old.get(k) != new.get(k) for k in spec_keys - {"metadata", "status", "apiVersion", "kind"}):
            new_meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new_meta["resourceVersion"] = self._next_rv()
        obj.create(new)
        self.writes.append((time.monotonic(), "update", request.resource.plural, key[1], key[2]))
        events = [{"type": "MODIFIED", "object": _clone(new), "_resource": request.resource}]
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
            events += self._delete(key, obj, orphan=False)
        return events

    def _delete(self, key, obj, *, orphan: bool) -> list[dict[str, Any]]:
        raw = _clone(obj.raw)
        meta = raw["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return []
            meta["deletionTimestamp"] = _now()
            meta["resourceVersion"] = self._next_rv()
            obj.create(raw)
            return [{"type": "MODIFIED", "object": _clone(raw), "_resource": key[0]}]
        meta["resourceVersion"] = self._next_rv()
        obj.create(raw)
        obj.delete()
        self._live_uids.discard(meta.get("uid"))
        self.writes.append((time.monotonic(), "delete", key[0].plural, key[1], key[2]))
        events = [{"type": "DELETED", "object": raw, "_resource": key[0]}]
        if not orphan:
            events += self._collect_garbage(meta["uid"])
        return events

    def _collect_garbage(self, owner_uid: str) -> list[dict[str, Any]]:
        events = []
        for dep_key, dep in list(self._objects.items()):
            if dep.deleted:
                continue
            refs = dep.raw.get("metadata", {}).get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                events += self._delete(dep_key, dep, orphan=False)
        return events

    async def _publish(self, event: dict[str, Any]) -> None:
        resource = event.pop("_resource")
        rv = int(event["object"]["metadata"]["resourceVersion"])
        self._event_log.append((rv, resource, event))
        await self._buses[resource].put(event)

    # --- reads ----------------------------------------------------------------------------------------------

    def _selected(self, request: kmock.Request, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return (request.namespace in (None, meta.get("namespace"))
                and request.name in (None, meta.get("name"))
                and match_labels(request.params.get("labelSelector"), meta.get("labels"))
                and match_fields(request.params.get("fieldSelector"), obj))

    def _snapshot(self, request: kmock.Request) -> list[dict[str, Any]]:
        return [_clone(obj.raw) for (res, _, _), obj in list(self._objects.items())
                if res == request.resource and not obj.deleted and self._selected(request, obj.raw)]

    async def _serve_list(self, request: kmock.Request) -> dict[str, Any]:
        info = self._info(request)
        async with self._lock:
            items = self._snapshot(request)
            rv = str(self._rv)
        return {"apiVersion": request.resource.group + "/" + request.resource.version
                if request.resource.group else request.resource.version,
                "kind": f"{info.kind}List", "metadata": {"resourceVersion": rv}, "items": items}

    async def _serve_watch(self, request: kmock.Request):
        yield b""  # send the headers now
        bus = self._buses[request.resource]
        since = request.params.get("resourceVersion")
        async with self._lock:
            marker = await bus.mark()
            if since and since.isdigit() and int(since) > 0:
                oldest = self._event_log[0][0] if self._event_log else self._rv + 1
                if int(since) + 1 < oldest and int(since) < self._rv:
                    initial = [{"type": "ERROR", "object": {
                        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                        "reason": "Expired", "message": f"too old resource version: {since} ({oldest})"}}]
                else:
                    initial = [_clone(ev) for rv, res, ev in self._event_log
                               if rv > int(since) and res == request.resource
                               and self._selected(request, ev["object"])]
            else:
                initial = [{"type": "ADDED", "object": obj} for obj in self._snapshot(request)]
        timeout = int(request.params.get("timeoutSeconds") or 0) or None
        deadline = time.monotonic() + timeout if timeout else None
        try:
            for event in initial:
                yield event
                if event["type"] == "ERROR":
                    return
            stream = bus.stream(since=marker).__aiter__()
            while True:
                remaining = deadline - time.monotonic() if deadline else None
                if remaining is not None and remaining <= 0:
                    return
                try:
                    event = await asyncio.wait_for(stream.__anext__(), remaining)
                except TimeoutError:
                    return
                if event is _DROP:
                    return
                if self._selected(request, event["object"]):
                    yield event
        finally:
            await bus.unmark(marker)

