"""`./train.sh` flags -> a GRPOJob manifest (pure; no cluster, no files written).

The seed's flags (`--model`, `--rollout_n`, `--epochs`, `--reward_func`, `--n_gpus`, `--kl_coef`, `--lr`, ...)
map onto GRPOJob fields. Trailing `key=value` arguments are verl Hydra overrides: those naming a key that a
GRPOJob field manages (the seed's `actor_rollout_ref.rollout.tensor_model_parallel_size=4`,
`actor_rollout_ref.model.lora_rank=8`) set that field, so validation sees them; the rest pass through as
`spec.overrides`.
"""

import argparse
import re
import time
from dataclasses import dataclass
from typing import Any

from grpo_api.constants import API_VERSION, KIND, MAX_NAME_LENGTH
from grpo_api.spec import DRGRPO_LOSS_AGG_MODE
from grpo_api.verl_keys import FIELD_TO_VERL_KEY
from trainer_entry.embedded.defaults import (
    EMBEDDED_DATA,
    EMBEDDED_MODEL,
    EMBEDDED_SPEC_DEFAULTS,
    USER_DATA_LENGTHS,
)

EMBEDDED_MATH_DATA = "embedded:math"  # the seed's math_reasoning rows, generated (trainer_entry.embedded.math_data)
DEFAULT_CLUSTER_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

# flag -> (spec field path, type, help). Defaults shown in --help come from the API models.
FLAGS: dict[str, tuple[str, type, str]] = {
    "--model": ("model.path", str, "HF model id or path (local CPU default: the embedded tiny model)"),
    "--rollout_n": ("grpo.rolloutN", int, "responses per prompt (3 fast, 5 standard, 8 quality, 10+ large batch)"),
    "--epochs": ("training.epochs", int, "total epochs"),
    "--lr": ("training.learningRate", float, "actor learning rate"),
    "--batch_size": ("training.batchSize", int, "global batch size (prompts)"),
    "--max_response_length": ("training.maxResponseLength", int, "longest response in tokens"),
    "--max_prompt_length": ("data.maxPromptLength", int, "longest prompt in tokens"),
    "--kl_coef": ("grpo.klLossCoef", float, "KL loss coefficient (unstable training: try 0.01)"),
    "--kl_loss_type": ("grpo.klLossType", str, "KL estimator"),
    "--loss_agg_mode": ("grpo.lossAggMode", str, f"loss aggregation ({DRGRPO_LOSS_AGG_MODE} is DrGRPO)"),
    "--n_gpus": ("resources.gpusPerNode", int, "GPUs per node"),
    "--nodes": ("resources.nodes", int, "nodes (>1: KubeRay RayJob, needs --checkpoint_pvc)"),
    "--tp": ("rollout.tensorParallelSize", int, "rollout tensor parallel size"),
    "--gpu_memory_utilization": ("rollout.gpuMemoryUtilization", float, "vLLM share of GPU memory"),
    "--lora_rank": ("model.loraRank", int, "LoRA rank (0: full fine-tuning)"),
    "--lora_alpha": ("model.loraAlpha", int, "LoRA alpha"),
    "--save_freq": ("training.saveFreq", int, "checkpoint every N steps (-1: never)"),
    "--test_freq": ("training.testFreq", int, "validate every N steps (-1: never)"),
    "--total_training_steps": ("training.totalTrainingSteps", int, "stop after N steps"),
    "--checkpoint_pvc": ("checkpoint.claimName", str, "PVC for /outputs (cluster mode)"),
    "--image": ("image", str, "trainer image (cluster mode)"),
}
BOOL_FLAGS: dict[str, tuple[str, str]] = {
    "norm_adv_by_std": ("grpo.normAdvByStd", "divide advantages by the group std"),
    "use_kl_loss": ("grpo.useKLLoss", "KL loss against the reference model"),
    "ref_offload": ("memory.refParamOffload", "offload the reference model's params to CPU"),
    "actor_offload": ("memory.actorParamOffload", "offload the actor's params to CPU"),
    "optimizer_offload": ("memory.actorOptimizerOffload", "offload the actor's optimizer state to CPU"),
}
_VERL_KEY_TO_FIELD = {key: field for field, key in FIELD_TO_VERL_KEY.items() if "." in field}


class UsageError(ValueError):
    """A command line that cannot become a GRPOJob; the message says which flag and why."""


@dataclass
class TrainRequest:
    manifest: dict[str, Any]
    reward_file: str | None  # a local file to upload (cluster) or read (local)
    data_file: str | None  # a local data file (cluster: uploaded into a ConfigMap)
    local: bool
    dry_run: bool
    follow: bool
    namespace: str | None
    output_dir: str


