"""Fixtures of the verl-on-CPU layer. The Ray stand-in (stubs.py) is installed before any verl import."""

from __future__ import annotations

import warnings

import pytest

from tests.integration.verl_cpu import stubs

STOOD_IN = stubs.install()
with warnings.catch_warnings():  # verl lists the optional engines it lacks (megatron, torchtitan, ...) at import
    warnings.simplefilter("ignore")
    import verl.workers.engine  # noqa: F401


@pytest.fixture(scope="session")
def toy_rows():
    """Seed-format rows (classification: one-word answers, so a word-level tokenizer round-trips them)."""
    from trainer_entry.embedded.toy_data import make_records

    train, val = make_records(48, 8, seed=1)
    return train, val


@pytest.fixture(scope="session")
def verl_workdir(tmp_path_factory, toy_rows):
    """Our converted parquet (trainer_entry.data.convert of the seed JSON rows) and a tokenizer trained on them."""
    import json

    from trainer_entry.data import convert
    from trainer_entry.embedded.tiny_model import build_tokenizer, texts_of_records

    root = tmp_path_factory.mktemp("verl_cpu")
    train, val = toy_rows
    for name, rows in (("train", train), ("val", val)):
        (root / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False))
        convert(root / f"{name}.json", root / f"{name}.parquet", split=name)
    tok = build_tokenizer(texts_of_records(train + val))
    tok.save_pretrained(root / "tokenizer")
    return root
