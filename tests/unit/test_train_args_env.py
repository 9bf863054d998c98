"""./train.sh reads the recipe's upper-case parameter names from the environment (a flag wins), groups --help
by topic, and suggests the flag a user most likely meant."""

import pytest

from grpo_api import parse_grpojob
from grpo_cli.train_args import (
    BOOL_FLAGS,
    FLAGS,
    HELP_GROUPS,
    RECIPE_ENV,
    UsageError,
    build_parser,
    build_request,
)

# The recipe's table (seed: parameter name -> what it sets) as a user would read it, not as the code maps it.
RECIPE = {
    "ROLLOUT_N": ("8", lambda s: s.grpo.rollout_n, 8),
    "NORM_ADV_BY_STD": ("false", lambda s: s.grpo.norm_adv_by_std, False),
    "USE_KL_LOSS": ("false", lambda s: s.grpo.use_kl_loss, False),
    "KL_LOSS_COEF": ("0.01", lambda s: s.grpo.kl_loss_coef, 0.01),
    "KL_LOSS_TYPE": ("k1", lambda s: s.grpo.kl_loss_type, "k1"),
    "TRAIN_BATCH_SIZE": ("128", lambda s: s.training.batch_size, 128),
    "LEARNING_RATE": ("2e-6", lambda s: s.training.learning_rate, 2e-6),
    "TOTAL_EPOCHS": ("20", lambda s: s.training.epochs, 20),
    "MAX_RESPONSE_LENGTH": ("2048", lambda s: s.training.max_response_length, 2048),
}


def spec(argv, env):
    return parse_grpojob(build_request(argv, env=env).manifest).spec


def test_every_recipe_parameter_is_read_from_the_environment():
    assert set(RECIPE) == set(RECIPE_ENV)
    got = spec([], {name: raw for name, (raw, _, _) in RECIPE.items()})
    for name, (_, read, want) in RECIPE.items():
        assert read(got) == want, name


def test_unset_or_empty_variables_keep_the_seed_defaults():
    default = spec([], {})
    assert spec([], {"ROLLOUT_N": "", "TOTAL_EPOCHS": "  "}) == default
    assert (default.grpo.rollout_n, default.training.epochs) == (5, 15)


def test_a_flag_wins_over_the_environment():
    got = spec(["--rollout_n", "3", "--no-use_kl_loss"], {"ROLLOUT_N": "8", "USE_KL_LOSS": "true",
                                                           "TOTAL_EPOCHS": "20"})
    assert (got.grpo.rollout_n, got.grpo.use_kl_loss, got.training.epochs) == (3, False, 20)


def test_environment_beats_the_embedded_local_defaults():
    got = parse_grpojob(build_request(["--local"], local_engine="trl", env={"TRAIN_BATCH_SIZE": "32"}).manifest)
    assert got.spec.training.batch_size == 32  # the tiny model's default is 16


@pytest.mark.parametrize(("env", "words"), [
    ({"ROLLOUT_N": "eight"}, "ROLLOUT_N='eight': expected int (the value of --rollout_n)"),
    ({"LEARNING_RATE": "fast"}, "LEARNING_RATE='fast': expected float"),
    ({"USE_KL_LOSS": "maybe"}, "USE_KL_LOSS='maybe': expected true or false"),
])
def test_bad_environment_values_name_the_variable(env, words):
    with pytest.raises(UsageError, match="environment variable") as err:
        build_request([], env=env)
    assert words in str(err.value)


def test_out_of_range_environment_values_are_refused_by_the_models():
    with pytest.raises(Exception, match="rolloutN"):
        spec([], {"ROLLOUT_N": "0"})


@pytest.mark.parametrize(("flag", "suggestion"), [
    ("--rollout-n", "--rollout_n"),
    ("--max-response-length", "--max_response_length"),
    ("--rolout_n", "--rollout_n"),
    ("--epohcs=3", "--epochs"),
    ("--norm-adv-by-std", "--norm_adv_by_std"),
])
def test_near_miss_flags_get_a_suggestion(flag, suggestion):
    with pytest.raises(UsageError) as err:
        build_request([flag, "3"] if "=" not in flag else [flag], env={})
    assert f"did you mean {suggestion}?" in str(err.value)
    assert f"unknown flag {flag.split('=')[0]!r}" in str(err.value)


def test_no_suggestion_for_an_unrelated_flag():
    with pytest.raises(UsageError) as err:
        build_request(["--zzzqqq", "1"], env={})
    assert "did you mean" not in str(err.value)


def test_help_is_grouped_and_lists_the_environment_names():
    parser = build_parser()
    grouped = {a.dest for g in parser._action_groups if g.title in HELP_GROUPS for a in g._group_actions}
    every_flag = {f[2:] for f in FLAGS} | set(BOOL_FLAGS) | {
        "drgrpo", "data", "val_data", "reward_func", "reward_func_name", "engine", "local", "output_dir", "name",
        "namespace", "dry_run", "follow"}
    assert every_flag <= grouped  # nothing left in the catch-all "options" list
    text = parser.format_help()
    for title in HELP_GROUPS:
        assert f"\n{title}:\n" in text
    for name, flag in RECIPE_ENV.items():
        assert f"{name}" in text and flag in text
    assert "[verl] GPUs per node" in text and "[cluster] trainer image" in text
