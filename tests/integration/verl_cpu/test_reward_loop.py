"""The reward through verl 0.9.1's own reward loop, exactly as verl calls it.

verl 0.9.1's trainers (``trainer/ppo/ray_trainer.py`` and ``trainer/ppo/v1/trainer_base.py``) build a
``verl.experimental.reward_loop.RewardLoopManager``; it starts ``reward.num_workers`` ``RewardLoopWorker``
actors, each of which calls ``verl.trainer.ppo.reward.load_reward_manager``: the registry's ``naive`` manager
(``reward.reward_manager.name``) wrapping ``get_custom_reward_fn`` (``load_extern_object`` on our
``reward.custom_reward_function.path/name``, with ``reward_kwargs`` bound). Here the worker is verl's real class
(the Ray stand-in's ``ray.remote`` leaves it undecorated), built from the composed config in this process, and
the manager's ``compute_rm_score`` runs with its worker handles pointed at that instance (``ray.get`` is the
identity): every line of scoring and of the reward-extra-info gathering is verl's.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.integration.verl_cpu.harness import POD, ROOT, build_overrides_for, compose, job_of

BUILTIN = ROOT / "trainer_entry" / "reward_func.py"

CODE_GT = json.dumps({"fn_name": "add", "inputs": [[1, 2], [3, 4]], "outputs": [3, 7]})
# (data_source, ground_truth, a right response, a wrong response): one per scorer of the builtin reward
CASES = [
    ("math_reasoning", "42", "15 + 27 = 42. The answer is 42.", "The answer is 41."),
    ("gsm8k", "72", "She sold 48 + 24 = 72 clips.\n#### 72", "#### 70"),
    ("math", "\\frac{1}{2}", "So the probability is $\\boxed{\\frac{1}{2}}$.", "$\\boxed{\\frac{1}{3}}$"),
    ("code", CODE_GT, "```python\ndef add(a, b):\n    return a + b\n```", "```python\ndef add(a, b):\n    return a - b\n```"),
    ("qa", "Paris", "Paris", "London"),
    ("classification", "positive", "positive", "negative"),
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A byte-level BPE tokenizer trained on the spot: decode(encode(s)) == s, as a real model's tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [c[2] for c in CASES] + [c[3] for c in CASES]
    tok.train_from_iterator(texts, trainers.BpeTrainer(special_tokens=["<pad>"], vocab_size=400,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       show_progress=False))
    path = tmp_path_factory.mktemp("bpe")
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>").save_pretrained(path)
    return path


def verl_config(spec: dict, reward_file: Path, tokenizer_dir: Path):
    job = job_of(spec, "reward")
    cfg = compose(build_overrides_for(job.spec, **{**POD, "reward_file": reward_file}, name="reward"))
    cfg.actor_rollout_ref.model.tokenizer_path = str(tokenizer_dir)  # the model itself is never loaded
    return cfg


def batch_of(tokenizer_dir, samples: list[tuple[str, str, str]]):
    """A DataProto as the agent loop hands it to the reward loop: prompts, responses, attention_mask, and the
    dataset's non-tensor fields (data_source, reward_model, extra_info)."""
    import numpy as np
    from transformers import AutoTokenizer
    from verl import DataProto

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    width = 64
    responses, masks = [], []
    for _, _, response in samples:
        ids = tok(response)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == response
        assert len(ids) <= width
        responses.append(ids + [tok.pad_token_id] * (width - len(ids)))
        masks.append([1, 1] + [1] * len(ids) + [0] * (width - len(ids)))
    n = len(samples)
    return DataProto.from_dict(
        tensors={"prompts": torch.ones(n, 2, dtype=torch.long), "responses": torch.tensor(responses),
                 "attention_mask": torch.tensor(masks)},
        non_tensors={"data_source": np.array([s[0] for s in samples], dtype=object),
                     "reward_model": np.array([{"ground_truth": s[1], "style": "rule"} for s in samples],
                                              dtype=object),
                     "extra_info": np.array([{"index": i, "split": "train"} for i in range(n)], dtype=object)},
    )


def run_reward_loop(cfg, data, monkeypatch):
    """verl's RewardLoopWorker (built as the actor would be) behind verl's RewardLoopManager.compute_rm_score."""
    from verl.experimental.reward_loop import reward_loop as rl

    worker = rl.RewardLoopWorker(cfg, None)

    def remote(chunk):
        return worker.loop.run_until_complete(worker.compute_score_batch(chunk))

    manager = object.__new__(rl.RewardLoopManager)
    manager.config = cfg
    manager.reward_model_manager = None
    manager.reward_manager_cls = rl.resolve_reward_manager_cls(cfg)
    manager.reward_loop_workers = [SimpleNamespace(compute_score_batch=SimpleNamespace(remote=remote))]
    monkeypatch.setattr(rl.ray, "get", lambda refs: refs, raising=False)
    return worker, manager.compute_rm_score(data)


