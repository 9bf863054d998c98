"""``python -m trainer_entry --config /etc/grpo/config/job.json``: everything between "the operator gave me a
config" and "the engine is training", then the exit code and a summary.

1. read the resolved GRPOJob (the JSON the operator writes into the config ConfigMap)
2. start the Prometheus exporter (:9400/metrics; the pod is Ready once it listens)
3. fetch/convert the train and validation data to verl parquet           (bad row  -> EXIT_DATA_ERROR)
4. load and preflight the reward function                                (bad reward -> EXIT_REWARD_ERROR)
5. verl: build the override list, compose it against verl's Hydra config (bad override -> EXIT_CONFIG_ERROR),
   check Ray's CPUs (-> EXIT_RAY_RESOURCES), run main_ppo as a supervised child; optionally merge the last
   checkpoint into a Hugging Face model.   trl: ``trainer_entry.trl_engine.train.run`` in-process.
6. write the termination-log summary and exit with the engine's code.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import logging
import os
import random
import shlex
import shutil
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from grpo_api import GRPOJob, GRPOJobInvalid, parse_grpojob
from grpo_api import constants as c
from grpo_api.pod_paths import DOWNLOAD_DIR, data_file_path, reward_file_path
from grpo_api.spec import DataSource
from grpo_api.verl_rules import job_warnings
from trainer_entry.checkpoints import latest_checkpoint
from trainer_entry.data import DataError, convert, load_rows, require_full_batch, rows_to_table
from trainer_entry.errors import ConfigError, RewardError, TrainerError
from trainer_entry.exporter import Exporter
from trainer_entry.preflight import run_preflight
from trainer_entry.supervise import Supervisor, format_summary, write_termination_log
from trainer_entry.verl_engine import ray_cluster
from trainer_entry.verl_engine.overrides import (
    VERL_ENTRY,
    VerlPaths,
    build_overrides,
    compose_verl_config,
    container_cpus,
    main_ppo_command,
    planned_steps,
    ray_cpu_check,
)

log = logging.getLogger("trainer_entry")

EMBEDDED_PREFIX = "embedded:"
VAL_SAMPLE_ROWS = 256  # validation rows taken from the training data when spec.data.val is unset


class Terminated(BaseException):
    """SIGTERM/SIGINT outside the supervised child (data prep, preflight, the in-process TRL engine).

    A BaseException, so ordinary `except Exception` blocks in engine code do not swallow it; `finally` blocks
    (e.g. a final checkpoint) still run, and main() exits 143 with a termination-log summary.
    """


def _terminate(signum, frame):
    raise Terminated(signal.Signals(signum).name)


@dataclass(frozen=True)
class RunPaths:
    outputs: Path
    data_dir: Path  # converted parquet
    checkpoint_dir: Path
    metrics_path: Path  # one file per attempt: verl's FileLogger truncates on open
    rollout_dir: Path

    @property
    def train_parquet(self) -> Path:
        return self.data_dir / "train.parquet"

    @property
    def val_parquet(self) -> Path:
        return self.data_dir / "val.parquet"


def run_paths(outputs: str | Path, attempt: str) -> RunPaths:
    out = Path(outputs)
    return RunPaths(
        outputs=out,
        data_dir=out / "data" / "verl",
        checkpoint_dir=out / c.CHECKPOINTS_SUBDIR,
        metrics_path=out / "metrics" / f"{attempt}.jsonl",
        rollout_dir=out / "rollouts",
    )


def attempt_id() -> str:
    """Unique per pod start (pod name + time), so a restarted pod never truncates an earlier attempt's log."""
    return f"{os.environ.get('HOSTNAME', 'local')}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"


def load_job(path: str | Path) -> GRPOJob:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read the job config {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"job config {path} is not valid JSON: {e.msg} at line {e.lineno}") from None
    try:
        return parse_grpojob(obj, str(path))
    except GRPOJobInvalid as e:
        raise ConfigError(str(e)) from None


def embedded_data_sets():
    """name -> writer(out_dir) -> (train.json, val.json): data sets built here, in the seed's format."""
    from trainer_entry.embedded.math_data import write_math_dataset
    from trainer_entry.embedded.toy_data import write_toy_dataset

    return {"parity": write_toy_dataset, "math": write_math_dataset}


