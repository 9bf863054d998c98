"""End-to-end runs of ``python -m trainer_entry`` with a stand-in for verl's main_ppo.

The stand-in is a real child process that reads the Hydra overrides it was given, loads the reward function from
``reward.custom_reward_function.path`` the way verl does, writes verl-format metric lines to
``$VERL_FILE_LOGGER_PATH``, rollout dumps to ``trainer.rollout_data_dir`` and checkpoints to
``trainer.default_local_dir``, and traps SIGTERM like a trainer that saves on eviction.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from grpo_api import constants as c

ROOT = Path(__file__).resolve().parents[2]

FAKE_MAIN_PPO = """
import importlib.util, json, os, signal, sys, time
from pathlib import Path

args = dict(a.split("=", 1) for a in sys.argv[1:])
unq = lambda v: v.strip("'")
ckpt = Path(unq(args["trainer.default_local_dir"]))
dump = Path(unq(args["trainer.rollout_data_dir"]))
spec = importlib.util.spec_from_file_location("custom_module", unq(args["reward.custom_reward_function.path"]))
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
score = getattr(mod, unq(args["reward.custom_reward_function.name"]))
Path(os.environ["FAKE_OUT"], "argv.json").write_text(json.dumps(sys.argv[1:]))

def save(step):
    (ckpt / f"global_step_{step}" / "actor").mkdir(parents=True, exist_ok=True)
    (ckpt / "latest_checkpointed_iteration.txt").write_text(str(step))

def on_term(signum, frame):
    save(2)
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)

log = open(os.environ["VERL_FILE_LOGGER_PATH"], "wb", buffering=0)
for step in (1, 2, 3):
    rewards = [score(data_source="math_reasoning", solution_str=s, ground_truth="42") for s in ("42", "41", "42")]
    dump.mkdir(parents=True, exist_ok=True)
    with open(dump / f"{step}.jsonl", "w") as f:
        for r in rewards:
            f.write(json.dumps({"input": "15 + 27 = ?", "output": "o", "gts": "42", "score": r, "step": step}) + "\\n")
    data = {"training/global_step": step, "training/epoch": 0, "critic/rewards/mean": sum(rewards) / 3,
            "critic/rewards/max": 1.0, "critic/rewards/min": 0.0, "actor/kl_loss": 0.001, "actor/pg_loss": 0.1}
    log.write((json.dumps({"step": step, "data": data}) + "\\n").encode())
save(3)
release = Path(os.environ["FAKE_OUT"], "release")
while not release.exists():
    time.sleep(0.05)
if os.environ.get("FAKE_RAISE"):
    print("Traceback (most recent call last):", file=sys.stderr)
    print("  File ray_trainer.py, line 1, in fit", file=sys.stderr)
    print(os.environ["FAKE_RAISE"], file=sys.stderr)
    print("(raylet) worker exiting", file=sys.stderr)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""

