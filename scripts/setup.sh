#!/usr/bin/env bash
# Set up a fresh machine for the local CPU run and the tests. Idempotent; safe to re-run.
#   - torch 2.13.0 (the CPU build where the machine has it; a bare `torch` could pull a multi-GB CUDA build)
#   - the four packages of this repo, editable: grpo-api, grpo-operator, grpo-trainer[local], grpo-cli
#   - the test tools (requirements-dev.txt)
#   - verl 0.9.1 and TransferQueue (verl's default trainer path) without their dependencies: only verl's Hydra
#     config is used off-GPU (tests compose it)
#   - helm, kubectl, prometheus, promtool, tini, typescript + @grafana/schema (npm) for the chart, monitoring and
#     image tests (scripts/install-tools.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
pip_install() { "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }

pip_install "torch==2.13.0"
pip_install -e "$ROOT/api" -e "$ROOT/operator" -e "$ROOT/trainer_entry[local]" -e "$ROOT/cli" \
    -r "$ROOT/requirements-dev.txt"
pip_install --no-deps "verl==0.9.1" "TransferQueue==0.1.11"  # pinned as in images/trainer/requirements.txt
bash "$ROOT/scripts/install-tools.sh"
echo "setup: done (tools in $ROOT/.tools/bin)"
