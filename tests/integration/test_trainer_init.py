"""The trainer runs under tini (`TRAINER_INIT`), which reaps orphaned grandchildren; a plain parent does not.

Ray, vLLM and torch's compile workers leave orphans; under a Python PID 1 they stay zombies until the pod ends.
This runs the real tini (Debian package, as in the trainer image) with the builders' own command prefix.
"""

import subprocess
import sys
import textwrap

from grpo_operator.builders.pod import TRAINER_INIT, trainer_command
from tests.tools import find_tool

# Leaves an orphan that exits at once, then counts zombie children of its own parent (the init under test).
ORPHAN_AND_COUNT = textwrap.dedent("""
    import os, time
    if os.fork() == 0:          # child: fork a grandchild and exit, so the grandchild is orphaned
        if os.fork() == 0:
            time.sleep(0.2)
            os._exit(0)
        os._exit(0)
    os.wait()
    time.sleep(1.5)             # the grandchild has exited by now; has its new parent reaped it?
    init = os.getppid()
    zombies = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == init:
            zombies += 1
    print(zombies)
""")

# A subreaper that never waits for its adopted orphans: what a Python PID 1 without a reaper amounts to.
NON_REAPING_PARENT = textwrap.dedent("""
    import ctypes, subprocess, sys
    ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans come to this process, which never reaps them
    sys.exit(subprocess.run([sys.executable, "-c", sys.argv[1]]).returncode)
""")


def zombies_left(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_the_trainer_command_starts_with_the_init():
    assert trainer_command()[: len(TRAINER_INIT)] == TRAINER_INIT


def test_orphans_are_reaped_under_tini():
    find_tool("tini")  # skips locally / fails in CI when the Debian package is missing
    assert zombies_left([sys.executable, "-c", NON_REAPING_PARENT, ORPHAN_AND_COUNT]) == 1  # the check sees one
    assert zombies_left([*TRAINER_INIT, sys.executable, "-c", ORPHAN_AND_COUNT]) == 0