SEED_ROWS = [
    {"prompt": "请解答：15 + 27 = ?", "ground_truth": "42", "data_source": "math_reasoning"},
    {"prompt": "请解答：9 × 8 = ?", "ground_truth": "72", "data_source": "math_reasoning"},
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    def __init__(self, tmp_path, spec_extra=None, rows=SEED_ROWS, config_text=None, args=(), env=None):
        self.tmp = tmp_path
        self.port = free_port()
        self.tlog = tmp_path / "termination-log"
        self.tlog.touch()
        data = tmp_path / "train.json"
        data.write_text(json.dumps(rows, ensure_ascii=False))
        (tmp_path / "fakeverl").mkdir(exist_ok=True)
        (tmp_path / "fakeverl" / "fake_main_ppo.py").write_text(textwrap.dedent(FAKE_MAIN_PPO))
        spec = {
            "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
            "data": {"train": {"path": str(data)}},
            "training": {"batchSize": 2, "microBatchSizePerGPU": 2},  # 2 prompts × 5 rollouts: micro must divide 10
        }
        spec.update(spec_extra or {})
        job = {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": {"name": "t1"}, "spec": spec}
        config = tmp_path / "job.json"
        config.write_text(config_text if config_text is not None else json.dumps(job))
        self.outputs = tmp_path / "outputs"
        cmd = [
            sys.executable,
            "-m",
            "trainer_entry",
            "--config",
            str(config),
            "--outputs",
            str(self.outputs),
            "--metrics-port",
            str(self.port),
            "--metrics-addr",
            "127.0.0.1",
            "--termination-log",
            str(self.tlog),
            "--cpus",
            "64",
            "--verl-entry",
            "fake_main_ppo",
            *args,
        ]
        full_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path / "fakeverl"), os.environ.get("PYTHONPATH", "")]),
            "FAKE_OUT": str(tmp_path),
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def wait(self, timeout=60):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, out

    def scrape(self):
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        return {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}

    def wait_metrics(self, pred, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.proc.communicate()[0]
            try:
                m = self.scrape()
                if pred(m):
                    return m
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("metrics never matched")


def test_verl_run_end_to_end(tmp_path):
    run = Run(tmp_path)
    m = run.wait_metrics(
        lambda m: (
            m.get("grpo_global_step") == 3
            and "grpo_reward_std" in m
            and m.get("grpo_last_checkpoint_step") == 3
        )
    )
    assert m["grpo_reward_mean"] == pytest.approx(2 / 3)
    assert m["grpo_reward_std"] == pytest.approx(0.57735, abs=1e-4)  # within-group std of [1, 0, 1]
    assert m["grpo_kl_loss"] == 0.001
    assert m["grpo_total_steps"] == 15  # 2 rows / batch 2 x 15 epochs (seed default)
    (tmp_path / "release").touch()
    code, out = run.wait()
    assert code == 0, out
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert "actor_rollout_ref.rollout.n=5" in argv and "trainer.logger=[console,file]" in argv
    assert any(a.startswith("reward.custom_reward_function.path=") and "reward_func.py" in a for a in argv)
    verl_parquet = run.outputs / "data" / "verl" / "train.parquet"
    assert f"data.train_files='{verl_parquet}'" in argv
    assert (run.outputs / "data" / "verl" / "val.parquet").is_file()
    text = run.tlog.read_text()
    assert "exit_code=0" in text and "final_step=3" in text and "last_reward_mean=0.6667" in text
    assert f"checkpoint={run.outputs / 'checkpoints' / 'global_step_3'}" in text


def test_sigterm_is_forwarded_and_checkpoint_reported(tmp_path):
    run = Run(tmp_path)
    run.wait_metrics(lambda m: m.get("grpo_global_step") == 3)
    run.proc.send_signal(signal.SIGTERM)
    code, out = run.wait()
    assert code == c.EXIT_TERMINATED, out
    text = run.tlog.read_text()
    assert "exit_code=143" in text and "global_step_2" in text and "reason=verl exited with 143" in text


def test_engine_exit_code_passes_through(tmp_path):
    run = Run(tmp_path, env={"FAKE_EXIT": "7"})
    run.wait_metrics(lambda m: m.get("grpo_global_step") == 3)
    (tmp_path / "release").touch()
    assert run.wait()[0] == 7


def test_verls_exception_reaches_the_termination_log(tmp_path):
    """When verl itself fails, the reason says why (its last exception line), not only its exit code."""
    error = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    run = Run(tmp_path, env={"FAKE_EXIT": "1", "FAKE_RAISE": error})
    run.wait_metrics(lambda m: m.get("grpo_global_step") == 3)
    (tmp_path / "release").touch()
    code, out = run.wait()
    assert code == 1
    assert error in out  # verl's stderr still reaches the pod log
    assert f"reason=verl exited with 1: {error}" in run.tlog.read_text()


def test_bad_row_fails_fast_with_data_exit_code(tmp_path):
    run = Run(tmp_path, rows=[*SEED_ROWS, {"prompt": "x", "data_source": "qa"}])
    code, out = run.wait()
    assert code == c.EXIT_DATA_ERROR, out
    assert "row 3: field 'ground_truth': missing" in out
    assert "row 3" in run.tlog.read_text()
    assert not (tmp_path / "argv.json").exists()  # verl never started


def test_broken_reward_fails_with_reward_exit_code(tmp_path):
    reward = tmp_path / "my_reward.py"
    reward.write_text("def compute_score(solution):\n    return 1.0\n")
    run = Run(tmp_path, spec_extra={"reward": {"path": str(reward)}})
    code, out = run.wait()
    assert code == c.EXIT_REWARD_ERROR, out
    assert "cannot be called the way verl calls it" in out


def test_all_zero_reward_warns_loudly(tmp_path):
    reward = tmp_path / "zero.py"
    reward.write_text(
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n    return 0.0\n"
    )
    run = Run(tmp_path, spec_extra={"reward": {"path": str(reward)}}, args=["--dry-run"])
    code, out = run.wait()
    assert code == 0, out
    assert "WARNING: every ground-truth answer scored 0" in out
    command = json.loads(out.strip().splitlines()[-1])
    assert command[:3] == [sys.executable, "-m", "fake_main_ppo"]  # exactly what the run would execute
    assert f"reward.custom_reward_function.path='{reward}'" in command


@pytest.mark.parametrize(
    "config_text,spec_extra,words",
    [
        ("{not json", None, "is not valid JSON"),
        (None, {"grpo": {"rolloutn": 5}}, "grpo.rolloutn: unknown field"),
        (None, {"overrides": ["actor_rollout_ref.actor.no_such_key=1"]}, "Could not override"),
    ],
    ids=["bad-json", "invalid-spec", "unknown-override"],
)
def test_config_errors(tmp_path, config_text, spec_extra, words):
    run = Run(tmp_path, spec_extra=spec_extra, config_text=config_text)
    code, out = run.wait()
    assert code == c.EXIT_CONFIG_ERROR, out
    assert words in out


def test_too_few_cpus_for_ray(tmp_path):
    run = Run(tmp_path, spec_extra={"resources": {"gpusPerNode": 8}, "grpo": {"rolloutN": 4},
                                    "training": {"batchSize": 2, "microBatchSizePerGPU": 1}}, args=["--cpus", "16"])
    code, out = run.wait()
    assert code == c.EXIT_RAY_RESOURCES, out
    assert "verl needs at least 3 per GPU + 9 = 33" in out


def test_embedded_parity_data_for_the_trl_engine(tmp_path):
    import pyarrow.parquet as pq

    spec = {
        "engine": "trl",
        "model": {"path": "embedded:tiny"},
        "data": {"train": {"path": "embedded:parity"}},
        "resources": {"gpusPerNode": 0},
    }
    run = Run(tmp_path, spec_extra=spec, args=["--dry-run"])
    code, out = run.wait()
    assert code == 0, out
    data = run.outputs / "data" / "verl"
    assert pq.read_metadata(data / "train.parquet").num_rows == 512
    assert pq.read_metadata(data / "val.parquet").num_rows == 64
    assert "WARNING" not in out  # the builtin classification reward scores the toy labels


def test_embedded_math_data_for_the_seed_default_job(tmp_path):
    import pyarrow.parquet as pq

    run = Run(tmp_path, spec_extra={"data": {"train": {"path": "embedded:math"}}}, args=["--dry-run"])
    code, out = run.wait()
    assert code == 0, out
    data = run.outputs / "data" / "verl"
    assert pq.read_metadata(data / "train.parquet").num_rows == 2048
    table = pq.read_table(data / "val.parquet").to_pylist()
    assert len(table) == 256 and table[0]["data_source"] == "math_reasoning"
    assert "WARNING" not in out  # the builtin math_reasoning reward scores every ground truth 1


def test_unknown_embedded_data_set(tmp_path):
    run = Run(tmp_path, spec_extra={"data": {"train": {"path": "embedded:chess"}}}, args=["--dry-run"])
    code, out = run.wait()
    assert code == c.EXIT_CONFIG_ERROR, out
    assert "unknown embedded data set; known: embedded:math, embedded:parity" in out


def test_truncated_download_is_a_data_error(tmp_path):
    """A server that closes mid-body raises http.client.IncompleteRead (not an OSError): still exit 3."""
    import threading

    from grpo_api.spec import DataSource
    from trainer_entry.data import DataError
    from trainer_entry.main import fetch

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve_once():
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n[{")
        conn.close()

    threading.Thread(target=serve_once, daemon=True).start()
    try:
        with pytest.raises(DataError, match="download failed") as err:
            fetch(DataSource(url=f"http://127.0.0.1:{port}/train.json"), tmp_path, "train")
    finally:
        server.close()
    assert err.value.field == "spec.data.train.url" and err.value.exit_code == c.EXIT_DATA_ERROR


def test_url_with_a_control_character_is_a_data_error(tmp_path):
    """http.client refuses it with InvalidURL (a ValueError): a data error, not a crash (exit 1, retried)."""
    from grpo_api.spec import DataSource
    from trainer_entry.data import DataError
    from trainer_entry.main import fetch

    with pytest.raises(DataError, match="download failed"):
        fetch(DataSource(url="http://127.0.0.1:1/a\x01b.json"), tmp_path, "train")


@pytest.mark.parametrize("engine_spec", [{}, {"engine": "trl", "resources": {"gpusPerNode": 0}}], ids=["verl", "trl"])
def test_fewer_rows_than_batch_fails_fast(tmp_path, engine_spec):
    run = Run(tmp_path, spec_extra={"training": {"batchSize": 256}, **engine_spec})
    code, out = run.wait()
    assert code == c.EXIT_DATA_ERROR, out
    assert "has 2 rows, fewer than spec.training.batchSize=256" in out
    assert "reward preflight" not in out  # checked before the reward function is loaded


def test_sigterm_before_the_engine_starts(tmp_path):
    reward = tmp_path / "slow.py"
    marker = tmp_path / "scoring"
    reward.write_text(
        "import time\n"
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    time.sleep(8)\n"
        "    return 1.0\n"
    )
    run = Run(tmp_path, spec_extra={"reward": {"path": str(reward)}})
    end = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < end and run.proc.poll() is None
        time.sleep(0.05)
    run.proc.send_signal(signal.SIGTERM)
    code, out = run.wait(timeout=20)
    assert code == c.EXIT_TERMINATED, out
    assert "reason=signal SIGTERM" in run.tlog.read_text()
