"""The local CPU engine: GRPO with TRL's GRPOTrainer on the same data, reward functions, metrics format and
checkpoint layout as the verl engine (DESIGN.md, "Two engines").

`run(job, train_parquet, val_parquet, reward_path, checkpoint_dir, metrics_path)` reads the verl parquet written by
`trainer_entry.data`, wraps the product's `compute_score` (builtin or the user's file) as a TRL reward function,
maps the GRPOJob spec to a GRPOConfig (`trainer_entry.trl_engine.config`), trains, writes verl-format metrics JSONL
(`trainer_entry.trl_engine.metrics`) and checkpoints to `<checkpoint_dir>/global_step_N/actor` (the entrypoint passes
`<outputs>/checkpoints`; `trainer_entry.trl_engine.checkpoints`). Run it again and it continues after the latest
checkpoint. Model path `embedded:tiny` builds the tiny random-weight model on the spot
(`trainer_entry.embedded.tiny_model`) in `<checkpoint_dir>/../embedded-model`.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer_entry.data import DataError, require_full_batch
from trainer_entry.embedded.defaults import EMBEDDED_MODEL, EMBEDDED_MODEL_DIR, TINY_MODEL_SEED
from trainer_entry.errors import RewardError, TrainerError
from trainer_entry.preflight import as_score, load_reward_function
from trainer_entry.trl_engine.checkpoints import (
    VerlCheckpointLayout,
    checkpoint_step,
    resume_checkpoint,
)
from trainer_entry.trl_engine.config import grpo_config_kwargs
from trainer_entry.trl_engine.metrics import RewardRecorder, Sample, VerlMetricsLogger, reward_rise


def read_verl_parquet(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a verl parquet (trainer_entry.data's output) as TRL rows: prompt (chat messages),
    data_source, ground_truth, extra_info."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any reader failure is a data error with the file named
        raise DataError(path, f"not a readable parquet file: {e}") from None
    missing = {"prompt", "data_source", "reward_model"} - set(table.column_names)
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(sorted(missing))}; expected the verl parquet "
                              "written by trainer_entry.data")
    rows = []
    for i, row in enumerate(table.to_pylist(), start=1):
        rm = row.get("reward_model") or {}
        if "ground_truth" not in rm:
            raise DataError(path, "reward_model has no ground_truth", row=i, field="reward_model")
        rows.append({
            "prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
            "data_source": row["data_source"],
            "ground_truth": rm["ground_truth"],
            "extra_info": row.get("extra_info") or {},
        })
    if not rows:
        raise DataError(path, "has no rows")
    return rows


def resolve_model(model_path: str, output_dir: Path, rows: list[dict]) -> str:
    """The model folder or HF id to train; `embedded:tiny` is built from the data's texts (deterministic)."""
    if model_path != EMBEDDED_MODEL:
        return model_path
    from trainer_entry.embedded.tiny_model import TinyModelSpec, build_tiny_model

    texts = [m["content"] for r in rows for m in r["prompt"]] + [str(r["ground_truth"]) for r in rows]
    out = build_tiny_model(texts, output_dir / EMBEDDED_MODEL_DIR, TinyModelSpec(seed=TINY_MODEL_SEED))
    print(f"[trl] built the embedded tiny model in {out}", flush=True)
    return str(out)


def check_prompt_lengths(rows: list[dict], tokenizer, max_prompt_length: int, file: str | Path) -> None:
    """verl's default (data.truncation=error): a prompt longer than data.maxPromptLength is an error."""
    for i, row in enumerate(rows, start=1):
        ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        if len(ids) > max_prompt_length:
            raise DataError(file, f"prompt is {len(ids)} tokens, longer than data.maxPromptLength "
                                  f"{max_prompt_length}; raise maxPromptLength or shorten the prompt",
                            row=i, field="prompt")


def make_reward_func(fn: Callable, label: str, recorder: RewardRecorder, is_training: Callable[[], bool]):
    """A TRL reward function that scores each completion with the product's compute_score contract."""

    def compute_score(prompts, completions, data_source, ground_truth, extra_info=None, **_):
        extra_info = extra_info or [None] * len(completions)
        scores, samples = [], []
        for prompt, completion, ds, gt, extra in zip(prompts, completions, data_source, ground_truth,
                                                     extra_info, strict=True):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            try:
                result = fn(data_source=ds, solution_str=text, ground_truth=gt, extra_info=extra)
            except Exception as e:
                raise RewardError(f"{label} raised {type(e).__name__}: {e} (data_source={ds!r}, "
                                  f"ground_truth={gt!r}, response={text[:200]!r})") from e
            score = as_score(result, label)
            scores.append(score)
            key = prompt[-1]["content"] if isinstance(prompt, list) else str(prompt)
            samples.append(Sample(key, ds, score))
        recorder.record("train" if is_training() else "eval", samples)
        return scores

    return compute_score


