"""Unit tests of the operator's fault handling that needs no process: Retry-After parsing, the kopf watch patch,
a child the API server refuses (status and Event), and the server message it carries."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from grpo_operator import children, kopf_watch, kube
from grpo_operator.events import transition_events
from grpo_operator.status_derive import Observed, derive_status

NOW = "2026-01-01T00:00:00Z"


def api_error(status: int, headers: dict[str, str] | None = None, body: str = "") -> ApiException:
    e = ApiException(status=status, reason="x")
    e.headers, e.body = headers or {}, body
    return e


# --- Retry-After ----------------------------------------------------------------------------------------------


def test_retry_after_is_read_for_429_and_503_with_the_header_only():
    assert kube.retry_after_s(api_error(429, {"Retry-After": "3"})) == 3.0
    assert kube.retry_after_s(api_error(429, {"retry-after": "2.5"})) == 2.5
    assert kube.retry_after_s(api_error(429)) == kube.RETRY_AFTER_MIN_S, "a 429 without the header still waits"
    assert kube.retry_after_s(api_error(503, {"Retry-After": "4"})) == 4.0
    assert kube.retry_after_s(api_error(503)) is None, "an ordinary 503: the caller's own backoff"
    assert kube.retry_after_s(api_error(500, {"Retry-After": "4"})) is None
    assert kube.retry_after_s(api_error(429, {"Retry-After": "3600"})) == kube.RETRY_AFTER_MAX_S
    assert kube.retry_after_s(ValueError("no")) is None


@given(st.one_of(st.none(), st.text(max_size=20), st.floats(allow_nan=True).map(str), st.integers().map(str)))
def test_retry_after_is_always_within_its_bounds(header):
    wait = kube.retry_after_s(api_error(429, {"Retry-After": header} if header is not None else {}))
    assert kube.RETRY_AFTER_MIN_S <= wait <= kube.RETRY_AFTER_MAX_S


def test_a_throttled_request_is_retried_after_retry_after_then_raised(monkeypatch):
    """Kube.request sleeps Retry-After (+ at most 20 % jitter) between attempts, at most THROTTLE_RETRIES times."""
    sleeps: list[float] = []
    calls: list[int] = []

    async def fake_sleep(s):
        sleeps.append(s)

    async def throttled(self, *a, **k):
        calls.append(1)
        raise api_error(429, {"Retry-After": "2"})

    monkeypatch.setattr(kube.asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(kube.Kube, "_request_once", throttled)
    client = object.__new__(kube.Kube)
    client._rng, client.throttled = __import__("random").Random(1), 0
    try:
        asyncio.run(client.request("GET", "/x"))
    except ApiException as e:
        assert e.status == 429
    else:
        raise AssertionError("the last 429 must be raised")
    assert len(calls) == kube.THROTTLE_RETRIES + 1 and client.throttled == kube.THROTTLE_RETRIES
    assert all(2.0 <= s <= 2.0 * (1 + kube.RETRY_JITTER) for s in sleeps) and len(sleeps) == kube.THROTTLE_RETRIES


# --- kopf: an HTTP 410 on a watch request ----------------------------------------------------------------------


def test_kopf_watch_patch_turns_an_http_410_into_kopfs_restart_event():
    from kopf._cogs.clients import errors, watching

    assert kopf_watch.install() and kopf_watch.install(), "idempotent"
    assert getattr(watching.watch_objs, kopf_watch._MARK)

    async def gone(*a, **k):
        yield {"type": "ADDED", "object": {}}
        raise errors.APIClientError({"code": 410, "message": "too old"}, status=410, headers={})

    async def collect(fn):
        return [ev async for ev in fn()]

    wrapped = _rewrap(gone)
    events = asyncio.run(collect(wrapped))
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "ERROR" and events[1]["object"]["code"] == 410

    async def forbidden(*a, **k):
        raise errors.APIClientError({"code": 403}, status=403, headers={})
        yield  # pragma: no cover

    try:
        asyncio.run(collect(_rewrap(forbidden)))
    except errors.APIClientError as e:
        assert e.status == 403
    else:
        raise AssertionError("other client errors are kopf's as before")


def _rewrap(fn):
    """Install the patch around `fn` (a stand-in for kopf's watch_objs) and return the wrapper."""
    from kopf._cogs.clients import watching

    saved = watching.watch_objs
    watching.watch_objs = fn
    try:
        assert kopf_watch.install()
        return watching.watch_objs
    finally:
        watching.watch_objs = saved


# --- a child the API server refuses --------------------------------------------------------------------------


def test_server_message_is_taken_from_the_status_body():
    body = json.dumps({"kind": "Status", "message": 'Job.batch "x" is invalid: spec: bad'})
    assert children.server_message(api_error(422, body=body)) == 'Job.batch "x" is invalid: spec: bad'
    assert children.server_message(api_error(400, body="plain text")) == "plain text"


def test_a_refused_child_fails_the_grpojob_without_ending_the_run():
    obs = Observed(generation=2, child_rejections=["the API server refused Job ns/x (422): bad label"])
    status = derive_status(obs, {"phase": "Pending"}, NOW)
    assert status["phase"] == "Failed" and not status["completionTime"], "fixing the spec runs it"
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Valid"]["status"] == "False" and conds["Valid"]["reason"] == "ChildRejected"
    assert conds["Failed"]["reason"] == "ChildRejected" and "bad label" in conds["Failed"]["message"]
    [event] = transition_events({"phase": "Pending"}, status)
    assert event.type == "Warning" and event.reason == "ChildRejected" and "bad label" in event.message
