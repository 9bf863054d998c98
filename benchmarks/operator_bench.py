"""Create 200 GRPOJobs at once against the API emulator; compare the operator with a minimal kopf operator.

For each operator (benchmarks/minimal_operator.py: one Job per object; grpo_operator.handlers: the real one)
under the same harness (tests/harness: the kmock-based emulator over HTTP in this process, `kopf run` as a
subprocess, and the GRPOJobs created by a third process from 8 threads, as kubectl would from elsewhere):
  - p50 / p99 / max latency from a GRPOJob's create to its Job's create (both timestamps taken by the emulator),
  - time until every Job exists, and (real operator) the p99 from create to the status write,
  - peak RSS of the operator process (VmHWM) and its CPU time until every Job exists.
Targets: the real operator's p50, p99 and RSS within 1.5x of the minimal one's, and p99 below 2 s. One round is
noisy on a shared 2-core machine (the minimal operator's p99 alone varies 0.27-0.95 s), so the operators
alternate for --repeat rounds and the medians are compared.

    python benchmarks/operator_bench.py [--count 200] [--threads 8] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.harness (the API emulator), which is not an installed package

from tests.harness.cluster import Cluster, grpojob  # noqa: E402
from tests.harness.operator_process import OperatorProcess, wait_for  # noqa: E402
from tests.harness.server import EmulatorServer  # noqa: E402

NAMESPACE = "bench"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(module: str, count: int, threads: int) -> dict[str, float]:
    with EmulatorServer() as api, tempfile.TemporaryDirectory() as workdir:
        op = OperatorProcess(api.kubeconfig, Path(workdir), module=module,
                             env={"GRPO_OPERATOR_WORKERS": "16", "GRPO_PROGRESS_INTERVAL": "30",
                                  # benchmarks.minimal_operator is a file of this checkout, not an installed package
                                  "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
        op.start()
        names = [f"bench-{i:04d}" for i in range(count)]
        submitter = subprocess.Popen([sys.executable, __file__, "--submit", str(api.kubeconfig),
                                      "--count", str(count), "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert submitter.stdout.readline().strip() == "ready"  # imports done: only the creates are timed
        cpu0 = cpu_seconds(op.proc.pid)
        start = time.monotonic()
        submitter.communicate("go\n", timeout=120)
        created_all = time.monotonic() - start

        def first(action: str, plural: str) -> dict[str, float]:
            out: dict[str, float] = {}
            for w in list(api.emulator.writes):
                if w[1] == action and w[2] == plural and w[3] == NAMESPACE:
                    out.setdefault(w[4], w[0])
            return out

        wait_for(lambda: len(first("create", "jobs")) >= count, 120, f"{count} Jobs", op, interval=0.1)
        all_jobs = time.monotonic() - start
        cpu_jobs = cpu_seconds(op.proc.pid) - cpu0
        ours = module == "grpo_operator.handlers"
        if ours:  # its first GRPOJob update is the status write (it writes no annotations: see the write budget)
            wait_for(lambda: len(first("update", "grpojobs")) >= count, 120, "every status", op, interval=0.1)
        all_status = time.monotonic() - start if ours else float("nan")
        time.sleep(1)  # let the follow-up work (events, status) finish before reading the peak RSS
        rss = peak_rss_mib(op.proc.pid)
        op.stop()
        grpojobs, jobs, status = first("create", "grpojobs"), first("create", "jobs"), first("update", "grpojobs")
        lat = [jobs[n] - grpojobs[n] for n in names]
        status_lat = [status[n] - grpojobs[n] for n in names] if ours else [float("nan")]
        return {"p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99), "max": max(lat),
                "mean": statistics.mean(lat), "submit": created_all, "all_jobs": all_jobs,
                "all_status": all_status, "status_p99": percentile(status_lat, 0.99), "rss": rss, "cpu": cpu_jobs}


def submit(kubeconfig: str, count: int, threads: int) -> None:
    """The client side, in its own process like kubectl: create `count` GRPOJobs from `threads` threads."""
    from kubernetes import config

    cluster = Cluster(config.new_client_from_config(kubeconfig), NAMESPACE)
    bodies = [grpojob(f"bench-{i:04d}") for i in range(count)]
    print("ready", flush=True)
    sys.stdin.readline()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(cluster.create, bodies))


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8, help="client threads creating the GRPOJobs")
    ap.add_argument("--repeat", type=int, default=5,
                    help="rounds; the two operators alternate within a round, the medians are compared")
    ap.add_argument("--only", choices=["minimal", "grpo"], help="run one operator (no comparison)")
    ap.add_argument("--submit", metavar="KUBECONFIG", help=argparse.SUPPRESS)  # internal: the client process
    args = ap.parse_args()
    if args.submit:
        submit(args.submit, args.count, args.threads)
        return 0
    operators = [(label, module) for label, module in (("minimal kopf (1 Job)", "benchmarks.minimal_operator"),
                                                       ("grpo-operator", "grpo_operator.handlers"))
                 if not args.only or args.only in label]
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in operators}
    print(f"{args.count} GRPOJobs created at once ({args.threads} client threads), API emulator on loopback, "
          f"{args.repeat} rounds\n")
    header = (f"{'operator':<22}{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'all Jobs s':>12}{'status p99 s':>14}"
              f"{'peak RSS MiB':>14}{'CPU s':>8}")
    print("round  " + header)
    for i in range(args.repeat):
        for label, module in operators:
            r = run(module, args.count, args.threads)
            runs[label].append(r)
            print(f"{i + 1:<7}" + _row(label, r), flush=True)
    results = {label: median_run(rs) for label, rs in runs.items()}
    print("\nmedian " + header)
    for label, r in results.items():
        print("       " + _row(label, r))
    if len(results) < 2:
        return 0
    base, ours = results["minimal kopf (1 Job)"], results["grpo-operator"]
    ratio = ours["p99"] / base["p99"] if base["p99"] else float("inf")
    print(f"\nmedians, grpo-operator / minimal (targets <= 1.5x): p99 {ratio:.2f}x, p50 {ours['p50'] / base['p50']:.2f}x, "
          f"peak RSS {ours['rss'] / base['rss']:.2f}x; p99 {ours['p99']:.3f} s (target < 2 s)")
    ok = ratio <= 1.5 and ours["p50"] <= 1.5 * base["p50"] and ours["rss"] <= 1.5 * base["rss"] and ours["p99"] < 2
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def _row(label: str, r: dict[str, float]) -> str:
    return (f"{label:<22}{r['p50']:>8.3f}{r['p99']:>8.3f}{r['max']:>8.3f}{r['all_jobs']:>12.2f}"
            f"{r['status_p99']:>14.2f}{r['rss']:>14.1f}{r['cpu']:>8.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