def scores_of(out) -> list[float]:
    rm = out.batch["rm_scores"]
    return [float(row.sum()) for row in rm]


def test_config_selects_naive_manager_and_our_function(tokenizer_dir, monkeypatch):
    cfg = verl_config({}, BUILTIN, tokenizer_dir)
    assert cfg.reward.reward_manager.name == "naive" and cfg.reward.custom_reward_function.name == "compute_score"
    worker, _ = run_reward_loop(cfg, batch_of(tokenizer_dir, [CASES[0][:2] + (CASES[0][2],)]), monkeypatch)
    assert type(worker.reward_manager).__name__ == "NaiveRewardManager"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_builtin_reward_scores_each_data_source_through_verl(case, tokenizer_dir, monkeypatch):
    source, truth, right, wrong = case
    cfg = verl_config({}, BUILTIN, tokenizer_dir)
    _, out = run_reward_loop(cfg, batch_of(tokenizer_dir, [(source, truth, right), (source, truth, wrong)]),
                             monkeypatch)
    assert scores_of(out) == [1.0, 0.0]
    assert out.meta_info["reward_extra_keys"] == ["acc"]  # a float return: verl records it as "acc"
    assert list(out.non_tensor_batch["acc"]) == [1.0, 0.0]


def _inline(tmp_path, body: str) -> Path:
    path = tmp_path / "reward.py"
    path.write_text(body)
    return path


INLINE = ("def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n"
          "    return float(solution_str.strip() == ground_truth) * kw.get('weight', 1.0)\n")


def test_inline_user_reward_with_kwargs(tmp_path, tokenizer_dir, monkeypatch):
    spec = {"reward": {"inline": INLINE, "kwargs": {"weight": 0.5}}}
    cfg = verl_config(spec, _inline(tmp_path, INLINE), tokenizer_dir)
    _, out = run_reward_loop(cfg, batch_of(tokenizer_dir, [("qa", "Paris", "Paris"), ("qa", "Paris", "London")]),
                             monkeypatch)
    assert scores_of(out) == [0.5, 0.0]  # reward.kwargs reached the function (+reward...reward_kwargs)


DICT = ("def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n"
        "    s = float(solution_str == ground_truth)\n"
        "    return {'score': s, 'exact': s, 'length': len(solution_str)}\n")


def test_dict_reward_score_and_extra_info(tmp_path, tokenizer_dir, monkeypatch):
    cfg = verl_config({"reward": {"inline": DICT}}, _inline(tmp_path, DICT), tokenizer_dir)
    _, out = run_reward_loop(cfg, batch_of(tokenizer_dir, [("qa", "Paris", "Paris"), ("qa", "Paris", "London")]),
                             monkeypatch)
    assert scores_of(out) == [1.0, 0.0]
    assert sorted(out.meta_info["reward_extra_keys"]) == ["exact", "length", "score"]
    assert list(out.non_tensor_batch["length"]) == [5, 6]


INCONSISTENT = ("def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n"
                "    s = float(solution_str == ground_truth)\n"
                "    return {'score': s, 'exact': s} if s else {'score': s}\n")


def test_dict_reward_with_differing_keys_is_a_key_error_in_verl(tmp_path, tokenizer_dir, monkeypatch):
    """verl gathers reward extra info by the FIRST sample's keys (reward_loop.py, RewardLoopManager.
    compute_rm_score; the same code in experimental/agent_loop/agent_loop.py after the per-sample reward):
    a later sample lacking one is a KeyError after the whole rollout was generated. Our preflight refuses
    this function up front (tests/unit: test_preflight ... differing keys)."""
    cfg = verl_config({"reward": {"inline": INCONSISTENT}}, _inline(tmp_path, INCONSISTENT), tokenizer_dir)
    with pytest.raises(KeyError, match="exact"):
        run_reward_loop(cfg, batch_of(tokenizer_dir, [("qa", "Paris", "Paris"), ("qa", "Paris", "London")]),
                        monkeypatch)


def test_our_preflight_refuses_what_verl_would_crash_on(tmp_path):
    from trainer_entry.errors import RewardError
    from trainer_entry.preflight import run_preflight

    rows = [{"data_source": "qa", "prompt": [{"role": "user", "content": "Capital of France?"}],
             "reward_model": {"ground_truth": "Paris"}, "extra_info": {"index": 0}}]
    with pytest.raises(RewardError, match="exact"):
        run_preflight(_inline(tmp_path, INCONSISTENT), "compute_score", rows)
