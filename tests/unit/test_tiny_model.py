"""The embedded tiny model and toy data set: built on the spot, deterministic, scored by the real reward."""

from __future__ import annotations

import json

from transformers import AutoModelForCausalLM, AutoTokenizer

from trainer_entry.data import convert
from trainer_entry.embedded.tiny_model import build_tiny_model, texts_of_records
from trainer_entry.embedded.toy_data import make_records, write_toy_dataset
from trainer_entry.reward_func import compute_score


def test_toy_data_is_seed_format_and_correct(tmp_path):
    train_path, val_path = write_toy_dataset(tmp_path, n_train=200, n_val=40, seed=3)
    train, val = json.loads(train_path.read_text()), json.loads(val_path.read_text())
    assert len(train) == 200 and len(val) == 40
    for row in train + val:
        assert set(row) == {"prompt", "ground_truth", "data_source"}
        number = int(row["prompt"].split()[1])
        assert row["prompt"] == f"Is {number} odd or even?"
        assert row["ground_truth"] == ("even" if number % 2 == 0 else "odd")
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in val}  # val measures generalisation
    assert write_toy_dataset(tmp_path / "again", 200, 40, 3)[0].read_text() == train_path.read_text()
    # the product's own conversion accepts it, and the builtin reward scores it
    assert convert(train_path, tmp_path / "train.parquet").rows == 200
    row = train[0]
    other = "odd" if row["ground_truth"] == "even" else "even"
    assert compute_score(row["data_source"], row["ground_truth"], row["ground_truth"]) == 1.0
    assert compute_score(row["data_source"], other, row["ground_truth"]) == 0.0


def test_tiny_model_is_deterministic_and_loads_with_auto_classes(tmp_path):
    train, val = make_records(64, 8, seed=0)
    texts = texts_of_records(train + val)
    a = build_tiny_model(texts, tmp_path / "a")
    b = build_tiny_model(list(reversed(texts)), tmp_path / "b")
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()

    tok = AutoTokenizer.from_pretrained(a)
    model = AutoModelForCausalLM.from_pretrained(a)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert model.config.vocab_size == len(tok)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Is 1234 odd or even?"}],
                                     add_generation_prompt=True, tokenize=False)
    tokens = tok.convert_ids_to_tokens(tok(prompt)["input_ids"])
    assert tokens == ["<|im_start|>", "user", "Is", "1", "2", "3", "4", "odd", "or", "even", "?", "<|im_end|>",
                      "<|im_start|>", "assistant"]  # numbers digit by digit, no unknown tokens
    assert tok.decode(tok("odd")["input_ids"] + [tok.eos_token_id], skip_special_tokens=True) == "odd"
    assert tok.pad_token_id != tok.eos_token_id


def test_different_seed_gives_different_weights(tmp_path):
    from trainer_entry.embedded.tiny_model import TinyModelSpec

    texts = ["Is 1 odd or even?", "odd", "even"]
    a = build_tiny_model(texts, tmp_path / "a", TinyModelSpec(seed=0))
    b = build_tiny_model(texts, tmp_path / "b", TinyModelSpec(seed=1))
    assert (a / "model.safetensors").read_bytes() != (b / "model.safetensors").read_bytes()
