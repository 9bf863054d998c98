"""Every Grafana dashboard query returns data from a real Prometheus scraping the real trainer exporter.

Grafana is not installable here, so the dashboard is tested where it can break: its PromQL and its label
assumptions. A real Prometheus (Debian package) scrapes
  - two real trainer exporters (trainer_entry.exporter), each fed by a verl-format metrics JSONL, a rollout
    dump directory (for the reward std) and a checkpoint directory; their targets carry the Kubernetes meta
    labels a pod target has, relabelled exactly as prometheus-operator does for a PodMonitor plus the chart's
    own PodMonitor relabelings (read from the rendered chart), which produce the `grpojob` and
    `grpojob_namespace` labels;
  - a static textfile endpoint served by this test with DCGM exporter metrics. These GPU metrics are
    SYNTHETIC (no GPU here): names and labels as dcgm-exporter emits them with Kubernetes pod mapping,
    scraped with honor_labels as the GPU operator's ServiceMonitor does;
  - a static textfile endpoint with kube-state-metrics' kube_pod_labels (also synthetic), which ties a Ray
    worker pod (no exporter, so no PodMonitor target) to its GRPOJob for the GPU panels.
  - the chart's real alert rules (rendered by helm), so the dashboard's alert annotations query real ALERTS.
Each panel's queries, with the dashboard variables substituted, must return data through the HTTP API, and
the values must belong to the selected GRPOJob.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.tools import CHART, find_tool, helm_template, one, write_values

DASHBOARD = CHART / "files" / "dashboards" / "grpo-training.json"
NAMESPACE, GRPOJOB, POD = "ml-team", "math-reasoning", "math-reasoning-trainer-x7k2p"
OTHER_NAMESPACE, OTHER_GRPOJOB, OTHER_POD = "research", "code-gen", "code-gen-trainer-q9w8e"
TOTAL_STEPS = 30
# A Ray worker pod of our job: it runs no exporter (no PodMonitor target) but uses GPUs; kube-state-metrics'
# kube_pod_labels (with the grpo.dev/grpojob label allowlisted) ties it to the GRPOJob.
WORKER_POD, OTHER_WORKER_POD = (
    "math-reasoning-raycluster-8kq2n-worker-gpu-t5x4z",
    "code-gen-raycluster-w2-worker-a",
)


def verl_line(step: int, scale: float) -> dict:
    """One line as verl 0.9.1's `file` logger writes it (keys from DESIGN.md)."""
    return {
        "step": step,
        "data": {
            "training/global_step": step,
            "training/epoch": 0,
            "critic/score/mean": 0.2 * step * scale,
            "critic/rewards/mean": 0.25 * step * scale,
            "critic/rewards/max": 1.0,
            "critic/rewards/min": 0.0,
            "actor/pg_loss": -0.01 * step,
            "actor/kl_loss": 0.001 * step * scale,
            "actor/entropy": 1.5 - 0.1 * step,
            "actor/grad_norm": 0.8,
            "actor/lr": 1e-6,
            "actor/pg_clipfrac": 0.02,
            "response_length/mean": 180.0 + step,
            "response_length/max": 1024.0,
            "response_length/clip_ratio": 0.05 * step,
            "timing_s/step": 42.0 + step,
            "perf/total_num_tokens": 200_000,
            "perf/time_per_step": 40.0,
            "perf/throughput": 1250.0,
            "val-core/math_reasoning/reward/mean@1": 0.3 * scale,
        },
    }


def start_exporter(root: Path, scale: float, steps: int):
    from trainer_entry.exporter import Exporter

    root.mkdir(parents=True)
    metrics = root / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(verl_line(s, scale)) + "\n" for s in range(1, steps + 1)))
    rollouts = root / "rollouts"
    rollouts.mkdir()
    # verl's rollout dump for the last step: two prompts x 3 samples (group stds 0.5774 and 0.0).
    samples = [("p1", 1.0), ("p1", 0.0), ("p1", 1.0), ("p2", 0.0), ("p2", 0.0), ("p2", 0.0)]
    (rollouts / f"{steps}.jsonl").write_text(
        "".join(json.dumps({"input": p, "score": s}) + "\n" for p, s in samples)
    )
    ckpt = root / "checkpoints"
    (ckpt / "global_step_2" / "actor").mkdir(parents=True)
    (ckpt / "latest_checkpointed_iteration.txt").write_text("2")
    exporter = Exporter(
        metrics,
        engine="verl",
        model="Qwen/Qwen2.5-0.5B-Instruct",
        checkpoint_dir=ckpt,
        rollout_dir=rollouts,
        total_steps=TOTAL_STEPS,
        interval_s=0.2,
    )
    return exporter.start(port=0, addr="127.0.0.1")