def limit_threads(model_path: str) -> None:
    """One torch thread for the embedded tiny model (unless OMP_NUM_THREADS says otherwise): its 64-wide
    matmuls are too small to split, and on a shared 2-core machine 2 threads spent most of the time in thread
    synchronisation (30 steps: 13 s with 1 thread, 77 s with 2, same rewards)."""
    import torch

    if model_path == EMBEDDED_MODEL and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"trl\..*")


def run(job, train_parquet, val_parquet, reward_path, checkpoint_dir, metrics_path) -> int:
    """Train `job` (a GRPOJob) with TRL. Returns the trainer exit code (0, or a constants.EXIT_* code).
    `val_parquet` may be None (no validation); `reward_path` None selects the builtin reward_func."""
    spec = job.spec
    ckpt_dir = Path(checkpoint_dir)
    out = ckpt_dir.parent
    try:
        import torch

        kwargs = grpo_config_kwargs(spec, str(ckpt_dir), has_val=val_parquet is not None,
                                    use_cpu=not torch.cuda.is_available())
        # transformers' TensorBoardCallback writes to TENSORBOARD_LOGGING_DIR; verl reads TENSORBOARD_DIR
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", os.environ.get("TENSORBOARD_DIR") or str(out / "tensorboard"))
        resume = resume_checkpoint(ckpt_dir, spec.checkpoint.resume_mode, spec.checkpoint.resume_from)
        fn, label = load_reward_function(reward_path, spec.reward.function_name)
        train_rows = read_verl_parquet(train_parquet)
        require_full_batch(train_parquet, len(train_rows), spec.training.batch_size)
        val_rows = read_verl_parquet(val_parquet) if val_parquet is not None else []
        return _train(spec, kwargs, resume, fn, label, train_rows, val_rows, train_parquet, val_parquet,
                      out, ckpt_dir, metrics_path)
    except TrainerError as e:
        print(f"[trl] {e.kind} error: {e}", file=sys.stderr, flush=True)
        return e.exit_code


def _train(spec, kwargs, resume, fn, label, train_rows, val_rows, train_parquet, val_parquet, out, ckpt_dir,
           metrics_path) -> int:
    _quiet_libraries()
    from datasets import Dataset
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    t0 = time.monotonic()
    limit_threads(spec.model.path)
    model_path = resolve_model(spec.model.path, out, train_rows + val_rows)
    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=spec.model.trust_remote_code)
    check_prompt_lengths(train_rows, tokenizer, spec.data.max_prompt_length, train_parquet)
    if val_rows:
        check_prompt_lengths(val_rows, tokenizer, spec.data.max_prompt_length, val_parquet)

    recorder = RewardRecorder()
    holder: dict[str, Any] = {}
    reward = make_reward_func(fn, label, recorder, lambda: holder["trainer"].model.training)
    args = GRPOConfig(**kwargs)
    metrics = VerlMetricsLogger(metrics_path, recorder, args.num_generations_eval or args.num_generations)
    layout = VerlCheckpointLayout(ckpt_dir, spec.checkpoint.max_to_keep)
    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=reward,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows and args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        callbacks=[metrics, layout],
    )
    holder["trainer"] = trainer
    trainer.remove_callback(PrinterCallback)
    print(f"[trl] model {spec.model.path} -> {model_path}; {len(train_rows)} train rows, "
          f"{len(val_rows)} val rows; {args.num_generations} responses/prompt, "
          f"{args.per_device_train_batch_size // args.num_generations} prompts/step; "
          f"checkpoints in {ckpt_dir}", flush=True)
    if resume:
        total = trainer.set_initial_training_values(args, trainer.get_train_dataloader())[6]
        done = checkpoint_step(resume)
        if done >= total:
            metrics.close()
            print(f"[trl] nothing to do: the checkpoint {resume} is at step {done} of {total}", flush=True)
            return 0
        print(f"[trl] resuming from {resume} (step {done} of {total})", flush=True)
    trainer.train(resume_from_checkpoint=resume)
    elapsed = time.monotonic() - t0
    rise = reward_rise(metrics_path)
    if rise is not None:
        print(f"[trl] done in {elapsed:.1f}s: {rise.steps} steps this run; reward mean over the first 10% "
              f"of steps {rise.first:.3f}, last 10% {rise.last:.3f}", flush=True)
    else:
        print(f"[trl] done in {elapsed:.1f}s: no new steps (already at the last checkpoint)", flush=True)
    return 0
