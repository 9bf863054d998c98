"""verl 0.9.1's refusals, restated in grpo_api.verl_rules: the models, the CRD's CEL and verl agree.

`verl_accepts` below restates verl 0.9.1's arithmetic independently of the production code, from:
  - utils/config.py validate_config: train_batch_size * n % (n_gpus_per_node * nnodes) == 0 (FSDP)
  - workers/config/actor.py ActorConfig.validate: train_batch_size >= ppo_mini_batch_size
  - workers/engine_workers.py train_mini_batch: (ppo_mini_batch_size * n) % dp == 0, per-GPU = that / dp
  - workers/engine/utils.py prepare_micro_batches: per-GPU batch % micro_batch_size_per_gpu == 0, for the
    actor update (ppo_micro) and the old/ref log-prob passes (log_prob_micro) over batch * n / dp
  - experimental/agent_loop/agent_loop.py generate_sequences: DataProto.chunk(agent.num_workers) equal chunks
"""

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpo_api import GRPOJobInvalid, parse_grpojob
from grpo_api.crd import build_crd
from grpo_api.verl_keys import managed_key_owner
from grpo_api.verl_overrides import VerlPaths, build_overrides, hydra_value
from grpo_api.verl_rules import BatchShape, agent_workers, batch_errors, job_warnings
from tests.apiserver_schema import validate_against_crd as _validate

CRD = build_crd()


def validate_against_crd(doc):
    """The API server's errors (defaulting, schema, CEL) for a manifest; [] when it would store it."""
    return _validate(CRD, doc)[1]

BASE = {
    "apiVersion": "grpo.dev/v1alpha1", "kind": "GRPOJob", "metadata": {"name": "t"},
    "spec": {"model": {"path": "m"}, "data": {"train": {"path": "/d.json"}},
             "checkpoint": {"claimName": "outputs"}},
}
PATHS = VerlPaths("/o/train.parquet", "/o/val.parquet", "/r.py", "/o/ckpt", "/o/rollouts", "/o/m.jsonl")


def job(**spec_parts):
    doc = copy.deepcopy(BASE)
    for path, value in spec_parts.items():
        group, _, key = path.partition("__")
        doc["spec"].setdefault(group, {})[key] = value
    return doc


