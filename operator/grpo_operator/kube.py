"""A small dict-in/dict-out Kubernetes REST client on top of the kubernetes package's ApiClient.

The operator works on plain dicts (what the builders produce and kopf passes around), so this wraps the raw
REST calls instead of the typed model classes. `ApiException` (from kubernetes) is raised for non-2xx answers.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .constants import API_VERSION, KIND, PLURAL

AUTH_REFRESH_S = 60.0  # re-run the client's auth hooks (token file / exec plugin refresh) at most this often

PLURALS = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Pod"): "pods",
    ("batch/v1", "Job"): "jobs",
    ("ray.io/v1", "RayJob"): "rayjobs",
    (API_VERSION, KIND): PLURAL,
}


def load_api_client() -> client.ApiClient:
    """In-cluster service account when running in a pod, otherwise $KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


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


def is_status(err: Exception, *codes: int) -> bool:
    return isinstance(err, ApiException) and err.status in codes


class Kube:
    def __init__(self, api_client: client.ApiClient, timeout_s: float = 30.0):
        self.api = api_client
        self.timeout_s = timeout_s
        # Configuration.host re-reads the proxy environment, and the kubeconfig auth hook re-sets it on every
        # request (~2 ms of CPU each): read the host once and refresh the auth header once a minute.
        self.host = api_client.configuration.host.rstrip("/")
        self._auth: dict[str, str] = {}
        self._auth_at = -AUTH_REFRESH_S

    def request(self, method: str, url: str, *, body: Any = None, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        queries: list[tuple[str, str]] = list((query or {}).items())
        headers.update(self._auth_headers())
        full = self.host + url + ("?" + urllib.parse.urlencode(queries) if queries else "")
        resp = self.api.rest_client.request(method, full, headers=headers, body=body,
                                            _request_timeout=self.timeout_s)
        data = resp.read()
        if not 200 <= resp.status <= 299:
            raise ApiException.from_response(http_resp=resp, body=data.decode("utf-8", "replace"), data=None)
        return json.loads(data) if data else None

    def _auth_headers(self) -> dict[str, str]:
        if time.monotonic() - self._auth_at > AUTH_REFRESH_S:
            headers: dict[str, str] = {}
            self.api.update_params_for_auth(headers, [], ["BearerToken"], "/", "GET", None)
            self._auth, self._auth_at = headers, time.monotonic()
        return self._auth

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", path(api_version, kind, namespace, name))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        out = self.request("GET", path(api_version, kind, namespace), query={"labelSelector": label_selector})
        return list(out.get("items") or [])

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return self.request("POST", path(obj["apiVersion"], obj["kind"], meta["namespace"]), body=obj)

    def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any],
              subresource: str | None = None) -> dict[str, Any]:
        """JSON merge patch (null removes a field)."""
        return self.request("PATCH", path(api_version, kind, namespace, name, subresource), body=patch,
                            content_type="application/merge-patch+json")

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete with background propagation (the pods go too); False when it was already gone."""
        try:
            self.request("DELETE", path(api_version, kind, namespace, name),
                         body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True
