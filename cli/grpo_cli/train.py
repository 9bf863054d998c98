"""`./train.sh` / `grpo train`: the seed's one-click GRPO training.

Modes, in order: `--dry-run` prints the GRPOJob and every object the operator would create; `--local` trains
on this machine (verl with CUDA GPUs, else TRL on CPU); otherwise the job goes to the current kube context's
cluster and is followed until it ends (Ctrl-C detaches, the job keeps running).
"""

import importlib.util
import sys
from pathlib import Path

from grpo_api import GRPOJobInvalid, parse_grpojob
from grpo_operator.builders import build_children, default_image

from .manifests import RENDER_UID, dump_stream
from .submit import connect, follow, inline_local_files, submit
from .train_args import TrainRequest, UsageError, build_request
from .verl_report import command_comment, report

EXIT_USAGE = 2


def detect_local_engine() -> str:
    """verl when this machine has CUDA GPUs and verl can run, else trl (CPU)."""
    try:
        import torch

        has_gpu = torch.cuda.is_available() and torch.cuda.device_count() > 0
    except ImportError:
        has_gpu = False
    runnable = all(importlib.util.find_spec(m) is not None for m in ("verl", "vllm", "ray"))
    return "verl" if has_gpu and runnable else "trl"


def _check_local_files(req: TrainRequest) -> None:
    for flag, value in (("--reward_func", req.reward_file), ("--data", req.data_file)):
        if value and not Path(value).is_file():
            raise UsageError(f"{flag} {value}: no such file")


def _check_local_engine(req: TrainRequest, engine_here: str) -> None:
    spec = req.manifest["spec"]
    if spec.get("engine") == "verl" and engine_here != "verl":
        raise UsageError("--engine verl needs CUDA GPUs and a full verl + vLLM install on this machine "
                         "(found none); drop --engine to train on CPU with TRL, or submit to a cluster")
    gpus = spec.get("resources", {}).get("gpusPerNode")
    if engine_here == "trl" and spec.get("engine", "trl") == "trl" and gpus:
        raise UsageError(f"--n_gpus {gpus}: this machine has no CUDA GPU; the local CPU engine (TRL) uses "
                         "none. Drop --n_gpus, or submit to a cluster")


def preflight_local_files(req: TrainRequest) -> None:
    """Catch bad data rows and a broken reward function here, before a cluster spends GPUs on them."""
    from trainer_entry.data import DataError, load_rows
    from trainer_entry.errors import RewardError
    from trainer_entry.preflight import load_reward_function, run_preflight

    try:
        rows = load_rows(req.data_file) if req.data_file else None
    except DataError as err:
        raise UsageError(f"--data: {err}") from None
    if not req.reward_file:
        return
    name = req.manifest["spec"].get("reward", {}).get("functionName", "compute_score")
    try:
        if rows:
            report = run_preflight(req.reward_file, name, rows)
            for warning in report.warnings:
                print(f"warning: {warning}", file=sys.stderr)
        else:
            load_reward_function(req.reward_file, name)
    except RewardError as err:
        raise UsageError(f"--reward_func {req.reward_file}: {err}") from None


def dry_run(req: TrainRequest, namespace: str | None) -> int:
    manifest = req.manifest
    data_cm = inline_local_files(manifest, req.reward_file, req.data_file)
    job = parse_grpojob(manifest)
    ns = namespace or job.metadata.namespace or "default"
    objects = ([data_cm] if data_cm else []) + [job.to_wire()]
    objects += build_children(job, uid=RENDER_UID, image=default_image(), namespace=ns)
    sys.stdout.write(command_comment(job) + dump_stream(objects))
    return 0


def run_cluster(req: TrainRequest) -> int:
    connection = connect()
    if connection is None:
        raise UsageError("no Kubernetes cluster is reachable (no kubeconfig, or its API server does not answer); "
                         "run with --local to train on this machine, or point KUBECONFIG at a cluster with "
                         "the grpo-operator installed (see README: Install)")
    api, context_ns = connection
    namespace = req.namespace or context_ns
    data_cm = inline_local_files(req.manifest, req.reward_file, req.data_file)
    job = parse_grpojob(req.manifest)
    submit(api, job, namespace, data_cm)
    name = job.metadata.name
    print(f"grpojob.{job.api_version.split('/')[0]}/{name} created in namespace {namespace}")
    if not req.follow:
        return 0
    return follow(api, name, namespace)


def run_local(req: TrainRequest) -> int:
    from trainer_entry.local_run import run_local_job

    job = parse_grpojob(req.manifest)
    return run_local_job(job, output_dir=Path(req.output_dir))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        engine_here = detect_local_engine() if "--local" in argv else None
        req = build_request(argv, local_engine=engine_here)
        _check_local_files(req)
        if req.local:
            _check_local_engine(req, engine_here)
        check = report(parse_grpojob(req.manifest), "GRPOJob")  # every flag problem before anything runs
        if check.error:
            raise UsageError(f"spec.overrides: {check.error}")
        preflight_local_files(req)  # a --dry-run refuses what a submit would
        if req.dry_run:
            return dry_run(req, req.namespace)
        return run_local(req) if req.local else run_cluster(req)
    except UsageError as err:
        print(f"train.sh: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except GRPOJobInvalid as err:
        print(f"train.sh: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