def _defaults() -> dict[str, Any]:
    from grpo_api.spec import GRPOJobSpec

    spec = GRPOJobSpec(model={"path": "x"}, data={"train": {"path": "x"}}).to_wire()
    return spec


def _lookup(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def build_parser() -> argparse.ArgumentParser:
    defaults = _defaults()
    parser = argparse.ArgumentParser(
        prog="train.sh",
        description="GRPO training, one command: submit a GRPOJob to the current Kubernetes context, or train on "
                    "this machine with --local (verl on CUDA GPUs, else TRL on CPU with an embedded tiny model).",
        epilog="Trailing KEY=VALUE arguments are verl Hydra overrides, e.g. "
               "actor_rollout_ref.rollout.tensor_model_parallel_size=4 actor_rollout_ref.model.lora_rank=8",
    )
    for flag, (field, type_, help_) in FLAGS.items():
        default = _lookup(defaults, field)
        shown = f" (default: {default})" if default not in (None, "x") else ""
        parser.add_argument(flag, dest=flag[2:], type=type_, default=None, metavar=type_.__name__.upper(),
                            help=help_ + shown)
    for name, (field, help_) in BOOL_FLAGS.items():
        parser.add_argument(f"--{name}", dest=name, action=argparse.BooleanOptionalAction, default=None,
                            help=f"{help_} (default: {_lookup(defaults, field)})")
    parser.add_argument("--drgrpo", action="store_true",
                        help=f"DrGRPO: loss_agg_mode={DRGRPO_LOSS_AGG_MODE} and, unless --norm_adv_by_std is "
                             "given, no std normalisation, and unless --use_kl_loss is given, no KL loss (as in "
                             "verl's DrGRPO docs); verl divides by maxResponseLength, a constant")
    parser.add_argument("--data", help="training data: a local .json/.jsonl/.parquet file, pvc://CLAIM/PATH, "
                                       "configmap://NAME/KEY or https://URL (local CPU default: embedded toy data)")
    parser.add_argument("--val_data", help="validation data, same forms as --data")
    parser.add_argument("--reward_func", help="Python file with compute_score(data_source, solution_str, "
                                              "ground_truth, extra_info=None) (default: builtin per data_source)")
    parser.add_argument("--reward_func_name", default=None, help="function name in --reward_func "
                                                                 "(default: compute_score)")
    parser.add_argument("--engine", choices=["verl", "trl"], help="default: verl on a cluster or with CUDA GPUs, "
                                                                   "trl on CPU")
    parser.add_argument("--local", action="store_true", help="train on this machine instead of a cluster")
    parser.add_argument("--output_dir", default="./outputs", help="local run outputs; checkpoints in "
                                                                  "OUTPUT_DIR/checkpoints (default: ./outputs)")
    parser.add_argument("--name", help="GRPOJob name (default: derived from the model and time)")
    parser.add_argument("--namespace", "-n", help="namespace (default: the kube context's)")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="print the GRPOJob and the objects it creates; submit nothing")
    parser.add_argument("--no-follow", dest="follow", action="store_false",
                        help="submit and return; don't follow progress")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="verl Hydra overrides")
    return parser


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def parse_data_arg(value: str, flag: str) -> tuple[dict[str, Any], str | None]:
    """A --data value -> (DataSource dict, local file to upload or None)."""
    if value.startswith("embedded:"):
        return {"path": value}, None
    if value.startswith(("http://", "https://", "s3://", "gs://")):
        return {"url": value}, None
    forms = (("pvc://", "pvc", ("claimName", "path"), "CLAIM/PATH"),
             ("configmap://", "configMap", ("name", "key"), "NAME/KEY"))
    for scheme, kind, keys, shape in forms:
        if value.startswith(scheme):
            parts = value[len(scheme):].split("/", 1)
            if len(parts) != 2 or not all(parts):
                raise UsageError(f"{flag} {value!r}: expected {scheme}{shape}")
            return {kind: dict(zip(keys, parts, strict=True))}, None
    return {"path": value}, value


