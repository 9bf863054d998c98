"""A tiny random-weight causal LM and a word-level tokenizer, built on the spot (no download).

This is the embedded default model of the local CPU engine (TRL). The tokenizer's vocabulary is learned from
the training texts themselves (words, punctuation, single digits), so every prompt word is a known token and
numbers are read digit by digit (the model can generalise parity to numbers it never saw). The result is a
normal Hugging Face model folder (config, safetensors, tokenizer, chat template), so TRL can load it by path,
which it needs for its reference model when beta > 0.

Everything is deterministic for a given seed and text list: the same inputs give byte-identical weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
BOS_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN]
ROLE_WORDS = ["system", "user", "assistant"]

# A ChatML-like template made of whole words, so the word-level tokenizer splits it into known tokens.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|> {{ message['role'] }} {{ message['content'] }} <|im_end|> "
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
)

MARKER_FILE = "tiny_model.json"  # written next to the weights: how the folder was built


@dataclass(frozen=True)
class TinyModelSpec:
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    max_positions: int = 256
    seed: int = 0


def build_tokenizer(texts: Iterable[str], max_positions: int = 256):
    """A word-level fast tokenizer whose vocabulary is every word, punctuation mark and digit in `texts`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tok.normalizer = normalizers.NFKC()
    # Whitespace splits on \w+|[^\w\s]+; Digits then makes every digit its own token.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1, show_progress=False)
    # Sorted, de-duplicated input keeps the vocabulary order independent of data order.
    corpus = sorted(set(texts) | set(ROLE_WORDS) | {str(d) for d in range(10)})
    tok.train_from_iterator(corpus, trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        padding_side="left",
        model_max_length=max_positions,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(vocab_size: int, tokenizer, spec: TinyModelSpec):
    """A Qwen3 causal LM with random weights drawn from `spec.seed`."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(spec.seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def build_tiny_model(texts: Iterable[str], out_dir: str | Path, spec: TinyModelSpec | None = None) -> Path:
    """Build the tokenizer from `texts`, a random model sized to it, and save both to `out_dir`."""
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(texts, spec.max_positions)
    model = build_model(len(tokenizer), tokenizer, spec)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER_FILE).write_text(
        json.dumps({"spec": asdict(spec), "vocab_size": len(tokenizer)}, indent=2, sort_keys=True) + "\n"
    )
    return out


def texts_of_records(records: Iterable[dict]) -> list[str]:
    """The texts a tokenizer must know for seed-format records: prompts and ground truths."""
    out: list[str] = []
    for rec in records:
        out.append(str(rec["prompt"]))
        out.append(str(rec["ground_truth"]))
    return out
