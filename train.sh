#!/usr/bin/env bash
# One-click GRPO training (the seed's ./train.sh). Flags: ./train.sh --help
#   ./train.sh --local                                  train on this machine (CPU: TRL + embedded tiny model)
#   ./train.sh --model Qwen/Qwen2.5-7B --rollout_n 8 --epochs 20 --data train.json   submit to the cluster
#   ./train.sh --reward_func ./my_reward.py ...         custom reward function
#   ./train.sh --n_gpus 8 actor_rollout_ref.rollout.tensor_model_parallel_size=4
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# This checkout's four packages first, whatever `pip install -e` points at.
export PYTHONPATH="$ROOT/api:$ROOT/operator:$ROOT/cli:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m grpo_cli.train "$@"
