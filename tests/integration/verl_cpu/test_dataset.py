"""verl 0.9.1's ``RLHFDataset`` + ``collate_fn`` on our converted parquet, built from the composed ``data`` section.

In 0.9.1 the dataset no longer tokenizes: ``__getitem__`` returns the row with ``raw_prompt`` (the chat messages),
``index`` (from ``extra_info.index``) and a ``dummy_tensor``; the agent loop applies the chat template later and
left-truncates to ``rollout.prompt_length`` (``experimental/agent_loop/agent_loop.py``, ``_cap_text_prompt_length``).
Overlong prompts are dropped at load time when ``data.filter_overlong_prompts`` is true (tokenized with the chat
template, ``maybe_filter_out_long_prompts``), which is what our overrides set; ``data.truncation`` is read but not
used by 0.9.1's text path.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.verl_cpu.harness import composed, job_of

MAX_PROMPT = 64


def _rows(toy_rows):
    train, _ = toy_rows
    rows = [dict(r) for r in train[:6]]
    rows.append({"prompt": [{"role": "system", "content": "Answer with one word ."},
                            {"role": "user", "content": "Is 137 odd or even ?"}],
                 "ground_truth": "odd", "data_source": "classification",
                 "extra_info": {"difficulty": "easy"}})
    rows.append({"prompt": "Is 4 odd or even ?", "reward_model": {"ground_truth": "even"},
                 "data_source": "classification", "extra_info": {"difficulty": "hard"}})
    return rows


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory, toy_rows, verl_workdir):
    from trainer_entry.data import convert

    root = tmp_path_factory.mktemp("verl_dataset")
    rows = _rows(toy_rows)
    long_row = {"prompt": "Is 137 odd or even ? " * 40, "ground_truth": "odd", "data_source": "classification"}
    (root / "train.json").write_text(json.dumps(rows, ensure_ascii=False))
    (root / "long.json").write_text(json.dumps(rows[:2] + [long_row], ensure_ascii=False))
    convert(root / "train.json", root / "train.parquet", split="train")
    convert(root / "long.json", root / "long.parquet", split="train")
    return root, rows


def _dataset(parquet, verl_workdir, **spec):
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    job = job_of({"data": {"maxPromptLength": MAX_PROMPT}, **spec}, "data")
    cfg = composed(job, train=parquet, val=parquet)
    tok = AutoTokenizer.from_pretrained(verl_workdir / "tokenizer")
    return RLHFDataset(data_files=[str(parquet)], tokenizer=tok, config=cfg.data, processor=None), cfg, tok


def test_converted_parquet_through_rlhfdataset_and_collate(dataset_files, verl_workdir):
    from verl.utils.dataset.rl_dataset import collate_fn

    root, rows = dataset_files
    ds, cfg, tok = _dataset(root / "train.parquet", verl_workdir)
    assert cfg.data.max_prompt_length == MAX_PROMPT and cfg.data.filter_overlong_prompts is True
    assert len(ds) == len(rows)
    items = [ds[i] for i in range(len(rows))]
    batch = collate_fn(items)
    assert batch["dummy_tensor"].shape == (len(rows), 1)
    assert list(batch["index"]) == list(range(len(rows)))  # extra_info.index, per row
    assert list(batch["data_source"]) == ["classification"] * len(rows)
    truths = [r.get("ground_truth") or r["reward_model"]["ground_truth"] for r in rows]
    assert [rm["ground_truth"] for rm in batch["reward_model"]] == truths
    # a plain-string prompt arrives as one user message; a chat list arrives as written
    assert batch["raw_prompt"][0] == [{"role": "user", "content": rows[0]["prompt"]}]
    assert batch["raw_prompt"][6] == rows[6]["prompt"]
    assert batch["extra_info"][6]["difficulty"] == "easy" and batch["extra_info"][7]["difficulty"] == "hard"
    assert batch["extra_info"][7]["index"] == 7 and batch["extra_info"][7]["split"] == "train"
    # what the agent loop then tokenizes (chat template + generation prompt) fits max_prompt_length
    for messages in batch["raw_prompt"]:
        ids = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        assert 0 < len(ids) <= MAX_PROMPT


def test_prompt_longer_than_max_prompt_length_is_filtered(dataset_files, verl_workdir):
    root, _ = dataset_files
    ds, _, _ = _dataset(root / "long.parquet", verl_workdir)
    assert len(ds) == 2  # the ~400-token row is dropped at load (data.filter_overlong_prompts=true)
    assert all(ds[i]["extra_info"]["index"] in (0, 1) for i in range(len(ds)))


def test_without_the_filter_the_long_prompt_would_reach_the_agent_loop(dataset_files, verl_workdir):
    """The mapping matters: with filter_overlong_prompts=false verl keeps the row (then left-truncates it)."""
    root, _ = dataset_files
    ds, _, _ = _dataset(root / "long.parquet", verl_workdir, overrides=["data.filter_overlong_prompts=false"])
    assert len(ds) == 3
