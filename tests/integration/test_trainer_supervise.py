import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from trainer_entry.checkpoints import latest_checkpoint, step_dirs
from trainer_entry.supervise import Supervisor, format_summary, write_termination_log

# A stand-in for verl: starts a grandchild (like a Ray worker), traps SIGTERM, "saves a checkpoint" and exits
# with 143. Both write marker files so the test can see who received the signal.
FAKE_TRAINER = """
import os, signal, subprocess, sys, time
out = sys.argv[1]
grandchild = subprocess.Popen([sys.executable, "-c", '''
import signal, sys, time
def bye(*a):
    open(sys.argv[1] + "/grandchild-got-term", "w").close(); sys.exit(0)
signal.signal(signal.SIGTERM, bye)
open(sys.argv[1] + "/grandchild-ready", "w").close()
while True: time.sleep(0.05)
''', out])
def on_term(signum, frame):
    os.makedirs(out + "/ckpt/global_step_7/actor", exist_ok=True)
    with open(out + "/ckpt/latest_checkpointed_iteration.txt", "w") as f:
        f.write("7")
    open(out + "/child-got-term", "w").close()
    grandchild.wait(5)
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
open(out + "/child-ready", "w").close()
while True:
    time.sleep(0.05)
"""


def wait_file(path, timeout=10.0):
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


@pytest.fixture
def fake_trainer(tmp_path):
    script = tmp_path / "fake_trainer.py"
    script.write_text(textwrap.dedent(FAKE_TRAINER))
    return script


def test_sigterm_reaches_child_and_its_group_and_exit_code_is_childs(tmp_path, fake_trainer):
    tlog = tmp_path / "termination-log"
    tlog.touch()
    sup = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer_entry.supervise",
            "--termination-log",
            str(tlog),
            "--",
            sys.executable,
            str(fake_trainer),
            str(tmp_path),
        ],
    )
    try:
        wait_file(tmp_path / "child-ready")
        wait_file(tmp_path / "grandchild-ready")
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=15) == 143
    finally:
        if sup.poll() is None:
            sup.kill()
    assert (tmp_path / "child-got-term").exists()
    assert (tmp_path / "grandchild-got-term").exists()
    assert latest_checkpoint(tmp_path / "ckpt").step == 7
    text = tlog.read_text()
    assert "exit_code=143" in text and "reason=signal SIGTERM" in text


def test_second_signal_escalates_to_sigkill(tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: open(sys.argv[1], 'w').close())\n"
        "open(sys.argv[1] + '.ready', 'w').close()\n"
        "while True: time.sleep(0.05)\n"
    )
    marker = tmp_path / "ignored"
    sup = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer_entry.supervise",
            "--termination-log",
            str(tmp_path / "absent"),
            "--",
            sys.executable,
            str(script),
            str(marker),
        ]
    )
    try:
        wait_file(tmp_path / "ignored.ready")
        sup.send_signal(signal.SIGTERM)
        wait_file(marker)  # the child got (and ignored) the first SIGTERM
        sup.send_signal(signal.SIGINT)
        assert sup.wait(timeout=15) == 128 + signal.SIGKILL
    finally:
        if sup.poll() is None:
            sup.kill()
    assert not (tmp_path / "absent").exists()  # no termination log is created where none exists


@pytest.mark.parametrize("code", [0, 3, 1])
def test_exit_code_passthrough(code):
    assert Supervisor([sys.executable, "-c", f"import sys; sys.exit({code})"]).run() == code


def test_child_killed_by_signal_reports_128_plus_n():
    cmd = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    assert Supervisor(cmd).run() == 137


def test_env_and_cwd_reach_child(tmp_path):
    cmd = [sys.executable, "-c", "import os; open('out.txt', 'w').write(os.environ['VERL_FILE_LOGGER_PATH'])"]
    env = {**os.environ, "VERL_FILE_LOGGER_PATH": "/outputs/metrics/a.jsonl"}
    assert Supervisor(cmd, env=env, cwd=tmp_path).run() == 0
    assert (tmp_path / "out.txt").read_text() == "/outputs/metrics/a.jsonl"


def test_summary_and_termination_log(tmp_path):
    summary = format_summary(0, 120.0, 0.8125, "/outputs/checkpoints/global_step_120")
    assert summary == (
        "exit_code=0\nfinal_step=120\nlast_reward_mean=0.8125\ncheckpoint=/outputs/checkpoints/global_step_120\n"
    )
    path = tmp_path / "termination-log"
    assert write_termination_log(summary, path) is False
    path.touch()
    assert write_termination_log(summary + "x" * 10000, path) is True
    assert len(path.read_bytes()) == 4096 and path.read_text().startswith("exit_code=0")


def test_checkpoint_discovery(tmp_path):
    assert latest_checkpoint(tmp_path / "none") is None
    for n in (5, 10, 15):
        (tmp_path / f"global_step_{n}" / "actor").mkdir(parents=True)
    (tmp_path / "global_step_x").mkdir()
    assert [n for n, _ in step_dirs(tmp_path)] == [5, 10, 15]
    # No tracker file: the highest step dir.
    assert latest_checkpoint(tmp_path).step == 15
    # The tracker wins (global_step_15 may be a save that was cut off).
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("10\n")
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt.step == 10 and ckpt.actor_path == tmp_path / "global_step_10" / "actor"
