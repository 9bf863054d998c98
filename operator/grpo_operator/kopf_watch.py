"""Make kopf re-list after an HTTP 410 Gone answer to a watch request, instead of exiting.

A watch resumed from a resourceVersion the API server no longer keeps ("too old resource version", e.g. after an
API server restart or a long disconnect) is refused with 410 Gone, in one of two ways:

- as an ERROR event inside a 200 stream: kopf handles that (kopf/_cogs/clients/watching.py, `continuous_watch`:
  "410 Gone is for the resource version too old error, we must restart watching" -> it returns to
  `infinite_watch`, which lists the objects again and watches from the new list's resourceVersion);
- as the HTTP status of the watch request itself (what the API server answers when the resourceVersion is
  already too old when the watch starts): kopf's `api.request` retries only connection errors, 5xx, 403 and
  429, so the 410 escalates as `APIClientError` out of the watcher task, and the whole operator stops
  (kopf 1.45.2; reproduced with the emulator in tests/integration/test_operator_faults.py).

`install()` wraps kopf's `watch_objs` so that the second form is turned into the first: the stream yields one
`ERROR` event with code 410, and kopf's own handling re-lists and continues. client-go's reflector does the
same for both forms (`isExpiredError`). Any other error is left to kopf as before. This touches a private kopf
function: if it is not there (another kopf version), nothing is patched and a warning says so.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)
_MARK = "_grpo_relists_on_410"


def _gone_event(error: Exception) -> dict[str, Any]:
    return {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                                        "reason": "Expired", "message": str(error)}}


def install() -> bool:
    """Patch kopf's watch request (idempotent); True when the patch is in place."""
    try:
        from kopf._cogs.clients import errors, watching
    except ImportError:  # pragma: no cover - another kopf layout
        log.warning("kopf's watching module was not found: an HTTP 410 on a watch request will stop the operator")
        return False
    original = getattr(watching, "watch_objs", None)
    if original is None:  # pragma: no cover
        log.warning("kopf has no watch_objs: an HTTP 410 on a watch request will stop the operator")
        return False
    if getattr(original, _MARK, False):
        return True

    async def watch_objs(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async for raw_input in original(*args, **kwargs):
                yield raw_input
        except errors.APIClientError as e:
            if e.status != 410:
                raise
            log.info("watch answered 410 Gone (%s): listing again", e)
            yield _gone_event(e)

    setattr(watch_objs, _MARK, True)
    watching.watch_objs = watch_objs
    return True