def fetch(source: DataSource, download_dir: Path, role: str) -> Path:
    """The local file for a data source: mounted ConfigMap/PVC, image path, URL download, or embedded toy data."""
    if source.path is not None and source.path.startswith(EMBEDDED_PREFIX):
        name = source.path[len(EMBEDDED_PREFIX) :]
        writer = embedded_data_sets().get(name)
        if writer is None:
            raise ConfigError(f"spec.data.{role}.path: unknown embedded data set {name!r} "
                              f"(known: {', '.join(sorted(embedded_data_sets()))})")
        train, val = writer(download_dir / f"embedded-{name}")
        return train if role == "train" else val
    path = Path(data_file_path(source))
    if source.url is not None:
        path = download_dir / path.name
        if not source.url.startswith(("http://", "https://")) or path.name in ("", ".", ".."):
            raise ConfigError(
                f"spec.data.{role}.url {source.url!r}: only http(s) URLs naming a file are downloaded by the "
                f"trainer; put s3/gs data on a PVC (spec.data.{role}.pvc)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        try:
            with urllib.request.urlopen(source.url, timeout=60) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh)
                if getattr(resp, "length", None):  # bytes the Content-Length promised and never came
                    raise http.client.IncompleteRead(b"", resp.length)
        except (OSError, ValueError, http.client.HTTPException) as e:  # + InvalidURL, IncompleteRead
            raise DataError(source.url, f"download failed: {e}", field=f"spec.data.{role}.url") from None
        tmp.replace(path)
    return path


def prepare_data(job: GRPOJob, paths: RunPaths) -> list[dict]:
    """Convert train (and val, or a sample of train) to verl parquet; return the training rows."""
    download = Path(DOWNLOAD_DIR) if paths.outputs == Path(c.OUTPUTS_DIR) else paths.outputs / "data"
    train_src = fetch(job.spec.data.train, download, "train")
    convert(train_src, paths.train_parquet, split="train")
    rows = load_rows(paths.train_parquet, split="train")
    if job.spec.data.val is not None:
        convert(fetch(job.spec.data.val, download, "val"), paths.val_parquet, split="test")
    elif job.spec.data.train.path and job.spec.data.train.path.startswith(EMBEDDED_PREFIX):
        convert(fetch(job.spec.data.train, download, "val"), paths.val_parquet, split="test")
    else:
        sample = random.Random(0).sample(rows, min(VAL_SAMPLE_ROWS, len(rows)))
        pq.write_table(rows_to_table(sample), paths.val_parquet)
    return rows


def builtin_reward_file() -> Path:
    spec = importlib.util.find_spec("trainer_entry.reward_func")
    if spec is None or spec.origin is None:
        raise RewardError("the builtin reward module trainer_entry.reward_func is missing from this image")
    return Path(spec.origin)


