"""A small dict-in/dict-out asynchronous Kubernetes REST client (aiohttp, in kopf's event loop).

The operator works on plain dicts (what the builders produce and kopf passes around), so this makes the raw
REST calls instead of going through the typed model classes. Connection settings (host, TLS, client
certificates, bearer token and its refresh hooks, proxy) come from the kubernetes package's configuration:
the in-cluster service account, or $KUBECONFIG / ~/.kube/config.

Why not the kubernetes package's own (urllib3) client on worker threads: measured against a local server,
one request cost about 0.8 ms of CPU that way and 0.15-0.2 ms with aiohttp in the event loop; the operator
makes three per new GRPOJob. `ApiException` (from kubernetes) is raised for non-2xx answers, as before.

Throttling: a 429 Too Many Requests (API Priority and Fairness, or a proxy), or a 503 that carries a
`Retry-After`, is retried by the client itself after the server's `Retry-After` seconds (capped at
`RETRY_AFTER_MAX_S`, never less than `RETRY_AFTER_MIN_S`, plus up to 20 % random jitter so that many waiting
requests do not come back at once), at most `THROTTLE_RETRIES` times; then the error is raised with
`retry_after_s(error)` telling the caller how long the server asked it to wait. A 429/503 answer means the
server did not process the request, so retrying a POST is safe.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
import urllib.parse
from typing import Any

import aiohttp
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from grpo_api.constants import API_VERSION, KIND, PLURAL

AUTH_REFRESH_S = 60.0  # re-run the client's auth hooks (token file / exec plugin refresh) at most this often
THROTTLE_RETRIES = 3  # retries of one request answered 429 (or 503 with Retry-After), each after Retry-After
RETRY_AFTER_MIN_S = 0.5  # a 429 without (or with a zero) Retry-After still waits this long
RETRY_AFTER_MAX_S = 30.0  # a longer Retry-After is capped (the caller's own retry waits again if needed)
RETRY_JITTER = 0.2  # up to +20 % of the wait, at random

PLURALS = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Pod"): "pods",
    ("batch/v1", "Job"): "jobs",
    ("ray.io/v1", "RayJob"): "rayjobs",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    (API_VERSION, KIND): PLURAL,
}


def load_configuration() -> client.Configuration:
    """In-cluster service account when running in a pod, otherwise $KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.Configuration.get_default_copy()


def path(api_version: str, kind: str, namespace: str, name: str | None = None,
         subresource: str | None = None) -> str:
    plural = PLURALS[(api_version, kind)]
    root = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    out = f"{root}/namespaces/{namespace}/{plural}"
    if name:
        out += f"/{name}"
    if subresource:
        out += f"/{subresource}"
    return out


def ssl_context(cfg: client.Configuration) -> ssl.SSLContext | bool:
    """The TLS settings of a kubernetes Configuration for aiohttp (False: plain HTTP needs none)."""
    if not cfg.host.startswith("https"):
        return False
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    if not cfg.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.assert_hostname is False:
        ctx.check_hostname = False
    return ctx


def retry_after_s(error: BaseException) -> float | None:
    """Seconds the server asked to wait before the next attempt: for a 429, or a 503 with `Retry-After` (capped
    to [RETRY_AFTER_MIN_S, RETRY_AFTER_MAX_S]); None for any other error."""
    if not isinstance(error, ApiException) or error.status not in (429, 503):
        return None
    headers = {k.lower(): v for k, v in (getattr(error, "headers", None) or {}).items()}
    raw = headers.get("retry-after")
    if raw is None and error.status == 503:
        return None  # an ordinary 503: the caller's own backoff
    try:
        seconds = float(raw) if raw is not None else 0.0
    except ValueError:  # an HTTP date: the API server only sends seconds
        seconds = RETRY_AFTER_MAX_S
    if seconds != seconds:  # NaN
        seconds = RETRY_AFTER_MAX_S
    return min(max(seconds, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)


def _jittered(seconds: float, rng: random.Random) -> float:
    return seconds * (1 + RETRY_JITTER * rng.random())


class Kube:
    """Create it inside the running event loop; `close()` it on shutdown."""

    def __init__(self, cfg: client.Configuration, timeout_s: float = 30.0, max_connections: int = 16):
        self.cfg = cfg
        self.host = cfg.host.rstrip("/")
        self._auth_client = client.ApiClient(cfg)  # only for its auth hooks (token refresh), never for requests
        self._auth: dict[str, str] = {}
        self._auth_at = -AUTH_REFRESH_S
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context(cfg), limit=max_connections),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )
        self._extra = {"proxy": cfg.proxy} if cfg.proxy else {}
        if getattr(cfg, "tls_server_name", None):
            self._extra["server_hostname"] = cfg.tls_server_name
        self._rng = random.Random()
        self.throttled = 0  # requests retried after a 429/503 Retry-After

    async def close(self) -> None:
        await self._session.close()

    async def request(self, method: str, url: str, *, body: Any = None, query: dict[str, str] | None = None,
                      content_type: str = "application/json") -> Any:
        """One API call; a throttled one (429, or 503 with Retry-After) is retried after Retry-After."""
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return await self._request_once(method, url, body=body, query=query, content_type=content_type)
            except ApiException as e:
                wait = retry_after_s(e)
                if wait is None or attempt == THROTTLE_RETRIES:
                    raise
                self.throttled += 1
                await asyncio.sleep(_jittered(wait, self._rng))
        raise AssertionError("unreachable")

    async def _request_once(self, method: str, url: str, *, body: Any, query: dict[str, str] | None,
                            content_type: str) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type, **self._auth_headers()}
        full = self.host + url + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body) if body is not None else None
        async with self._session.request(method, full, data=data, headers=headers, **self._extra) as resp:
            raw = await resp.read()
            if not 200 <= resp.status <= 299:
                err = ApiException(status=resp.status, reason=resp.reason)
                err.body, err.headers = raw.decode("utf-8", "replace"), dict(resp.headers)
                raise err
        return json.loads(raw) if raw else None

    def _auth_headers(self) -> dict[str, str]:
        if time.monotonic() - self._auth_at > AUTH_REFRESH_S:
            headers: dict[str, str] = {}
            self._auth_client.update_params_for_auth(headers, [], ["BearerToken"], "/", "GET", None)
            self._auth, self._auth_at = headers, time.monotonic()
        return self._auth

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", path(api_version, kind, namespace, name))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return await self.request("POST", path(obj["apiVersion"], obj["kind"], meta["namespace"]), body=obj)

    async def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any],
                    subresource: str | None = None) -> dict[str, Any]:
        """JSON merge patch (null removes a field)."""
        return await self.request("PATCH", path(api_version, kind, namespace, name, subresource), body=patch,
                                  content_type="application/merge-patch+json")

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete with background propagation (the pods go too); False when it was already gone."""
        try:
            await self.request("DELETE", path(api_version, kind, namespace, name),
                               body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True
