"""`./train.sh` flags -> a GRPOJob manifest (pure; no cluster, no files written).

The seed's flags (`--model`, `--rollout_n`, `--epochs`, `--reward_func`, `--n_gpus`, `--kl_coef`, `--lr`, ...)
map onto GRPOJob fields. Trailing `key=value` arguments are verl Hydra overrides: those naming a key that a
GRPOJob field manages (the seed's `actor_rollout_ref.rollout.tensor_model_parallel_size=4`,
`actor_rollout_ref.model.lora_rank=8`) set that field, so validation sees them; the rest pass through as
`spec.overrides`.
"""

import argparse
import difflib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grpo_api.constants import API_VERSION, KIND, MAX_NAME_LENGTH
from grpo_api.spec import ALWAYS_LOGGERS, DRGRPO_LOSS_AGG_MODE, TRACKERS
from grpo_api.verl_keys import FIELD_TO_VERL_KEY
from trainer_entry.embedded.defaults import (
    EMBEDDED_DATA,
    EMBEDDED_MODEL,
    EMBEDDED_SPEC_DEFAULTS,
    USER_DATA_LENGTHS,
)

EMBEDDED_MATH_DATA = "embedded:math"  # the seed's math_reasoning rows, generated (trainer_entry.embedded.math_data)
DEFAULT_CLUSTER_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

# flag -> (spec field path, type, help). Defaults shown in --help come from the API models. Tags in the help:
# [verl] the flag only affects the verl (GPU) engine; [cluster] only a submitted job.
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
    "--n_gpus": ("resources.gpusPerNode", int, "[verl] GPUs per node"),
    "--nodes": ("resources.nodes", int, "[verl, cluster] nodes (>1: KubeRay RayJob, needs --checkpoint_pvc)"),
    "--tp": ("rollout.tensorParallelSize", int, "[verl] rollout tensor parallel size"),
    "--gpu_memory_utilization": ("rollout.gpuMemoryUtilization", float, "[verl] vLLM share of GPU memory"),
    "--lora_rank": ("model.loraRank", int, "LoRA rank (0: full fine-tuning)"),
    "--lora_alpha": ("model.loraAlpha", int, "LoRA alpha"),
    "--save_freq": ("training.saveFreq", int, "checkpoint every N steps (-1: never)"),
    "--test_freq": ("training.testFreq", int, "validate every N steps (-1: never)"),
    "--total_training_steps": ("training.totalTrainingSteps", int, "stop after N steps"),
    "--checkpoint_pvc": ("checkpoint.claimName", str, "[cluster] PVC for /outputs"),
    "--image": ("image", str, "[cluster] trainer image"),
}
BOOL_FLAGS: dict[str, tuple[str, str]] = {
    "norm_adv_by_std": ("grpo.normAdvByStd", "divide advantages by the group std"),
    "use_kl_loss": ("grpo.useKLLoss", "KL loss against the reference model"),
    "ref_offload": ("memory.refParamOffload", "[verl] offload the reference model's params to CPU"),
    "actor_offload": ("memory.actorParamOffload", "[verl] offload the actor's params to CPU"),
    "optimizer_offload": ("memory.actorOptimizerOffload", "[verl] offload the actor's optimizer state to CPU"),
}
# The recipe's parameter names, read from the environment as its shell script does (`ROLLOUT_N=8 ./train.sh`).
# A flag given on the command line wins over the environment.
RECIPE_ENV: dict[str, str] = {
    "ROLLOUT_N": "--rollout_n",
    "NORM_ADV_BY_STD": "--norm_adv_by_std",
    "USE_KL_LOSS": "--use_kl_loss",
    "KL_LOSS_COEF": "--kl_coef",
    "KL_LOSS_TYPE": "--kl_loss_type",
    "TRAIN_BATCH_SIZE": "--batch_size",
    "LEARNING_RATE": "--lr",
    "TOTAL_EPOCHS": "--epochs",
    "MAX_RESPONSE_LENGTH": "--max_response_length",
}
# --help sections: title -> the flags (without dashes) it lists, in order.
HELP_GROUPS: dict[str, tuple[str, ...]] = {
    "model": ("model", "lora_rank", "lora_alpha"),
    "data": ("data", "val_data", "max_prompt_length"),
    "experiment tracking": ("logger",),
    "reward": ("reward_func", "reward_func_name"),
    "GRPO": ("rollout_n", "norm_adv_by_std", "use_kl_loss", "kl_coef", "kl_loss_type", "loss_agg_mode", "drgrpo"),
    "training": ("epochs", "lr", "batch_size", "max_response_length", "save_freq", "test_freq",
                 "total_training_steps"),
    "engine, resources and memory": ("engine", "n_gpus", "nodes", "tp", "gpu_memory_utilization", "ref_offload",
                                     "actor_offload", "optimizer_offload"),
    "cluster (submitting a GRPOJob)": ("name", "namespace", "image", "checkpoint_pvc", "dry_run", "follow"),
    "local run (--local)": ("local", "output_dir"),
}
_BOOL_STRINGS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False,
                 "off": False}
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