def loud(message: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\nWARNING: {message}\n{bar}\n", file=sys.stderr, flush=True)


def verl_overrides(job: GRPOJob, paths: RunPaths, reward: Path) -> list[str]:
    verl_paths = VerlPaths(
        paths.train_parquet, paths.val_parquet, reward, paths.checkpoint_dir, paths.rollout_dir, paths.metrics_path
    )
    return build_overrides(job.spec, verl_paths, experiment_name=job.metadata.name or "grpojob")


def run_verl(job: GRPOJob, paths: RunPaths, reward: Path, args: argparse.Namespace) -> tuple[int, str | None]:
    """verl's exit code, and the last exception line it printed (None when it printed none)."""
    spec = job.spec
    overrides = verl_overrides(job, paths, reward)
    compose_verl_config(overrides)  # Hydra's own error in a second, before Ray and the model load
    if os.environ.get("RAY_ADDRESS"):
        gpus = spec.resources.nodes * spec.resources.gpus_per_node
        ray_cluster.wait_for_cluster(ray_cluster.connected_cluster_resources(), gpus, timeout_s=args.ray_wait)
        ray_cluster.disconnect()
    else:
        ray_cpu_check(args.cpus if args.cpus is not None else container_cpus(), spec.resources.gpus_per_node)
    env = {**os.environ, "VERL_FILE_LOGGER_PATH": str(paths.metrics_path), "HYDRA_FULL_ERROR": "1"}
    cmd = main_ppo_command(overrides, sys.executable, args.verl_entry)
    print("launching: " + shlex.join(cmd), flush=True)
    verl = Supervisor(cmd, env=env, stderr_tail=200)
    code = verl.run()
    if code == 0 and spec.checkpoint.export_hf:
        code = export_hf(paths, env)
    return code, verl.error_summary() if code != 0 else None


def export_hf(paths: RunPaths, env: dict[str, str]) -> int:
    ckpt = latest_checkpoint(paths.checkpoint_dir)
    if ckpt is None:
        loud("checkpoint.exportHF is set but no checkpoint was saved (training.saveFreq); nothing to export")
        return 0
    target = paths.outputs / "hf_model" / f"global_step_{ckpt.step}"
    cmd = [
        sys.executable,
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        "fsdp",
        "--local_dir",
        str(ckpt.actor_path),
        "--target_dir",
        str(target),
    ]
    print("exporting: " + " ".join(cmd), flush=True)
    return Supervisor(cmd, env=env).run()


def run_trl(job: GRPOJob, paths: RunPaths, reward: Path | None) -> int:
    from trainer_entry.trl_engine import train as trl_engine

    return trl_engine.run(
        job, paths.train_parquet, paths.val_parquet, reward, paths.checkpoint_dir, paths.metrics_path
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainer_entry", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=os.path.join(c.CONFIG_DIR, c.CONFIG_KEY), help="resolved GRPOJob JSON")
    p.add_argument("--outputs", default=c.OUTPUTS_DIR, help="outputs volume (checkpoints, data, metrics)")
    p.add_argument("--metrics-port", type=int, default=c.TRAINER_METRICS_PORT)
    p.add_argument("--metrics-addr", default="0.0.0.0")
    p.add_argument("--termination-log", default="/dev/termination-log")
    p.add_argument(
        "--cpus",
        type=float,
        default=None,
        help="CPUs the local Ray will see (default: the container's cgroup limit)",
    )
    p.add_argument("--ray-wait", type=float, default=600.0, help="seconds to wait for Ray worker nodes")
    p.add_argument("--verl-entry", default=VERL_ENTRY, help=argparse.SUPPRESS)  # tests run a stand-in
    p.add_argument(
        "--dry-run", action="store_true", help="prepare and check everything, print the command, exit"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    started = time.time()  # grpo_trainer_start_timestamp_seconds: the no-first-step alert counts from here
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGINT)}
    exporter = None
    code, reason = 0, None
    paths = run_paths(args.outputs, attempt_id())
    try:
        job = load_job(args.config)
        spec = job.spec
        for warning in job_warnings(spec):
            loud(str(warning))
        for d in (paths.data_dir, paths.checkpoint_dir, paths.metrics_path.parent):
            d.mkdir(parents=True, exist_ok=True)
        exporter = Exporter(
            paths.metrics_path,
            spec.engine,
            spec.model.path,
            paths.checkpoint_dir,
            paths.rollout_dir if spec.engine == "verl" else None,
            start_ts=started,
        )
        exporter.start(args.metrics_port, args.metrics_addr)
        rows = prepare_data(job, paths)
        require_full_batch(paths.train_parquet, len(rows), spec.training.batch_size)
        exporter.state.total_steps = float(planned_steps(len(rows), spec))
        user_reward = reward_file_path(spec.reward)
        report = run_preflight(user_reward, spec.reward.function_name, rows)
        print(
            f"reward preflight: {report.function} scored {report.samples} rows "
            f"({report.seconds_per_call * 1000:.1f} ms/call)",
            flush=True,
        )
        for warning in report.warnings:
            loud(warning)
        reward = Path(user_reward) if user_reward else None  # None: the builtin reward_func.py
        if args.dry_run:
            if spec.engine == "verl":
                overrides = verl_overrides(job, paths, reward or builtin_reward_file())
                compose_verl_config(overrides)
                print(json.dumps(main_ppo_command(overrides, sys.executable, args.verl_entry)))
            return 0
        summary = None
        if spec.engine == "verl":
            code, summary = run_verl(job, paths, reward or builtin_reward_file(), args)
        else:
            code = run_trl(job, paths, reward)
        if code != 0:
            # e.g. "verl exited with 1: torch.OutOfMemoryError: CUDA out of memory ..." into the termination log,
            # which the operator shows in the Failed condition and Event
            reason = f"{spec.engine} exited with {code}" + (f": {summary}" if summary else "")
    except TrainerError as e:
        code, reason = e.exit_code, f"{e.kind}: {e}"
        print(f"ERROR: {reason}", file=sys.stderr, flush=True)
    except Terminated as e:
        code, reason = c.EXIT_TERMINATED, f"signal {e}"
    finally:
        step = reward_mean = None
        if exporter is not None:
            exporter.stop()
            step = exporter.state.global_step
            reward_mean = exporter.state.values.get("critic/rewards/mean")
        ckpt = latest_checkpoint(paths.checkpoint_dir)
        if step is None and ckpt is not None:  # nothing trained in this attempt: report where the run stands
            step = ckpt.step
        write_termination_log(
            format_summary(code, step, reward_mean, ckpt.path if ckpt else None, reason), args.termination_log
        )
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
