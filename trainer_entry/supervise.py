"""Run the training engine as a child process and pass pod lifecycle signals through to it.

On pod eviction the kubelet sends SIGTERM to PID 1 (this process) and SIGKILL after the grace period. verl
runs Ray and worker processes under main_ppo, so the signal is forwarded to the child's whole process group
(the child is started in a new session); a second SIGTERM/SIGINT escalates to SIGKILL. The supervisor exits
with the child's exit code (128+N when the child died of signal N, as a shell reports it), and a short summary
goes to the Kubernetes termination log so ``kubectl describe pod`` / the operator can show why it ended.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_LOG_LIMIT = 4096  # the kubelet keeps at most 4096 bytes
FORWARDED = (signal.SIGTERM, signal.SIGINT)
# The line a Python traceback ends with ("ValueError: ...", "torch.OutOfMemoryError: ...", Ray's
# "ray.exceptions.RayTaskError(...): ..."), or Hydra's "Error executing job with overrides ...".
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*|Error executing job.*)")


def exit_status(returncode: int) -> int:
    """Popen returncode -> process exit status (-N for 'killed by signal N' becomes 128+N)."""
    return 128 - returncode if returncode < 0 else returncode


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, sig)


class Supervisor:
    """Start ``cmd`` in its own process group and forward SIGTERM/SIGINT to that group until it exits."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 stderr_tail: int = 0):
        self.cmd = list(cmd)
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.signals_received: list[int] = []
        # stderr_tail > 0: the child's stderr goes through this process (still to our stderr, line by line) and
        # its last lines are kept for error_summary().
        self.tail: collections.deque[str] = collections.deque(maxlen=max(stderr_tail, 1))
        self._capture = stderr_tail > 0

    def _pump_stderr(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            sys.stderr.buffer.write(raw)
            sys.stderr.buffer.flush()
            self.tail.append(raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def error_summary(self, limit: int = 500) -> str | None:
        """The child's last exception line on stderr (what `kubectl describe` should show), or None."""
        for line in reversed(self.tail):
            if _ERROR_LINE.match(line.strip()):
                return line.strip()[:limit]
        return None

    def _on_signal(self, signum, frame) -> None:
        self.signals_received.append(signum)
        if self.proc is None or self.proc.poll() is not None:
            return
        first = len(self.signals_received) == 1
        _signal_group(self.proc.pid, signum if first else signal.SIGKILL)

    def run(self, on_start: Callable[[subprocess.Popen], None] | None = None) -> int:
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in FORWARDED:
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, start_new_session=True,
                                         stderr=subprocess.PIPE if self._capture else None)
            pump = None
            if self._capture:
                pump = threading.Thread(target=self._pump_stderr, args=(self.proc.stderr,), daemon=True)
                pump.start()
            if self.signals_received:  # a signal arrived before the child existed: pass it on now
                _signal_group(self.proc.pid, self.signals_received[0])
            if on_start is not None:
                on_start(self.proc)
            while True:
                try:
                    returncode = self.proc.wait()
                    break
                except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
                    continue
            if pump is not None:
                pump.join(timeout=5)  # the rest of the child's stderr (its group may still hold the pipe open)
        finally:
            if in_main:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        # Anything the child left behind in its group (Ray workers, vLLM servers) goes with it.
        _signal_group(self.proc.pid, signal.SIGTERM)
        return exit_status(returncode)


def format_summary(
    exit_code: int,
    final_step: int | float | None,
    reward_mean: float | None,
    checkpoint: str | Path | None,
    reason: str | None = None,
) -> str:
    """One short human-readable line per fact, for the termination log."""
    step = "none" if final_step is None else str(int(final_step))
    reward = "none" if reward_mean is None else f"{reward_mean:.4g}"
    lines = [f"exit_code={exit_code}", f"final_step={step}", f"last_reward_mean={reward}"]
    lines.append(f"checkpoint={checkpoint or 'none'}")
    if reason:
        lines.append(f"reason={reason}")
    return "\n".join(lines) + "\n"


def write_termination_log(summary: str, path: str | Path = TERMINATION_LOG) -> bool:
    """Write the summary when the termination-log file exists (Kubernetes creates it). Returns True if written."""
    path = Path(path)
    if not path.exists():
        return False
    data = summary.encode()[:TERMINATION_LOG_LIMIT]
    try:
        path.write_bytes(data)
    except OSError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trainer_entry.supervise [--termination-log P] -- CMD...`` (used by tests and for debugging)."""
    parser = argparse.ArgumentParser(prog="python -m trainer_entry.supervise")
    parser.add_argument("--termination-log", default=str(TERMINATION_LOG))
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("give the command to run after --")
    sup = Supervisor(cmd)
    code = sup.run()
    reason = f"signal {signal.Signals(sup.signals_received[0]).name}" if sup.signals_received else None
    write_termination_log(format_summary(code, None, None, None, reason), args.termination_log)
    return code


if __name__ == "__main__":
    sys.exit(main())