def _default_name(model: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", model.rsplit("/", 1)[-1].lower()).strip("-") or "grpo"
    suffix = time.strftime("%m%d-%H%M%S")
    return f"grpo-{base[: MAX_NAME_LENGTH - len(suffix) - 6].strip('-')}-{suffix}"


def build_request(argv: list[str], *, local_engine: str | None = None) -> TrainRequest:
    """Parse argv into a GRPOJob manifest. `local_engine` is the engine a --local run can use here
    ("verl" with CUDA GPUs and verl, else "trl"); tests pass it explicitly."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    bad_flags = [u for u in unknown if u.startswith("-")]
    if bad_flags:
        raise UsageError(f"unknown flag {bad_flags[0]!r}; run ./train.sh --help for the list")
    overrides = list(args.overrides) + unknown
    for item in overrides:
        if "=" not in item.lstrip("~"):
            raise UsageError(f"unexpected argument {item!r}: overrides are KEY=VALUE (verl Hydra syntax)")

    spec: dict[str, Any] = {}
    for flag, (field, _type, _help) in FLAGS.items():
        value = getattr(args, flag[2:])
        if value is not None:
            _set(spec, field, value)
    for name, (field, _help) in BOOL_FLAGS.items():
        value = getattr(args, name)
        if value is not None:
            _set(spec, field, value)
    if args.drgrpo:
        if args.loss_agg_mode not in (None, DRGRPO_LOSS_AGG_MODE):
            raise UsageError(f"--drgrpo sets loss_agg_mode={DRGRPO_LOSS_AGG_MODE}, but --loss_agg_mode "
                             f"{args.loss_agg_mode} was also given")
        _set(spec, "grpo.lossAggMode", DRGRPO_LOSS_AGG_MODE)
        if args.norm_adv_by_std is None:  # Dr. GRPO also drops the std normalisation (as verl's recipe does)
            _set(spec, "grpo.normAdvByStd", False)
        if args.use_kl_loss is None:  # and the KL loss (verl docs/algo/grpo.md, DrGRPO)
            _set(spec, "grpo.useKLLoss", False)

    passthrough = []
    for item in overrides:
        key, value = item.lstrip("+").split("=", 1)
        field = _VERL_KEY_TO_FIELD.get(key)
        if field and not field.startswith(("data.train", "data.val", "reward")):
            _set(spec, field, value)  # the models coerce "4" -> 4, "true" -> True
        else:
            passthrough.append(item)
    if passthrough:
        spec["overrides"] = passthrough

    engine = args.engine
    if args.local and engine is None:
        engine = local_engine or "trl"
    if engine:
        spec["engine"] = engine
    embedded = args.local and engine == "trl"
    if _lookup(spec, "model.path") is None:
        _set(spec, "model.path", EMBEDDED_MODEL if embedded else DEFAULT_CLUSTER_MODEL)
    if engine == "trl" and _lookup(spec, "resources.gpusPerNode") is None:
        _set(spec, "resources.gpusPerNode", 0)  # TRL trains on CPU

    # No --data: the embedded parity set for the tiny CPU model, else the seed's math_reasoning sample set.
    data_value = args.data or (EMBEDDED_DATA if embedded else EMBEDDED_MATH_DATA)
    train, data_file = parse_data_arg(data_value, "--data")
    spec.setdefault("data", {})["train"] = train
    if args.val_data:
        val, _ = parse_data_arg(args.val_data, "--val_data")
        spec["data"]["val"] = val
    if model_is_embedded(spec):
        _apply_embedded_defaults(spec, toy_data=data_value == EMBEDDED_DATA)

    reward_file = args.reward_func
    if reward_file:
        spec["reward"] = {"path": reward_file}
    if args.reward_func_name:
        spec.setdefault("reward", {})["functionName"] = args.reward_func_name

    name = args.name or _default_name(spec["model"]["path"])
    metadata: dict[str, Any] = {"name": name}
    if args.namespace:
        metadata["namespace"] = args.namespace
    manifest = {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}
    return TrainRequest(manifest=manifest, reward_file=reward_file, data_file=data_file, local=args.local,
                        dry_run=args.dry_run, follow=args.follow, namespace=args.namespace,
                        output_dir=args.output_dir)


def model_is_embedded(spec: dict[str, Any]) -> bool:
    return spec.get("model", {}).get("path") == EMBEDDED_MODEL


def _apply_embedded_defaults(spec: dict[str, Any], toy_data: bool) -> None:
    """The embedded tiny model needs engine settings of its own to learn within minutes on 2 cores; any
    flag the user gave wins. The GRPO parameters (KL loss, its coefficient and type, std normalisation)
    keep the seed's defaults. With the user's own data instead of the toy set, answers and prompts get
    room to be longer than the toy set's one-word answers."""
    defaults = EMBEDDED_SPEC_DEFAULTS if toy_data else {**EMBEDDED_SPEC_DEFAULTS, **USER_DATA_LENGTHS}
    for dotted, value in defaults.items():
        if _lookup(spec, dotted) is None:
            _set(spec, dotted, value)
