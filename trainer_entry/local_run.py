"""`./train.sh --local`: run the trainer entrypoint on this machine, with ./outputs as the outputs volume.

The same code path as the pod (`python -m trainer_entry`): the job JSON is written where the operator's
ConfigMap would be, and the exporter listens on localhost (9400, or a free port when that one is taken).
"""

import json
import socket
from pathlib import Path

from grpo_api import GRPOJob
from grpo_api.constants import CONFIG_KEY, TRAINER_METRICS_PORT


def free_port(preferred: int = TRAINER_METRICS_PORT) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free TCP port on 127.0.0.1")


def run_local_job(job: GRPOJob, output_dir: Path, metrics_port: int | None = None) -> int:
    from trainer_entry.main import main as trainer_main

    output_dir = output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir / CONFIG_KEY
    config.write_text(json.dumps(job.to_wire(), indent=2, ensure_ascii=False) + "\n")
    summary = output_dir / "termination-log"
    summary.write_text("")  # like the kubelet's file: the trainer writes its summary only where one exists
    port = metrics_port or free_port()
    print(f"local run: engine {job.spec.engine}, model {job.spec.model.path}, outputs {output_dir}", flush=True)
    print(f"metrics: http://127.0.0.1:{port}/metrics", flush=True)
    code = trainer_main(["--config", str(config), "--outputs", str(output_dir), "--metrics-port", str(port),
                         "--metrics-addr", "127.0.0.1", "--termination-log", str(output_dir / "termination-log")])
    if summary.read_text().strip():
        print(summary.read_text().rstrip(), flush=True)
    print(f"checkpoints: {output_dir / 'checkpoints'}", flush=True)
    return code