def verl_accepts(batch, n, mini, micro, lp_micro, gpus, nodes) -> bool:
    g = gpus * nodes
    if (batch * n) % g or mini > batch or (mini * n) % g:
        return False
    if ((mini * n) // g) % micro or ((batch * n) // g) % lp_micro:
        return False
    return (batch * n) % agent_workers(batch * n) == 0


shapes = st.tuples(
    st.integers(1, 64),  # batch
    st.integers(2, 8),  # rollout n
    st.integers(1, 64),  # mini
    st.sampled_from([1, 2, 3, 4, 8, 16]),  # actor micro
    st.sampled_from([1, 2, 4, 5, 8, 32]),  # log-prob micro
    st.sampled_from([1, 2, 4, 8]),  # gpus per node
    st.sampled_from([1, 2]),  # nodes
    st.sampled_from([1, 2]),  # tensor parallel (must divide gpus)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes)
def test_model_and_crd_accept_exactly_what_verl_accepts(shape):
    batch, n, mini, micro, lp_micro, gpus, nodes, tp = shape
    doc = job(training__batchSize=batch, training__ppoMiniBatchSize=mini, training__microBatchSizePerGPU=micro,
              training__logProbMicroBatchSizePerGPU=lp_micro, grpo__rolloutN=n, resources__gpusPerNode=gpus,
              resources__nodes=nodes, rollout__tensorParallelSize=tp)
    expected = verl_accepts(batch, n, mini, micro, lp_micro, gpus, nodes) and gpus % tp == 0 and (
        batch % mini == 0)  # the project's own rule: mini divides batch
    try:
        parse_grpojob(doc)
        accepted = True
    except GRPOJobInvalid:
        accepted = False
    assert accepted == expected, shape
    # the API server's CEL says the same
    assert (validate_against_crd(copy.deepcopy(doc)) == []) == expected, shape


def test_error_names_the_field_and_verl_function():
    doc = job(training__batchSize=3, grpo__rolloutN=3, resources__gpusPerNode=2)
    with pytest.raises(GRPOJobInvalid) as err:
        parse_grpojob(doc)
    text = str(err.value)
    assert "training.batchSize" in text and "validate_config" in text and "3×3=9" in text


def test_log_prob_micro_is_checked_on_both_passes_and_ref_only_when_it_exists():
    s = BatchShape(8, 2, 8, 4, 4, 3, 1, 1, 1, agent_workers(16))
    assert batch_errors(s)  # 16 samples over 3 GPUs
    s = BatchShape(8, 3, 8, 4, 5, 5, 4, 1, 1, agent_workers(24))  # 24/4=6 per GPU; old micro 4 ok? no: 6 % 4
    msgs = [m for _, m in batch_errors(s)]
    assert any("old log-prob" in m for m in msgs) and any("reference log-prob" in m for m in msgs)
    s = BatchShape(8, 3, 8, 3, 6, None, 4, 1, 1, agent_workers(24))
    assert batch_errors(s) == []


def test_agent_workers_divide_the_step():
    for samples in range(1, 200):
        w = agent_workers(samples)
        assert 1 <= w <= 8 and samples % w == 0
        assert all(samples % bigger for bigger in range(w + 1, 9))


@pytest.mark.parametrize("kl", ["full", "k4"])
def test_kl_types_verl_does_not_compute_are_refused(kl):
    with pytest.raises(GRPOJobInvalid, match="klLossType"):
        parse_grpojob(job(grpo__klLossType=kl))
    assert validate_against_crd(job(grpo__klLossType=kl))


def test_resume_from_must_name_a_global_step_folder():
    bad = job(checkpoint__resumeMode="resume_path", checkpoint__resumeFrom="/outputs/checkpoints/latest")
    bad["spec"]["checkpoint"]["claimName"] = "outputs"
    with pytest.raises(GRPOJobInvalid, match="global_step_N"):
        parse_grpojob(bad)
    assert validate_against_crd(copy.deepcopy(bad))
    good = copy.deepcopy(bad)
    good["spec"]["checkpoint"]["resumeFrom"] = "/outputs/checkpoints/global_step_40"
    parse_grpojob(good)
    assert validate_against_crd(good) == []


@pytest.mark.parametrize("override", [
    "actor_rollout_ref.rollout={n:1}", "algorithm={adv_estimator:gae}", "trainer={logger:[console]}",
    "+trainer={logger:[console]}", "actor_rollout_ref={}", "reward.custom_reward_function.reward_kwargs.x=1",
    "actor_rollout_ref.actor.clip_ratio_low=0.1", "actor_rollout_ref.actor.loss_scale_factor=1",
])
def test_parent_groups_and_managed_keys_are_refused(override):
    doc = job()
    doc["spec"]["overrides"] = [override]
    with pytest.raises(GRPOJobInvalid, match="cannot be overridden"):
        parse_grpojob(doc)
    assert validate_against_crd(copy.deepcopy(doc)), override


@pytest.mark.parametrize("override", ["trainer.foo=1", "actor_rollout_ref.rollout.top_p=0.9",
                                      "actor_rollout_ref.actor.ppo_epochs=2", "trainer.val_before_train=false"])
def test_free_keys_pass_the_guard(override):
    doc = job()
    doc["spec"]["overrides"] = [override]
    parse_grpojob(doc)  # an unknown key like trainer.foo is Hydra's to refuse (composition), not the guard's
    assert validate_against_crd(copy.deepcopy(doc)) == []
    assert managed_key_owner(override.split("=")[0]) is None


def test_clip_ratio_reaches_low_and_high_and_fields_override_it():
    spec = parse_grpojob(job(grpo__clipRatio=0.3)).spec
    out = build_overrides(spec, PATHS)
    assert "actor_rollout_ref.actor.clip_ratio_low=0.3" in out and "actor_rollout_ref.actor.clip_ratio_high=0.3" in out
    spec = parse_grpojob(job(grpo__clipRatio=0.3, grpo__clipRatioHigh=0.28)).spec
    out = build_overrides(spec, PATHS)
    assert "actor_rollout_ref.actor.clip_ratio_low=0.3" in out and "actor_rollout_ref.actor.clip_ratio_high=0.28" in out


def test_drgrpo_divides_by_a_constant_and_reward_kwargs_use_the_plus_key():
    spec = parse_grpojob(job(grpo__lossAggMode="seq-mean-token-sum-norm", training__maxResponseLength=777,
                             reward__kwargs={"scale": 2, "mode": "strict"})).spec
    out = build_overrides(spec, PATHS)
    assert "actor_rollout_ref.actor.loss_scale_factor=777" in out
    assert "+reward.custom_reward_function.reward_kwargs.scale=2" in out
    assert "+reward.custom_reward_function.reward_kwargs.mode='strict'" in out
    assert "+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH='/o/m.jsonl'" in out
    assert not any("loss_scale_factor" in o for o in build_overrides(parse_grpojob(job()).spec, PATHS))


def test_warnings_for_settings_without_effect():
    fields = lambda doc: {w.field for w in job_warnings(parse_grpojob(doc).spec)}  # noqa: E731
    assert fields(job(memory__refParamOffload=True, model__loraRank=8)) == {"memory.refParamOffload"}
    assert fields(job(memory__refParamOffload=True, grpo__useKLLoss=False)) == {"memory.refParamOffload"}
    assert fields(job(memory__refParamOffload=True)) == set()
    assert fields(job(grpo__lossAggMode="seq-mean-token-sum-norm")) == {"grpo.useKLLoss", "grpo.normAdvByStd"}
    assert fields(job(grpo__lossAggMode="seq-mean-token-sum-norm", grpo__useKLLoss=False,
                      grpo__normAdvByStd=False)) == set()


@given(st.text(alphabet=st.sampled_from(list("ab'\"\\${}:.=, [")), max_size=12))
def test_hydra_value_is_a_single_quoted_token(text):
    value = hydra_value(text)
    assert value.startswith("'") and value.endswith("'") and "${" not in value.replace("\\${", "")
