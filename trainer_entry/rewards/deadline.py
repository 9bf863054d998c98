"""Interrupt a slow pure-Python call (a sympy simplification) on any thread, including verl's reward threads.

math-verify's own timeouts use ``signal.alarm``, which only works on the main thread and raises a ValueError
on others; verl 0.9.1 calls a custom ``compute_score`` from a thread pool (``loop.run_in_executor``). So the
LaTeX scorer turns math-verify's timeouts off and wraps the call here instead: a timer thread raises
``DeadlineExceeded`` inside the calling thread (CPython's ``PyThreadState_SetAsyncExc``), which the
interpreter delivers at the next bytecode. Like a signal handler, it cannot stop one long C-level operation
(a huge integer power): the LaTeX scorer refuses such inputs before they reach sympy.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


class DeadlineExceeded(BaseException):
    """The wrapped call ran past its deadline.

    A BaseException, like KeyboardInterrupt: math-verify catches ``Exception`` around its parsing and returns
    "no parse" instead, which the scorer's parse cache then kept, so the same answer compared later (with time
    to spare) was judged unequal for the rest of the run. Nothing in math-verify, latex2sympy or sympy catches
    a BaseException, so the interruption now always reaches call_with_deadline and nothing caches its result.
    """


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """Run ``fn()`` on this thread; raise ``DeadlineExceeded`` if it runs longer than ``seconds``."""
    tid = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                _set_async_exc(tid, DeadlineExceeded)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        result = fn()
    except DeadlineExceeded:
        with lock:
            state["done"] = True
        raise DeadlineExceeded(f"gave up after {seconds:g} s") from None
    finally:
        timer.cancel()
        with lock:
            state["done"] = True
    if state["fired"]:
        # Fired after fn returned but before "done" was set: drop the pending exception, report the timeout.
        _set_async_exc(tid, ctypes.py_object())
        raise DeadlineExceeded(f"gave up after {seconds:g} s")
    return result
