"""The GRPO advantage and the policy loss through verl 0.9.1's core_algos, with the actor config this project
composes: the clip ratio, the loss aggregation (DrGRPO) and the KL type must reach what verl computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.integration.verl_cpu.harness import composed, job_of


def actor_of(cfg):
    from verl.utils.config import omega_conf_to_dataclass

    return omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)


def policy_loss(cfg, old_log_prob, log_prob, advantages, response_mask):
    """verl's registered policy loss, called as ``workers/utils/losses.py`` ``ppo_loss`` calls it (one DP rank,
    no global token count: the config's ``global_batch_info`` filled the same way)."""
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    actor = actor_of(cfg)
    actor.global_batch_info.update(dp_size=1, batch_num_tokens=None, global_batch_size=None,
                                   loss_scale_factor=actor.loss_scale_factor)
    fn = get_policy_loss_fn(actor.policy_loss.get("loss_mode", "vanilla"))
    return fn(old_log_prob=old_log_prob, log_prob=log_prob, advantages=advantages, response_mask=response_mask,
              loss_agg_mode=actor.loss_agg_mode, config=actor)


def kl_of(cfg, logprob, ref_logprob):
    """verl's KL penalty with the composed kl_loss_type (ppo_loss: ``kl_penalty(..., config.kl_loss_type)``)."""
    from verl.trainer.ppo.core_algos import kl_penalty

    return kl_penalty(logprob=logprob, ref_logprob=ref_logprob, kl_penalty=actor_of(cfg).kl_loss_type)


def grpo_advantage(cfg, rewards: list[float], group: list[str], width: int = 4):
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    mask = torch.ones(len(rewards), width)
    scores = torch.zeros(len(rewards), width)
    scores[:, -1] = torch.tensor(rewards)
    adv, _ = compute_grpo_outcome_advantage(scores, mask, np.array(group, dtype=object),
                                            norm_adv_by_std_in_grpo=cfg.algorithm.norm_adv_by_std_in_grpo)
    return adv[:, 0]


# Ratios exp(log_prob - old_log_prob) spread over [0.6, 1.4]: which are clipped depends on the clip ratio.
RATIOS = torch.linspace(0.6, 1.4, 17)
OLD = torch.zeros(2, 17)
NEW = torch.log(RATIOS).repeat(2, 1)
ADV = torch.tensor([[1.0] * 17, [-1.0] * 17])
MASK = torch.ones(2, 17)


def clipfrac(clip: float) -> float:
    cfg = composed(job_of({"grpo": {"clipRatio": clip}}))
    _, metrics = policy_loss(cfg, OLD, NEW, ADV, MASK)
    return metrics["actor/pg_clipfrac"]


def expected_clipfrac(clip: float) -> float:
    """PPO clip: a token is clipped when the ratio leaves [1-ε, 1+ε] on the side its advantage pushes."""
    upper = float((1 + clip < RATIOS).float().mean())  # advantage > 0
    lower = float((1 - clip > RATIOS).float().mean())  # advantage < 0
    return (upper + lower) / 2


@pytest.mark.parametrize("clip", [0.1, 0.3])
def test_clip_ratio_reaches_verls_policy_loss(clip):
    assert clipfrac(clip) == pytest.approx(expected_clipfrac(clip))


def test_clip_ratio_default_matches_verls_policy_loss():
    assert clipfrac(0.2) == pytest.approx(expected_clipfrac(0.2))
    assert expected_clipfrac(0.1) != expected_clipfrac(0.2) != expected_clipfrac(0.3)  # the cases above can differ


def test_loss_agg_mode_takes_effect():
    """token-mean weighs every token alike; seq-mean-token-mean every sequence: ragged masks tell them apart."""
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    old, new = torch.zeros(2, 4), torch.zeros(2, 4)
    adv = torch.tensor([[1.0] * 4, [-3.0] * 4])
    losses = {}
    for mode in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum"):
        loss, _ = policy_loss(composed(job_of({"grpo": {"lossAggMode": mode}})), old, new, adv, mask)
        losses[mode] = float(loss)
    # ratio 1 everywhere: per-token loss is -advantage (-1 on row 0, 3 on row 1)
    assert losses == pytest.approx({"token-mean": (-4 + 3) / 5, "seq-mean-token-mean": (-1 + 3) / 2,
                                    "seq-mean-token-sum": (-4 + 3) / 2})


DRGRPO = {"grpo": {"lossAggMode": "seq-mean-token-sum-norm", "normAdvByStd": False}}


def test_drgrpo_normaliser_is_constant():
    """DrGRPO divides each sequence's token sum by one constant; with loss_scale_factor null verl 0.9.1 divides
    by the padded width of the micro-batch, so the same tokens padded differently give a different loss."""
    cfg = composed(job_of(DRGRPO))
    losses = []
    for width in (4, 8):
        mask = torch.zeros(2, width)
        mask[:, :3] = 1
        loss, _ = policy_loss(cfg, torch.zeros(2, width), torch.zeros(2, width), torch.ones(2, width), mask)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(losses[1])


def test_drgrpo_advantage_is_not_std_normalised():
    rewards, group = [1.0, 0.0, 0.0, 0.0], ["a"] * 4
    plain = grpo_advantage(composed(job_of({})), rewards, group)
    dr = grpo_advantage(composed(job_of(DRGRPO)), rewards, group)
    assert dr.tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25])  # reward - group mean, no std
    assert plain[0] / dr[0] == pytest.approx(1 / float(torch.tensor(rewards).std()), rel=1e-4)


@pytest.mark.parametrize("kl_type", ["low_var_kl", "k1", "k2", "k3", "kl", "abs", "mse"])
def test_every_accepted_kl_type_is_computed_by_verl(kl_type):
    try:
        job = job_of({"grpo": {"klLossType": kl_type}})
    except Exception:
        pytest.skip(f"{kl_type} is refused by the project")
    kl = kl_of(composed(job), torch.zeros(2, 3), torch.full((2, 3), -0.1))
    assert kl.shape == (2, 3) and torch.isfinite(kl).all()