def dcgm_text() -> str:
    """dcgm-exporter output for two GPUs of our trainer pod and one GPU of another job's pod."""
    lines = []
    gpus = [
        ("0", "GPU-1f0e2c3a-0000-4000-8000-000000000000", POD, NAMESPACE),
        ("1", "GPU-1f0e2c3a-0000-4000-8000-000000000001", POD, NAMESPACE),
        ("2", "GPU-1f0e2c3a-0000-4000-8000-000000000002", OTHER_POD, OTHER_NAMESPACE),
        ("3", "GPU-1f0e2c3a-0000-4000-8000-000000000003", WORKER_POD, NAMESPACE),
        ("4", "GPU-1f0e2c3a-0000-4000-8000-000000000004", OTHER_WORKER_POD, OTHER_NAMESPACE),
    ]
    metrics = [
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", [87, 91, 12, 77, 5]),
        (
            "DCGM_FI_DEV_FB_USED",
            "gauge",
            "Framebuffer memory used (in MiB).",
            [71234, 70011, 1024, 65000, 900],
        ),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", [612.5, 598.25, 88.0, 550.0, 70.0]),
        # Profiling fields (ratios 0-1), exported when dcgm-exporter's metrics list enables DCGM_FI_PROF_*.
        ("DCGM_FI_PROF_SM_ACTIVE", "gauge", "The ratio of cycles an SM has at least 1 warp assigned.",
         [0.91, 0.88, 0.1, 0.8, 0.05]),
        ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active.",
         [0.42, 0.40, 0.0, 0.35, 0.0]),
    ]
    for name, kind, help_, values in metrics:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for (gpu, uuid, pod, ns), value in zip(gpus, values, strict=True):
            labels = (
                f'gpu="{gpu}",UUID="{uuid}",pci_bus_id="00000000:{18 + int(gpu):02X}:00.0",device="nvidia{gpu}",'
                f'modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-1",DCGM_FI_DRIVER_VERSION="570.124.06",'
                f'container="trainer",namespace="{ns}",pod="{pod}"'
            )
            lines.append(f"{name}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"


def kube_state_metrics_text() -> str:
    """kube-state-metrics' kube_pod_labels with `--metric-labels-allowlist=pods=[grpo.dev/grpojob]`."""
    lines = [
        "# HELP kube_pod_labels Kubernetes labels converted to Prometheus labels.",
        "# TYPE kube_pod_labels gauge",
    ]
    for ns, pod, job in [
        (NAMESPACE, WORKER_POD, GRPOJOB),
        (NAMESPACE, POD, GRPOJOB),
        (OTHER_NAMESPACE, OTHER_WORKER_POD, OTHER_GRPOJOB),
    ]:
        lines.append(
            f'kube_pod_labels{{namespace="{ns}",pod="{pod}",uid="u-{pod}",label_grpo_dev_grpojob="{job}"}} 1'
        )
    return "\n".join(lines) + "\n"


class _TextHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 (http.server API)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podmonitor_relabel_configs(tmp_path: Path) -> list[dict]:
    """What prometheus-operator generates for the chart's PodMonitor endpoint, in Prometheus config form."""
    objects = helm_template(write_values(tmp_path, "pm", {"monitoring": {"podMonitor": {"enabled": True}}}))
    endpoint = one(objects, "PodMonitor")["spec"]["podMetricsEndpoints"][0]
    configs = [  # prometheus-operator's standard target labels for pod targets
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    keys = {
        "sourceLabels": "source_labels",
        "targetLabel": "target_label",
        "action": "action",
        "regex": "regex",
        "replacement": "replacement",
        "separator": "separator",
    }
    for r in endpoint["relabelings"]:
        configs.append({keys[k]: v for k, v in r.items()})
    return configs


def pod_target(port: int, namespace: str, pod: str, grpojob: str) -> dict:
    return {
        "targets": [f"127.0.0.1:{port}"],
        "labels": {
            "__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_pod_name": pod,
            "__meta_kubernetes_pod_container_name": "trainer",
            "__meta_kubernetes_pod_label_grpo_dev_grpojob": grpojob,
        },
    }


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=5) as rsp:
            body = json.load(rsp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    binary = find_tool("prometheus")
    tmp = tmp_path_factory.mktemp("prom")
    ours = start_exporter(tmp / "ours", scale=1.0, steps=3)
    other = start_exporter(tmp / "other", scale=2.0, steps=5)
    dcgm = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("DCGM", (_TextHandler,), {"body": dcgm_text().encode()})
    )
    ksm = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("KSM", (_TextHandler,), {"body": kube_state_metrics_text().encode()})
    )
    for server in (dcgm, ksm):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    # The real operator metrics module: our job is Running, the other one Failed.
    from prometheus_client import REGISTRY, start_http_server

    from grpo_operator import metrics as operator_metrics

    phases = operator_metrics.PhaseGauge()
    phases.set(NAMESPACE, GRPOJOB, "Running")
    phases.set(OTHER_NAMESPACE, OTHER_GRPOJOB, "Failed")
    operator_server, _ = start_http_server(0, addr="127.0.0.1", registry=REGISTRY)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "podMonitor/grpo-system/grpo-grpo-operator-trainers/0",
                "static_configs": [
                    pod_target(ours.port, NAMESPACE, POD, GRPOJOB),
                    pod_target(other.port, OTHER_NAMESPACE, OTHER_POD, OTHER_GRPOJOB),
                ],
                "relabel_configs": podmonitor_relabel_configs(tmp),
            },
            {
                "job_name": "gpu-operator/nvidia-dcgm-exporter",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{dcgm.server_address[1]}"]}],
            },
            {  # as the chart's ServiceMonitor target: labels of the operator pod, not of the GRPOJob
                "job_name": "serviceMonitor/grpo-system/grpo-grpo-operator/0",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{operator_server.server_port}"],
                        "labels": {"namespace": "grpo-system", "pod": "grpo-grpo-operator-5d9c7-abcde"},
                    }
                ],
            },
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{ksm.server_address[1]}"]}],
            },
        ],
    }
    objects = helm_template(write_values(tmp, "rules", {"monitoring": {"prometheusRule": {"enabled": True}}}))
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": one(objects, "PrometheusRule")["spec"]["groups"]}))
    config["rule_files"] = [str(tmp / "rules.yaml")]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp / "prometheus.log", "w")  # noqa: SIM115 (closed in teardown)
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prom = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 40
        needed = [
            "grpo_val_score",
            "grpo_reward_std",
            "grpo_last_checkpoint_timestamp_seconds",
            "rate(grpo_tokens_total[10m])",  # two samples of the counter
        ]
        needed_gpu = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "kube_pod_labels"]
        # The other job is Failed: GRPOJobFailed fires (no `for`) once the rules are evaluated.
        needed_once = ["grpo_operator_grpojob_phase", 'ALERTS{alertname="GRPOJobFailed"}']
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"prometheus exited {proc.returncode}:\n{(tmp / 'prometheus.log').read_text()}"
                )
            try:
                if (
                    all(len(prom.query(f"count by (grpojob_namespace) ({m})")) == 2 for m in needed)
                    and all(len(prom.query(f"count by (namespace) ({m})")) == 2 for m in needed_gpu)
                    and all(prom.query(m) for m in needed_once)
                ):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"series {needed + needed_gpu + needed_once} not scraped in time:\n{(tmp / 'prometheus.log').read_text()[-3000:]}"
                )
            time.sleep(0.3)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        dcgm.shutdown()
        ksm.shutdown()
        operator_server.shutdown()
        operator_server.server_close()
        phases.forget(NAMESPACE, GRPOJOB)
        phases.forget(OTHER_NAMESPACE, OTHER_GRPOJOB)
        ours.stop()
        other.stop()


