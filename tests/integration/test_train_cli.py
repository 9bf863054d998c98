"""./train.sh: the seed's commands become the right GRPOJob; dry-run output is valid; errors are clear."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grpo_api import parse_grpojob
from grpo_cli.train import main as train_main
from grpo_cli.train_args import UsageError, build_request

REPO = Path(__file__).resolve().parents[2]


def spec_of(argv, local_engine=None):
    req = build_request(argv, local_engine=local_engine)
    return parse_grpojob(req.manifest).spec, req


@pytest.fixture
def seed_data(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"prompt": "请解答：15 + 27 = ?", "ground_truth": "42",
                                 "data_source": "math_reasoning"}], ensure_ascii=False))
    return path


def test_default_command_uses_seed_defaults():
    spec, _ = spec_of([])
    assert spec.engine == "verl"
    assert (spec.grpo.rollout_n, spec.grpo.kl_loss_coef, spec.training.batch_size, spec.training.epochs) == (
        5, 0.001, 256, 15)
    assert spec.data.train.path == "embedded:math"


def test_seed_custom_parameters():
    spec, _ = spec_of(["--model", "Qwen/Qwen2.5-7B", "--rollout_n", "8", "--epochs", "20"])
    assert (spec.model.path, spec.grpo.rollout_n, spec.training.epochs) == ("Qwen/Qwen2.5-7B", 8, 20)


def test_seed_reward_func(tmp_path):
    reward = tmp_path / "my_reward.py"
    spec, req = spec_of(["--reward_func", str(reward)])
    assert spec.reward.path == str(reward) and req.reward_file == str(reward)


def test_seed_multi_gpu_with_tp_override():
    spec, _ = spec_of(["--n_gpus", "8", "actor_rollout_ref.rollout.tensor_model_parallel_size=4"])
    assert spec.resources.gpus_per_node == 8 and spec.rollout.tensor_parallel_size == 4
    assert spec.overrides == []  # a managed key lands in its field, validated like the field


def test_seed_lora_overrides_and_faq_flags():
    spec, _ = spec_of(["actor_rollout_ref.model.lora_rank=8", "actor_rollout_ref.model.lora_alpha=16",
                       "--kl_coef", "0.01", "--lr", "5e-7", "--rollout_n", "3", "--ref_offload", "--drgrpo"])
    assert (spec.model.lora_rank, spec.model.lora_alpha) == (8, 16)
    assert (spec.grpo.kl_loss_coef, spec.training.learning_rate, spec.grpo.rollout_n) == (0.01, 5e-7, 3)
    assert spec.memory.ref_param_offload and spec.grpo.loss_agg_mode == "seq-mean-token-sum-norm"
    assert spec.grpo.norm_adv_by_std is False
    spec, _ = spec_of(["--drgrpo", "--norm_adv_by_std"])
    assert spec.grpo.loss_agg_mode == "seq-mean-token-sum-norm" and spec.grpo.norm_adv_by_std is True


def test_free_overrides_pass_through():
    spec, _ = spec_of(["actor_rollout_ref.actor.ppo_epochs=2", "+trainer.val_before_train=false"])
    assert spec.overrides == ["actor_rollout_ref.actor.ppo_epochs=2", "+trainer.val_before_train=false"]


@pytest.mark.parametrize("value,expected", [
    ("pvc://datasets/gsm8k/train.parquet", {"pvc": {"claimName": "datasets", "path": "gsm8k/train.parquet"}}),
    ("configmap://my-data/train.json", {"configMap": {"name": "my-data", "key": "train.json"}}),
    ("https://example.org/train.json", {"url": "https://example.org/train.json"}),
])
def test_data_forms(value, expected):
    spec, req = spec_of(["--data", value])
    assert spec.data.train.to_wire() == expected and req.data_file is None


def test_local_cpu_defaults_to_embedded_trl():
    spec, req = spec_of(["--local"], local_engine="trl")
    assert req.local and spec.engine == "trl" and spec.resources.gpus_per_node == 0
    assert spec.model.path == "embedded:tiny" and spec.data.train.path == "embedded:parity"
    assert spec.grpo.use_kl_loss and spec.grpo.kl_loss_type == "low_var_kl"  # seed GRPO settings kept


def test_dry_run_prints_valid_objects(seed_data, tmp_path, capsys):
    reward = tmp_path / "my_reward.py"
    reward.write_text("def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n"
                      "    return float(solution_str.strip() == ground_truth)\n")
    code = train_main(["--dry-run", "--name", "demo", "--data", str(seed_data), "--reward_func", str(reward),
                       "--rollout_n", "8"])
    assert code == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = [o["kind"] for o in objects]
    assert kinds[:2] == ["ConfigMap", "GRPOJob"] and "Job" in kinds
    job = parse_grpojob(objects[1])
    assert job.spec.grpo.rollout_n == 8
    assert job.spec.reward.inline == reward.read_text()  # the local file travels inside the GRPOJob
    assert job.spec.data.train.config_map.name == "demo-data"
    assert json.loads(objects[0]["data"]["train.json"])[0]["ground_truth"] == "42"


def _run_sh(*args):
    return subprocess.run([str(REPO / "train.sh"), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent", "HOME": "/nonexistent",
                               "PYTHON": sys.executable})


def test_help_lists_flags_with_defaults():
    out = _run_sh("--help")
    assert out.returncode == 0
    for text in ("--rollout_n", "(default: 5)", "--reward_func", "--n_gpus", "--kl_coef", "(default: 0.001)",
                 "--local", "--dry-run", "KEY=VALUE"):
        assert text in out.stdout


def test_no_cluster_and_no_local_is_a_clear_error():
    out = _run_sh("--rollout_n", "8")
    assert out.returncode == 2
    assert "no Kubernetes cluster is reachable" in out.stderr and "--local" in out.stderr


def test_unknown_flag():
    out = _run_sh("--rolout_n", "8")
    assert out.returncode == 2 and "unknown flag '--rolout_n'" in out.stderr


@pytest.mark.parametrize("flag", ["--data", "--reward_func"])
def test_missing_file(flag, capsys):
    assert train_main(["--dry-run", flag, "/no/such/file.json"]) == 2
    assert f"{flag} /no/such/file.json: no such file" in capsys.readouterr().err


def test_broken_reward_is_caught_before_submitting(seed_data, tmp_path, capsys):
    reward = tmp_path / "broken.py"
    reward.write_text("import numpy_does_not_exist\n")
    assert train_main(["--data", str(seed_data), "--reward_func", str(reward)]) == 2
    err = capsys.readouterr().err
    assert "--reward_func" in err and "numpy_does_not_exist" in err


def test_reward_with_differing_dict_keys_is_refused_before_submitting(seed_data, tmp_path):
    """./train.sh runs the preflight on a local --reward_func: verl 0.9.1 would KeyError mid-training."""
    reward = tmp_path / "keys.py"
    reward.write_text("def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n"
                      "    s = float(solution_str.strip() == ground_truth)\n"
                      "    return {'score': s, 'exact': s} if s else {'score': s}\n")
    out = _run_sh("--dry-run", "--data", str(seed_data), "--reward_func", str(reward))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--reward_func" in out.stderr and "differing: exact" in out.stderr
    assert "kind: GRPOJob" not in out.stdout  # nothing rendered, nothing submitted


@pytest.mark.parametrize("argv,words", [
    (["--local", "--tp", "2"], "engine trl runs on one node without rollout tensor parallelism"),
    (["--local", "--ref_offload"], "engine trl has no FSDP offload"),
    (["--local", "actor_rollout_ref.actor.ppo_epochs=2"], "overrides need engine verl"),
    (["--local", "--n_gpus", "8"], "this machine has no CUDA GPU"),
    (["--local", "--engine", "verl"], "--engine verl needs CUDA GPUs"),
])
def test_verl_only_options_with_the_cpu_engine(argv, words, capsys, monkeypatch):
    monkeypatch.setattr("grpo_cli.train.detect_local_engine", lambda: "trl")
    assert train_main(argv) == 2
    assert words in capsys.readouterr().err


def test_usage_errors():
    with pytest.raises(UsageError, match="pvc://CLAIM/PATH"):
        build_request(["--data", "pvc://only-claim"])
    with pytest.raises(UsageError, match="overrides are KEY=VALUE"):
        build_request(["stray"])
    with pytest.raises(UsageError, match="--drgrpo"):
        build_request(["--drgrpo", "--loss_agg_mode", "token-mean"])


def test_local_cpu_example_matches_the_embedded_defaults():
    """examples/local-cpu.yaml (what kind users apply) trains like `./train.sh --local`."""
    example = next(d for d in yaml.safe_load_all((REPO / "examples" / "local-cpu.yaml").read_text())
                   if d["kind"] == "GRPOJob")
    spec, _ = spec_of(["--local"], local_engine="trl")
    assert parse_grpojob(example).spec == spec


def test_tiny_model_on_user_data_gets_room_for_real_answers(seed_data):
    spec, _ = spec_of(["--local", "--data", str(seed_data)], local_engine="trl")
    assert spec.model.path == "embedded:tiny" and spec.training.batch_size == 16
    assert spec.training.max_response_length == 32 and spec.data.max_prompt_length == 256
    spec, _ = spec_of(["--local", "--data", str(seed_data), "--max_response_length", "8"], local_engine="trl")
    assert spec.training.max_response_length == 8
