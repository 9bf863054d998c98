"""Every example parses, passes the CRD (schema + CEL, as the API server would), and round-trips."""

from pathlib import Path

import pytest
import yaml

from grpo_api import GRPOJob, parse_grpojob
from grpo_api.crd import build_crd
from tests.apiserver_schema import validate_against_crd

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def _grpojobs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "GRPOJob"]


def test_there_are_examples():
    names = {p.stem for p in EXAMPLES}
    assert {"minimal", "custom-reward", "drgrpo-lora-offload", "multi-node"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_valid_everywhere(path):
    docs = _grpojobs(path)
    assert docs, f"{path} has no GRPOJob"
    crd = build_crd()
    for doc in docs:
        job = parse_grpojob(doc, str(path))
        defaulted, errors = validate_against_crd(crd, doc)
        assert errors == []
        # The API server's defaults (from the CRD) and the models' defaults agree field for field.
        assert parse_grpojob(defaulted).to_wire()["spec"] == job.to_wire()["spec"] == defaulted["spec"]
        # Round trip: wire -> model -> wire is stable.
        assert GRPOJob.model_validate(job.to_wire()).to_wire() == job.to_wire()


def test_seed_defaults():
    job = parse_grpojob(_grpojobs(REPO / "examples" / "minimal.yaml")[0])
    g, t = job.spec.grpo, job.spec.training
    assert (g.rollout_n, g.norm_adv_by_std, g.use_kl_loss, g.kl_loss_coef, g.kl_loss_type) == (
        5, True, True, 0.001, "low_var_kl")
    assert (t.batch_size, t.learning_rate, t.epochs, t.max_response_length) == (256, 1e-6, 15, 1024)


def test_drgrpo_example_uses_the_seed_loss_mode():
    job = parse_grpojob(_grpojobs(REPO / "examples" / "drgrpo-lora-offload.yaml")[0])
    assert job.spec.grpo.loss_agg_mode == "seq-mean-token-sum-norm"
    assert job.spec.memory.actor_param_offload and job.spec.model.lora_rank == 8
    # as verl's DrGRPO docs configure it, and without settings verl would ignore (reference offload with LoRA)
    assert not job.spec.grpo.use_kl_loss and not job.spec.grpo.norm_adv_by_std
    from grpo_api.verl_rules import job_warnings

    assert job_warnings(job.spec) == []
