"""The operator's async API client (grpo_operator.kube) over real HTTPS: kubeconfig loading, the server's CA,
the bearer token, TLS verification, and API errors. (Plain-HTTP use against the emulator is covered by every
operator scenario in test_operator_kmock.py.)"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from kubernetes.client.exceptions import ApiException

from grpo_operator.kube import Kube, load_configuration

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "server.crt", d / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-test",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def _serve(cert: Path, key: Path, seen: list[dict]) -> tuple[web.AppRunner, int]:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"method": request.method, "path": request.path_qs, "auth": request.headers.get("Authorization"),
                     "content_type": request.headers.get("Content-Type"), "body": json.loads(body) if body else None})
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != TOKEN:  # the scheme is case-insensitive (RFC 7235)
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        if request.path.endswith("/missing"):
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        if request.method == "POST":
            return web.json_response({"kind": "Status", "code": 409, "message": "configmaps \"x\" already exists"},
                                     status=409)
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": request.path.rsplit("/", 1)[-1]}})

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def _kubeconfig(path: Path, port: int, cert: Path | None, insecure: bool = False) -> Path:
    cluster = {"server": f"https://127.0.0.1:{port}"}
    if cert is not None:
        cluster["certificate-authority"] = str(cert)
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    return path


def _run(certificate, tmp_path, default_kubeconfig, *, with_ca: bool, insecure: bool = False, scenario):
    cert, key = certificate

    async def main():
        seen: list[dict] = []
        runner, port = await _serve(cert, key, seen)
        default_kubeconfig(_kubeconfig(tmp_path / "kubeconfig", port, cert if with_ca else None, insecure))
        kube = Kube(load_configuration(), timeout_s=5)
        try:
            return await scenario(kube), seen
        finally:
            await kube.close()
            await runner.cleanup()

    return asyncio.run(main())


def test_https_with_the_kubeconfig_ca_and_token(certificate, tmp_path, default_kubeconfig):
    async def scenario(kube: Kube):
        got = await kube.get("v1", "ConfigMap", "ns", "present")
        gone = await kube.get("v1", "ConfigMap", "ns", "missing")
        await kube.patch("batch/v1", "Job", "ns", "j", {"spec": {"ttlSecondsAfterFinished": None}})
        with pytest.raises(ApiException) as conflict:
            await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}})
        return got, gone, conflict.value

    (got, gone, conflict), seen = _run(certificate, tmp_path, default_kubeconfig, with_ca=True, scenario=scenario)
    assert got["metadata"]["name"] == "present"
    assert gone is None, "404 reads as None"
    assert conflict.status == 409 and "already exists" in conflict.body
    assert {s["auth"] for s in seen} == {f"Bearer {TOKEN}"}
    assert [(s["method"], s["path"]) for s in seen] == [
        ("GET", "/api/v1/namespaces/ns/configmaps/present"), ("GET", "/api/v1/namespaces/ns/configmaps/missing"),
        ("PATCH", "/apis/batch/v1/namespaces/ns/jobs/j"), ("POST", "/api/v1/namespaces/ns/configmaps")]
    assert seen[2]["content_type"] == "application/merge-patch+json"
    assert seen[2]["body"] == {"spec": {"ttlSecondsAfterFinished": None}}, "null is sent (merge patch removes it)"


def test_an_unknown_server_certificate_is_refused(certificate, tmp_path, default_kubeconfig):
    async def scenario(kube: Kube):
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await kube.get("v1", "ConfigMap", "ns", "present")
        return True

    assert _run(certificate, tmp_path, default_kubeconfig, with_ca=False, scenario=scenario)[0]


def test_insecure_skip_tls_verify_is_honoured(certificate, tmp_path, default_kubeconfig):
    async def scenario(kube: Kube):
        return await kube.get("v1", "ConfigMap", "ns", "present")

    got, _ = _run(certificate, tmp_path, default_kubeconfig, with_ca=False, insecure=True, scenario=scenario)
    assert got["metadata"]["name"] == "present"


def test_in_cluster_service_account(certificate, tmp_path, monkeypatch, default_kubeconfig):
    """What the operator pod uses: $KUBERNETES_SERVICE_HOST/PORT, the mounted token and CA (no kubeconfig is
    read; `default_kubeconfig` restores the default Configuration the in-cluster loader replaces)."""
    from kubernetes.config import incluster_config

    cert, key = certificate
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)

    async def main():
        seen: list[dict] = []
        runner, port = await _serve(cert, key, seen)
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token_file))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cert))
        kube = Kube(load_configuration(), timeout_s=5)
        try:
            return await kube.get("v1", "ConfigMap", "ns", "present"), seen
        finally:
            await kube.close()
            await runner.cleanup()

    got, seen = asyncio.run(main())
    assert got["metadata"]["name"] == "present"
    assert seen[0]["auth"].lower() == f"bearer {TOKEN}"
