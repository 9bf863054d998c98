"""Child-side harness of the code sandbox. Stdlib only; runs under ``python -I -S -B``.

It never sees an expected output and decides nothing: it runs the program and sends back, per test, what the
program produced as plain data; the trainer compares (see ``code_sandbox``). Whatever user code does to this
process (rewriting these functions, writing to the result pipe, patching builtins) it can only change the data
sent back, and it does not know the expected values.

Protocol: the parent starts ``python -I -S -B -c <BOOTSTRAP>``, which reads one marshalled
``(harness code object, payload dict)`` from stdin and calls ``main(payload)``. The payload::

    {"code": str, "mode": "stdio"|"call"|"assert", "tests": [...], "fn_name": str|None, "setup": str,
     "test_timeout_s": float, "memory_mb": int, "cpu_s": int, "uid": int|None, "workdir": str,
     "seccomp": bytes|None}

``tests``: stdio: stdin strings; call: argument lists; assert: lists of expression sources ("probes", parts of
an assert the trainer could not evaluate itself). Results go to the original stdout as frames
``<index> <kind> <length>\\n<data>``: kind ``o`` (stdout bytes, or ``repr`` of a plain value, or of a list of
probe values), ``e`` (error), ``t`` (timeout; ends the run). A first frame ``- S <length>`` means the sandbox
could not be set up (the trainer refuses to score); ``- R 0`` means it is ready and user code starts.

Before user code: own session; fds 1 and 2 to /dev/null; stdlib directories reopened as ``/proc/self/fd/N``
(imports work even when the Python installation lies under a directory the sandbox uid cannot enter, such as a
mode-700 /root); rlimits (memory, CPU, file size, core, processes); the drop to ``uid`` (as root);
``PR_SET_DUMPABLE`` 0; the seccomp filter; an audit hook (no sockets, subprocesses, signals, ctypes, or
writes outside the working directory).
"""

import _signal as signal
import builtins
import io
import os
import resource
import sys

_OUTPUT_CAP_BYTES = 8 * 1024 * 1024
_FILE_CAP_BYTES = 64 * 1024 * 1024
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _PR_SET_DUMPABLE, _SECCOMP_MODE_FILTER = 38, 22, 4, 2
_PID_PLACEHOLDER = 0x7EADBEE5
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _TestTimeout(BaseException):
    """Raised by the interval timer when one test runs too long."""


class _CappedBytes(io.BytesIO):
    def write(self, b):
        if self.tell() + len(b) > _OUTPUT_CAP_BYTES:
            raise OSError("sandbox: output limit exceeded")
        return super().write(b)


def _on_alarm(signum, frame):
    raise _TestTimeout()


def _prctl():
    """``prctl`` through the C ctypes module only (the ``ctypes`` package costs ~4 ms of startup)."""
    import _ctypes

    class _Long(_ctypes._SimpleCData):
        _type_ = "l"

    class _ULong(_ctypes._SimpleCData):
        _type_ = "L"

    class _Fn(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = _Long

    class _Lib:
        _handle = _ctypes.dlopen(None)

    fn = _Fn(("prctl", _Lib()))

    def prctl(option, arg2=0, arg3=0):
        if fn(_ULong(option), _ULong(arg2), _ULong(arg3), _ULong(0), _ULong(0)) != 0:
            raise OSError(_ctypes.get_errno(), f"prctl({option}) failed")

    def buffer(data):
        class _Buf(_ctypes.Array):
            _type_ = _Char
            _length_ = max(1, len(data))

        buf = _Buf.from_buffer_copy(data)
        return buf, _ctypes.addressof(buf)

    class _Char(_ctypes._SimpleCData):
        _type_ = "c"

    return prctl, buffer


def _install_seccomp(program):
    prctl, buffer = _prctl()
    prctl(_PR_SET_DUMPABLE, 0)
    placeholder = _PID_PLACEHOLDER.to_bytes(4, "little")
    program = program.replace(placeholder, os.getpid().to_bytes(4, "little"))
    filt, filt_addr = buffer(program)
    fprog, fprog_addr = buffer(
        (len(program) // 8).to_bytes(2, "little") + bytes(6) + filt_addr.to_bytes(8, "little")
    )
    prctl(_PR_SET_NO_NEW_PRIVS, 1)
    prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog_addr)
    del filt, fprog


def _reopen_stdlib():
    """Import path entries as /proc/self/fd/N: directory fds opened now keep working after the uid drop."""
    paths = []
    for p in sys.path:
        try:
            fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        paths.append(f"/proc/self/fd/{fd}")
    sys.path[:] = paths
    sys.path_importer_cache.clear()


def _set_limits(payload):
    mem = int(payload["memory_mb"]) * 1024 * 1024
    cpu = int(payload["cpu_s"])
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_CAP_BYTES, _FILE_CAP_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid = payload.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _audit_hook(workdir):
    workdir = os.path.realpath(workdir) + os.sep
    denied_prefixes = (
        "socket.",
        "subprocess.",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "ctypes.",
        "_ctypes.",
    )
    denied = {"os.system", "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.symlink", "os.link",
              "pty.spawn", "sys.addaudithook", "os.startfile", "webbrowser.open"}  # fmt: skip
    path_events = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                   "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"}  # fmt: skip
    realpath, startswith, fspath = os.path.realpath, str.startswith, os.fspath

    def inside(path):
        try:
            p = fspath(path)
        except TypeError:
            return False
        if isinstance(p, bytes):
            p = p.decode("utf-8", "surrogateescape")
        return startswith(realpath(p) + os.sep, workdir) or p == os.devnull

    def hook(event, args):
        if event in denied or startswith(event, denied_prefixes):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "import" and args[0] in ("ctypes", "_ctypes"):
            raise PermissionError("sandbox: ctypes is not allowed")
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags & _WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(
                    f"sandbox: writing outside the working directory is not allowed: {path!r}"
                )
        elif event in path_events and args and not inside(args[0]):
            raise PermissionError(f"sandbox: {event} outside the working directory is not allowed")

    sys.addaudithook(hook)