class _GroupedParser(argparse.ArgumentParser):
    """add_argument() files each flag under its HELP_GROUPS section, so --help reads by topic."""

    def __init__(self, **kwargs):
        super().__init__(formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
        self._sections = {title: self.add_argument_group(title) for title in HELP_GROUPS}

    def add_argument(self, *names, **kwargs):
        dest = kwargs.get("dest") or names[0].lstrip("-").replace("-", "_")
        for title, members in HELP_GROUPS.items():
            if dest in members:
                return self._sections[title].add_argument(*names, **kwargs)
        return super().add_argument(*names, **kwargs)


def _epilog() -> str:
    env = "\n".join(f"  {name:<22}same as {flag}" for name, flag in RECIPE_ENV.items())
    return ("Trailing KEY=VALUE arguments are verl Hydra overrides, e.g.\n"
            "  actor_rollout_ref.rollout.tensor_model_parallel_size=4 actor_rollout_ref.model.lora_rank=8\n\n"
            "Environment variables (the recipe's parameter names; a flag on the command line wins):\n" + env +
            "\n\n[verl]: only the verl (GPU) engine uses it; [cluster]: only a job submitted to a cluster.")


def build_parser() -> argparse.ArgumentParser:
    defaults = _defaults()
    parser = _GroupedParser(
        prog="train.sh",
        description="GRPO training, one command: submit a GRPOJob to the current Kubernetes context, or train on "
                    "this machine with --local (verl on CUDA GPUs, else TRL on CPU with an embedded tiny model).",
        epilog=_epilog(),
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
    parser.add_argument("--logger", help="experiment trackers besides console and file, comma-separated: "
                                         f"{', '.join(TRACKERS)} (as trainer.logger=[console,wandb]; "
                                         "credentials: spec.tracking.secretRef)")
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
                        help="print the GRPOJob and the objects it creates; submit or train nothing")
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


def parse_loggers(value: str, where: str) -> list[str]:
    """`[console,wandb]`, `wandb,tensorboard` or `'[console, "file"]'` -> the trackers besides console and file."""
    names = [n.strip().strip("'\"") for n in value.strip().strip("[]").split(",")]
    names = [n for n in names if n and n not in ALWAYS_LOGGERS]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise UsageError(f"{where}: unknown logger {unknown[0]!r}; allowed: {', '.join((*ALWAYS_LOGGERS, *TRACKERS))} "
                         "(console and file are always on)")
    return list(dict.fromkeys(names))


def _default_name(model: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", model.rsplit("/", 1)[-1].lower()).strip("-") or "grpo"
    suffix = time.strftime("%m%d-%H%M%S")
    return f"grpo-{base[: MAX_NAME_LENGTH - len(suffix) - 6].strip('-')}-{suffix}"


def _known_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings if s.startswith("--")]


def unknown_flag_message(flag: str, known: list[str]) -> str:
    """'unknown flag --rollout-n; did you mean --rollout_n?' (dashes and underscores mixed up, or a typo)."""
    name = flag.split("=", 1)[0]
    by_shape = {k.replace("-", "_"): k for k in known}
    guess = by_shape.get(name.replace("-", "_")) or next(iter(difflib.get_close_matches(name, known, n=1)), None)
    hint = f"; did you mean {guess}?" if guess else ""
    return f"unknown flag {name!r}{hint} (run ./train.sh --help for the list)"


def env_arguments(env: Mapping[str, str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The recipe's upper-case parameters from the environment -> {dest: value}, typed like their flags."""
    out: dict[str, Any] = {}
    for name, flag in RECIPE_ENV.items():
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            continue
        dest = flag[2:]
        if dest in BOOL_FLAGS:
            value = _BOOL_STRINGS.get(raw.strip().lower())
            if value is None:
                raise UsageError(f"environment variable {name}={raw!r}: expected true or false")
        else:
            type_ = FLAGS[flag][1]
            try:
                value = type_(raw.strip())
            except ValueError:
                raise UsageError(f"environment variable {name}={raw!r}: expected {type_.__name__} "
                                 f"(the value of {flag})") from None
        out[dest] = value
    return out


def build_request(argv: list[str], *, local_engine: str | None = None,
                  env: Mapping[str, str] | None = None) -> TrainRequest:
    """Parse argv (and the recipe's environment variables, `env`, default os.environ) into a GRPOJob manifest.
    `local_engine` is the engine a --local run can use here ("verl" with CUDA GPUs and verl, else "trl");
    tests pass it explicitly."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    bad_flags = [u for u in unknown if u.startswith("-")]
    if bad_flags:
        raise UsageError(unknown_flag_message(bad_flags[0], _known_flags(parser)))
    for dest, value in env_arguments(os.environ if env is None else env, parser).items():
        if getattr(args, dest) is None:  # a flag wins over the environment
            setattr(args, dest, value)
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
        if field == "tracking.loggers":
            _set(spec, field, parse_loggers(value, item))
        elif field and not field.startswith(("data.train", "data.val", "reward")):
            _set(spec, field, value)  # the models coerce "4" -> 4, "true" -> True
        else:
            passthrough.append(item)
    if passthrough:
        spec["overrides"] = passthrough
    if args.logger is not None:  # the flag wins over a trainer.logger override
        _set(spec, "tracking.loggers", parse_loggers(args.logger, "--logger"))

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
