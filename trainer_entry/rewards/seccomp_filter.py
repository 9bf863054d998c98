"""The seccomp filter every code sandbox installs on itself before user code runs (raw BPF, no dependency).

Built here, in the trainer, once per architecture; the child (``sandbox_harness``) substitutes its own pid
for ``PID_PLACEHOLDER`` and loads it with ``prctl(PR_SET_NO_NEW_PRIVS)`` + ``prctl(PR_SET_SECCOMP)``, which
needs no privileges. The filter denies (EPERM): creating sockets (no network, no Unix sockets, so no Ray
dashboard on 127.0.0.1:8265), signals to any process but itself or its own process group (``kill`` and
``tgkill`` with another pid, ``tkill``, ``rt_(tg)sigqueueinfo``, pidfds), ``ptrace``/``process_vm_*``/
``kcmp``, new processes, threads and programs (``fork``/``clone``/``execve``), ``prctl`` (so it cannot make
itself dumpable again), namespaces/mounts, ``bpf``, ``perf_event_open``, ``userfaultfd``, keyrings and
``io_uring`` (which could do socket work around the filter). A syscall from a foreign ABI (x32, or an
architecture other than the filter's) kills the process.

Syscall numbers are listed per architecture (x86_64, aarch64); ``tests/unit/test_reward_code.py`` checks
them against libseccomp's tables where libseccomp is installed. On any other architecture there is no
filter and the sandbox refuses to score code.
"""

from __future__ import annotations

import errno
import platform

PID_PLACEHOLDER = 0x7EADBEE5
# AUDIT_ARCH_* values the kernel reports in seccomp_data.arch
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

DENIED = (
    "socket", "socketpair", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "tkill",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    "fork", "vfork", "clone", "clone3", "execve", "execveat", "prctl", "unshare", "setns", "mount",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip
SELF_ONLY = ("kill", "tgkill")  # allowed only when the first argument is the sandbox's pid or 0 (own group)

SYSCALLS = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "kcmp": 312, "tkill": 200, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "pidfd_open": 434,
        "pidfd_send_signal": 424, "pidfd_getfd": 438, "fork": 57, "vfork": 58, "clone": 56, "clone3": 435,
        "execve": 59, "execveat": 322, "prctl": 157, "unshare": 272, "setns": 308, "mount": 165,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
        "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "kill": 62, "tgkill": 234,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "kcmp": 272, "tkill": 130, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240, "pidfd_open": 434,
        "pidfd_send_signal": 424, "pidfd_getfd": 438, "clone": 220, "clone3": 435,
        "execve": 221, "execveat": 281, "prctl": 167, "unshare": 97, "setns": 268, "mount": 40,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "kill": 129, "tgkill": 131,
    },
}  # fmt: skip

_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_KILL_PROCESS = 0x7FFF0000, 0x80000000
_RET_EPERM = 0x00050000 | errno.EPERM
_X32_SYSCALL_BIT = 0x40000000


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return code.to_bytes(2, "little") + bytes((jt, jf)) + k.to_bytes(4, "little")


def build(arch: str | None = None) -> bytes | None:
    """The filter program (``struct sock_filter[]`` bytes) for ``arch`` (default: this machine's), or None."""
    arch = arch or platform.machine()
    if arch not in SYSCALLS:
        return None
    nrs = SYSCALLS[arch]
    denied = [nrs[name] for name in DENIED if name in nrs]
    self_only = [nrs[name] for name in SELF_ONLY]
    # Layout: [arch check][load nr][x32 check][deny x N][self-only x M][ALLOW][self check: ld, jeq, jeq, EPERM, ALLOW]
    #         [EPERM][KILL]
    prog: list[tuple[int, int, int, int]] = []
    n_head = 3 + (1 if arch == "x86_64" else 0)
    n_body = len(denied) + len(self_only)
    allow_at = n_head + n_body
    selfcheck_at = allow_at + 1
    allow2_at = selfcheck_at + 4
    eperm_at = selfcheck_at + 5
    kill_at = eperm_at + 1

    def rel(target: int) -> int:
        off = target - (len(prog) + 1)
        assert 0 <= off < 256
        return off

    prog.append((_LD_W_ABS, 0, 0, 4))  # seccomp_data.arch
    prog.append((_JEQ_K, 0, rel(kill_at), AUDIT_ARCH[arch]))
    prog.append((_LD_W_ABS, 0, 0, 0))  # seccomp_data.nr
    if arch == "x86_64":
        prog.append((_JGE_K, rel(kill_at), 0, _X32_SYSCALL_BIT))
    for nr in denied:
        prog.append((_JEQ_K, rel(eperm_at), 0, nr))
    for nr in self_only:
        prog.append((_JEQ_K, rel(selfcheck_at), 0, nr))
    prog.append((_RET_K, 0, 0, _RET_ALLOW))
    prog.append((_LD_W_ABS, 0, 0, 16))  # low 32 bits of args[0] (pid_t is 32-bit; little-endian)
    prog.append((_JEQ_K, rel(allow2_at), 0, PID_PLACEHOLDER))
    prog.append((_JEQ_K, rel(allow2_at), 0, 0))
    prog.append((_RET_K, 0, 0, _RET_EPERM))
    prog.append((_RET_K, 0, 0, _RET_ALLOW))
    prog.append((_RET_K, 0, 0, _RET_EPERM))
    prog.append((_RET_K, 0, 0, _RET_KILL_PROCESS))
    assert len(prog) == kill_at + 1
    return b"".join(_insn(*i) for i in prog)