def substitute(expr: str, variables: dict[str, str]) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name not in variables:
            raise AssertionError(f"query uses an undefined variable ${name}: {expr}")
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def panel_targets(dashboard: dict):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


VARIABLES = {"namespace": NAMESPACE, "grpojob": GRPOJOB}
OTHER_VARIABLES = {"namespace": OTHER_NAMESPACE, "grpojob": OTHER_GRPOJOB}


def label_values(prom: Prometheus, definition: str) -> list[str]:
    """Grafana's `label_values(selector, label)` through the series API, as the Prometheus data source does."""
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
    assert m, f"unsupported variable query {definition!r}"
    series = prom.get("/api/v1/series", **{"match[]": substitute(m.group(1), VARIABLES)})
    return sorted({s[m.group(2)] for s in series if m.group(2) in s})


def test_dashboard_variables_resolve(prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert label_values(prometheus, variables["namespace"]["query"]["query"]) == sorted(
        [NAMESPACE, OTHER_NAMESPACE]
    )
    assert label_values(prometheus, variables["grpojob"]["query"]["query"]) == [GRPOJOB]


def test_every_panel_query_returns_data_for_the_selected_grpojob(prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    checked = 0
    for panel, target in panel_targets(dashboard):
        expr = substitute(target["expr"], VARIABLES)
        result = prometheus.query(expr)
        assert result, f"panel {panel['title']!r} query returned no data: {expr}"
        for sample in result:
            # Series that keep their labels belong to the selected job's pod.
            labels = sample["metric"]
            assert labels.get("namespace", NAMESPACE) == NAMESPACE, (panel["title"], labels)
            assert not ({"grpojob", "grpojob_namespace", "pod"} & labels.keys()) or labels.keys() & {
                "grpojob", "pod"}, (panel["title"], labels)
            assert labels.get("grpojob", GRPOJOB) == GRPOJOB, (panel["title"], labels)
            assert labels.get("pod", POD) in (POD, WORKER_POD), (panel["title"], labels)
            assert labels.get("grpojob_namespace", NAMESPACE) == NAMESPACE, (panel["title"], labels)
        # Range queries (what Grafana runs for time series panels) return data too.
        now = time.time()
        data = prometheus.get("/api/v1/query_range", query=expr, start=now - 20, end=now, step=1)
        assert data["result"], f"panel {panel['title']!r} range query returned no data: {expr}"
        checked += 1
    assert checked >= 20


def _value(
    prom: Prometheus, dashboard: dict, title: str, legend: str | None = None, variables: dict = VARIABLES
) -> list[tuple[dict, float]]:
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    targets = [t for t in panel["targets"] if legend is None or t["legendFormat"] == legend]
    return [
        (s["metric"], float(s["value"][1]))
        for t in targets
        for s in prom.query(substitute(t["expr"], variables))
    ]


def test_panel_values_are_the_selected_jobs_values(prometheus):
    d = json.loads(DASHBOARD.read_text())
    assert _value(prometheus, d, "Phase") == [({"grpojob": GRPOJOB, "phase": "Running"}, 1.0)]
    assert _value(prometheus, d, "Phase", variables=OTHER_VARIABLES) == [
        ({"grpojob": OTHER_GRPOJOB, "phase": "Failed"}, 1.0)
    ]
    assert _value(prometheus, d, "Step progress") == [({"grpojob": GRPOJOB}, pytest.approx(3 / TOTAL_STEPS))]
    assert [v for _, v in _value(prometheus, d, "Global step")] == [3.0]
    band = "Reward mean ± std"
    assert [v for _, v in _value(prometheus, d, band, "mean")] == [pytest.approx(0.75)]
    # Reward std from verl's rollout dump: mean over prompts of the group std; the band is mean ± std.
    std = 0.57735 / 2
    assert [v for _, v in _value(prometheus, d, band, "mean + std")] == [pytest.approx(0.75 + std, rel=1e-4)]
    assert [v for _, v in _value(prometheus, d, band, "mean - std")] == [pytest.approx(0.75 - std, rel=1e-4)]
    assert [v for _, v in _value(prometheus, d, "KL loss")] == [pytest.approx(0.003)]
    (val,) = _value(prometheus, d, "Score", "{{grpojob}} val {{data_source}}")
    assert val[0]["data_source"] == "math_reasoning" and val[1] == pytest.approx(0.3)
    assert _value(prometheus, d, "Response length", "{{grpojob}} mean")[0][1] == 183.0  # tokens
    # Throughput: rate() of the tokens counter (3 steps x 200k tokens, constant since: rate 0 here).
    assert [v for _, v in _value(prometheus, d, "Throughput")] == [0.0]
    (tokens,) = prometheus.query(substitute('grpo_tokens_total{grpojob_namespace="$namespace", grpojob=~"$grpojob"}',
                                            VARIABLES))
    assert float(tokens["value"][1]) == 3 * 200_000
    (uptime,) = _value(prometheus, d, "Trainer uptime")
    assert 0 <= uptime[1] < 300
    (age,) = _value(prometheus, d, "Last checkpoint age")
    assert 0 <= age[1] < 300
    # GPU panels: the GPUs of the selected job's trainer pod and its Ray worker, not the other job's GPUs.
    util = _value(prometheus, d, "GPU utilisation")
    assert sorted((m["pod"], m["gpu"], v) for m, v in util) == sorted(
        [(POD, "0", 87.0), (POD, "1", 91.0), (WORKER_POD, "3", 77.0)]
    )
    power = _value(prometheus, d, "GPU power")
    assert sorted(v for _, v in power) == [550.0, 598.25, 612.5]
    assert sorted(v for _, v in _value(prometheus, d, "SM active")) == [0.8, 0.88, 0.91]
    assert sorted(v for _, v in _value(prometheus, d, "Tensor core activity")) == [0.35, 0.4, 0.42]


def test_several_grpojobs_compare_in_one_panel(prometheus):
    """The GRPOJob variable is multi-select: with several jobs chosen (Grafana writes `(a|b)` for `=~`), a panel
    shows one series per job."""
    d = json.loads(DASHBOARD.read_text())
    variable = {v["name"]: v for v in d["templating"]["list"]}["grpojob"]
    assert variable["multi"] and variable["includeAll"]
    # The two test jobs live in different namespaces; compare them by selecting the namespace regex as well.
    (panel,) = [p for p in d["panels"] if p["title"] == "Reward mean by GRPOJob"]
    assert panel["targets"][0]["legendFormat"] == "{{grpojob}}"
    expr = panel["targets"][0]["expr"].replace('grpojob_namespace="$namespace"', 'grpojob_namespace=~"$namespace"')
    both = {"namespace": f"{NAMESPACE}|{OTHER_NAMESPACE}", "grpojob": f"({GRPOJOB}|{OTHER_GRPOJOB})"}
    values = {s["metric"]["grpojob"]: float(s["value"][1]) for s in prometheus.query(substitute(expr, both))}
    assert values == {GRPOJOB: pytest.approx(0.75), OTHER_GRPOJOB: pytest.approx(0.25 * 5 * 2.0)}
    (band,) = [p for p in d["panels"] if p["title"] == "Reward mean ± std"]
    assert band["repeat"] == "grpojob"  # one band panel per selected job


def test_alert_annotations_query_the_firing_alerts_of_the_selected_jobs(prometheus):
    """The dashboard's alert annotation runs against the real rules: the Failed job's GRPOJobFailed alert shows
    on its graphs and not on the healthy job's."""
    d = json.loads(DASHBOARD.read_text())
    (ann,) = [a for a in d["annotations"]["list"] if a.get("target", {}).get("expr")]
    assert ann["datasource"]["uid"] == "${datasource}"
    firing = prometheus.query(substitute(ann["target"]["expr"], OTHER_VARIABLES))
    assert [(a["metric"]["alertname"], a["metric"]["grpojob"]) for a in firing] == [
        ("GRPOJobFailed", OTHER_GRPOJOB)
    ]
    assert prometheus.query(substitute(ann["target"]["expr"], VARIABLES)) == []
    (alerts,) = [p for p in d["panels"] if p["type"] == "alertlist"]
    assert "$grpojob" in alerts["options"]["alertInstanceLabelFilter"]


def test_substitute_rejects_unknown_variables():
    with pytest.raises(AssertionError, match=r"\$job"):
        substitute('grpo_global_step{job="$job"}', VARIABLES)


REQUIRED_METRICS = {
    "grpo_trainer_start_timestamp_seconds",
    "grpo_reward_mean",
    "grpo_reward_std",
    "grpo_score_mean",
    "grpo_kl_loss",
    "grpo_policy_loss",
    "grpo_entropy",
    "grpo_response_length_mean_tokens",
    "grpo_response_clip_ratio",
    "grpo_step_duration_seconds",
    "grpo_tokens_total",
    "grpo_global_step",
    "grpo_total_steps",
    "grpo_last_checkpoint_timestamp_seconds",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_PROF_SM_ACTIVE",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
}


def test_dashboard_structure():
    """Importable by the Grafana sidecar as is: stable uid, no __inputs, a datasource variable everywhere."""
    d = json.loads(DASHBOARD.read_text())
    assert d["uid"] == "grpo-training" and "__inputs" not in d and "id" not in d
    variables = d["templating"]["list"]
    assert [v["name"] for v in variables] == ["datasource", "namespace", "grpojob"]
    assert variables[0]["type"] == "datasource" and variables[0]["query"] == "prometheus"
    assert 'grpojob_namespace="$namespace"' in variables[2]["query"]["query"]
    panels = [p for p in d["panels"] if p["type"] != "row"]
    assert {p["type"] for p in panels} == {"stat", "timeseries", "alertlist"}
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(t["expr"] for _, t in panel_targets(d))
    assert set(re.findall(r"\b(grpo_\w+|DCGM_\w+)\b", exprs)) >= REQUIRED_METRICS, REQUIRED_METRICS - set(
        re.findall(r"\b(grpo_\w+|DCGM_\w+)\b", exprs)
    )
    cells = set()
    for p in d["panels"]:
        assert p.get("datasource", {"uid": "${datasource}"})["uid"] == "${datasource}"
        for t in p.get("targets", []):
            assert t["datasource"]["uid"] == "${datasource}"
            # One label for the GRPOJob's namespace on the operator's and the trainer's series; =~ for multi-select.
            assert 'grpojob_namespace="$namespace"' in t["expr"] and 'grpojob=~"$grpojob"' in t["expr"], t["expr"]
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine


def test_panel_units_and_colours():
    d = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in d["panels"]}
    throughput = panels["Throughput"]
    assert throughput["fieldConfig"]["defaults"]["unit"] == "suffix: tokens/s"
    assert "rate(grpo_tokens_total{" in throughput["targets"][0]["expr"]  # a counter, per second
    assert "grpo_tokens_total" in throughput["description"] and "whole job" in throughput["description"]
    assert "tokens" in panels["Response length"]["fieldConfig"]["defaults"]["unit"]
    # Failed is red on the Phase panel, whatever the job's name.
    overrides = panels["Phase"]["fieldConfig"]["overrides"]
    red = [o["matcher"]["options"] for o in overrides
           if {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}} in o["properties"]]
    assert [r for r in red if re.fullmatch(r, "math-reasoning: Failed")] and not [
        r for r in red if re.fullmatch(r, "math-reasoning: Running")]
    # The band: "mean + std" fills down to "mean - std".
    band = panels["Reward mean ± std"]["fieldConfig"]["overrides"]
    assert {"id": "custom.fillBelowTo", "value": "mean - std"} in band[0]["properties"]
    assert band[0]["matcher"] == {"id": "byName", "options": "mean + std"}


def test_kl_threshold_line_sits_at_the_alerts_threshold(tmp_path):
    values = {"monitoring": {"grafanaDashboard": {"enabled": True}, "prometheusRule": {"enabled": True,
                                                                                      "klLossThreshold": "0.25"}}}
    objects = helm_template(write_values(tmp_path, "kl", values))
    dashboard = json.loads(one(objects, "ConfigMap")["data"]["grpo-training.json"])
    (kl,) = [p for p in dashboard["panels"] if p["title"] == "KL loss"]
    defaults = kl["fieldConfig"]["defaults"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 0.25]
    rule = one(objects, "PrometheusRule")
    (alert,) = [r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "GRPOKLDivergenceHigh"]
    assert alert["expr"].rstrip().endswith("> 0.25")