def _encode(value, depth=0):
    """``repr`` of plain data only (exact builtin types), so the trainer can ``ast.literal_eval`` it."""
    t = type(value)
    if depth > 100:
        raise ValueError("nested too deeply")
    if value is None or t is bool or t is str or t is bytes:
        return repr(value)
    if t is int:
        return repr(value) if -(2**64) < value < 2**64 else hex(value)
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("non-finite float")
        return repr(value)
    if t is list or t is tuple:
        inner = ", ".join(_encode(v, depth + 1) for v in value)
        return f"[{inner}]" if t is list else f"({inner}{',' if len(value) == 1 else ''})"
    if t is dict:
        return (
            "{"
            + ", ".join(f"{_encode(k, depth + 1)}: {_encode(v, depth + 1)}" for k, v in value.items())
            + "}"
        )
    if t is set:
        return "{" + ", ".join(_encode(v, depth + 1) for v in value) + "}" if value else "set()"
    raise TypeError(f"cannot send a {t.__name__} back")


def _feed_stdin(text):
    fd = os.memfd_create("stdin")
    os.write(fd, text.encode("utf-8"))
    os.lseek(fd, 0, os.SEEK_SET)
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives for one test


def _run_stdio(code, stdin_text):
    _feed_stdin(stdin_text)
    buf = _CappedBytes()
    sys.stdout = io.TextIOWrapper(buf, encoding="utf-8", write_through=True)
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    finally:
        out, sys.stdout = sys.stdout, sys.__stdout__
    out.flush()
    return buf.getvalue()


def _function(namespace, name):
    if name in namespace and callable(namespace[name]):
        return namespace[name]
    cls = namespace.get("Solution")
    if isinstance(cls, type) and hasattr(cls, name):
        return getattr(cls(), name)
    raise NameError(f"no function {name!r} (or Solution.{name}) defined")


def _timed(fn, seconds):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(payload):
    os.setsid()
    results = os.fdopen(os.dup(1), "wb", buffering=0)

    def frame(index, kind, data=b""):
        results.write(b"%s %s %d\n" % (str(index).encode(), kind, len(data)) + data)

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    try:
        _reopen_stdlib()
        _set_limits(payload)
        if payload.get("seccomp") is not None:
            _install_seccomp(payload["seccomp"])
        _audit_hook(payload["workdir"])
    except Exception as e:  # noqa: BLE001 - any failure here means no sandbox: say so, run nothing
        frame("-", b"S", f"{type(e).__name__}: {e}".encode())
        return
    frame("-", b"R")
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(10000)
    timeout = float(payload["test_timeout_s"])
    mode, tests = payload["mode"], payload["tests"]
    try:
        code = compile(payload["code"], "<solution>", "exec")
    except (SyntaxError, ValueError):
        return
    namespace = {"__name__": "solution", "__builtins__": builtins}
    if mode != "stdio":
        sys.stdin = io.StringIO("")
        sys.stdout = io.TextIOWrapper(_CappedBytes(), encoding="utf-8", write_through=True)
        try:
            _timed(lambda: exec(code, namespace), timeout)
            if payload.get("setup"):
                _timed(lambda: exec(payload["setup"], namespace), timeout)
            fn = _function(namespace, payload["fn_name"]) if mode == "call" else None
        except BaseException:  # noqa: BLE001 - whatever the code raises, its tests fail
            return
    for i, test in enumerate(tests):
        try:
            if mode == "stdio":
                data = _timed(lambda t=test: _run_stdio(code, t), timeout)
            elif mode == "call":
                data = _encode(_timed(lambda a=test: fn(*a), timeout)).encode()
            else:
                values = _timed(lambda t=test: [eval(p, namespace) for p in t], timeout)
                data = _encode(values).encode()
        except _TestTimeout:
            frame(i, b"t")
            return
        except BaseException:  # noqa: BLE001 - a failing or exiting test is a failed test
            frame(i, b"e")
            continue
        frame(i, b"o", data)
