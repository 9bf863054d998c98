import textwrap

import pytest

from grpo_api.constants import EXIT_REWARD_ERROR
from trainer_entry.preflight import RewardError, load_reward_function, preflight, run_preflight


def rows(n=5, source="math_reasoning"):
    return [
        {
            "data_source": source,
            "prompt": [{"role": "user", "content": f"{i} + 1 = ?"}],
            "ability": source,
            "reward_model": {"style": "rule", "ground_truth": str(i + 1)},
            "extra_info": {"index": i, "split": "train"},
        }
        for i in range(n)
    ]


def reward_file(tmp_path, body, name="my_reward.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


EXACT = """
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return 1.0 if solution_str.strip() == ground_truth else 0.0
"""


def test_good_reward_file_passes_without_warnings(tmp_path):
    report = run_preflight(reward_file(tmp_path, EXACT), "compute_score", rows())
    assert report.samples == 5
    assert report.gt_scores == [1.0] * 5
    assert report.wrong_scores == [0.0] * 5
    assert report.warnings == []


def test_dict_score_and_custom_function_name(tmp_path):
    path = reward_file(
        tmp_path,
        """
        def my_score(data_source, solution_str, ground_truth, extra_info=None):
            return {"score": 1.0 if solution_str == ground_truth else 0.25, "acc": True}
        """,
    )
    report = run_preflight(path, "my_score", rows(3))
    assert report.gt_scores == [1.0] * 3 and report.wrong_scores == [0.25] * 3


@pytest.mark.parametrize(
    "body,name,words",
    [
        ("import not_a_real_module_xyz\n" + EXACT, "compute_score", "failed to import: ModuleNotFoundError"),
        ("def compute_score(:\n", "compute_score", "syntax error at line 1"),
        ("x = 1 / 0\n", "compute_score", "ZeroDivisionError"),
        (EXACT, "score_fn", "defines no function 'score_fn'; callables found: compute_score"),
        ("compute_score = 3\n", "compute_score", "is a int, not a function"),
        (
            "def compute_score(solution, answer):\n    return 1.0\n",
            "compute_score",
            "cannot be called the way verl calls it",
        ),
        (
            "def compute_score(data_source, solution_str, ground_truth):\n    return 1.0\n",
            "compute_score",
            "unexpected keyword argument 'extra_info'",
        ),
    ],
    ids=[
        "broken-import",
        "syntax-error",
        "error-at-import",
        "missing-function",
        "not-callable",
        "wrong-signature",
        "no-extra_info",
    ],
)
def test_unusable_reward_file(tmp_path, body, name, words):
    path = reward_file(tmp_path, body)
    with pytest.raises(RewardError, match=words) as err:
        run_preflight(path, name, rows())
    assert err.value.exit_code == EXIT_REWARD_ERROR
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "ret,words",
    [
        ("1.5", r"returned 1.5, outside \[0, 1\]"),
        ("-0.1", "outside"),
        ("'1.0'", "returned str '1.0'; it must return a float"),
        ("None", "returned NoneType"),
        ("{'acc': 1.0}", "dict without a 'score' key"),
        ("float('nan')", "returned NaN"),
    ],
    ids=["above-one", "negative", "string", "none", "dict-no-score", "nan"],
)
def test_bad_return_values(tmp_path, ret, words):
    path = reward_file(
        tmp_path,
        f"def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n    return {ret}\n",
    )
    with pytest.raises(RewardError, match=words):
        run_preflight(path, "compute_score", rows())


def test_exception_while_scoring_names_row_and_line(tmp_path):
    path = reward_file(
        tmp_path,
        """
        def compute_score(data_source, solution_str, ground_truth, extra_info=None):
            if extra_info["index"] == 2:
                raise KeyError("answer")
            return 1.0
        """,
    )
    with pytest.raises(RewardError) as err:
        run_preflight(path, "compute_score", rows())
    msg = str(err.value)
    assert "row index 2" in msg and "KeyError" in msg and "my_reward.py:4" in msg


def test_exception_on_wrong_answer_is_an_error(tmp_path):
    path = reward_file(
        tmp_path,
        """
        def compute_score(data_source, solution_str, ground_truth, extra_info=None):
            return 1.0 if int(solution_str) == int(ground_truth) else 0.0
        """,
    )
    with pytest.raises(RewardError, match="ValueError.*while scoring a wrong answer"):
        run_preflight(path, "compute_score", rows())


def test_hanging_reward_times_out(tmp_path):
    path = reward_file(
        tmp_path,
        """
        import time
        def compute_score(data_source, solution_str, ground_truth, extra_info=None):
            time.sleep(30)
        """,
    )
    fn, label = load_reward_function(path)
    with pytest.raises(RewardError, match="took longer than 0.2s"):
        preflight(fn, label, rows(1), timeout_s=0.2)


def test_all_zero_warns_about_data_source(tmp_path):
    path = reward_file(
        tmp_path,
        """
        KNOWN_DATA_SOURCES = ["gsm8k"]
        def compute_score(data_source, solution_str, ground_truth, extra_info=None):
            return 1.0 if data_source == "gsm8k" and solution_str == ground_truth else 0.0
        """,
    )
    report = run_preflight(path, "compute_score", rows(4, source="math_reasoning"))
    assert any("always 0" in w and "math_reasoning" in w and "gsm8k" in w for w in report.warnings)
    assert any("not one the reward function knows" in w for w in report.warnings)


def test_always_one_warns(tmp_path):
    path = reward_file(
        tmp_path, "def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n  return 1\n"
    )
    report = run_preflight(path, "compute_score", rows(3))
    assert any("always 1" in w for w in report.warnings)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(RewardError, match="not found"):
        run_preflight(tmp_path / "nope.py", "compute_score", rows())
    txt = tmp_path / "r.txt"
    txt.write_text(EXACT)
    with pytest.raises(RewardError, match=r"must be a Python file ending in \.py"):
        run_preflight(txt, "compute_score", rows())


def test_builtin_reward_passes_on_seed_example():
    pytest.importorskip("trainer_entry.reward_func")
    seed = rows(1)
    seed[0]["reward_model"]["ground_truth"] = "42"
    report = run_preflight(None, "compute_score", seed)
    assert report.gt_scores == [1.0]
    assert report.wrong_scores == [0.0]
    assert report.warnings == []


@pytest.mark.parametrize(("body", "differing"), [
    # extra key only when right: the wrong answer's dict lacks it
    ("return {'score': s, 'exact': s} if s else {'score': s}", "exact"),
    # a number on some calls (verl records it as 'acc') and a dict on others
    ("return {'score': s, 'exact': s} if s else s", "acc, exact, score"),
    # same count, different names
    ("return {'score': s, 'hit': s} if s else {'score': s, 'miss': 1.0}", "hit, miss"),
])
def test_dict_reward_with_differing_keys_is_refused(tmp_path, body, differing):
    """verl 0.9.1 gathers reward extra info by the first sample's keys: a KeyError mid-training otherwise."""
    src = ("def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):\n"
           "    s = 1.0 if solution_str.strip() == ground_truth else 0.0\n"
           f"    {body}\n")
    with pytest.raises(RewardError) as err:
        run_preflight(reward_file(tmp_path, src), "compute_score", rows())
    assert err.value.exit_code == EXIT_REWARD_ERROR
    assert f"(differing: {differing})" in str(err.value) and "same keys on every call" in str(err.value)


def test_dict_reward_with_the_same_keys_every_call_passes(tmp_path):
    src = ("def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):\n"
           "    s = 1.0 if solution_str.strip() == ground_truth else 0.0\n"
           "    return {'score': s, 'exact': s, 'len': float(len(solution_str))}\n")
    report = run_preflight(reward_file(tmp_path, src), "compute_score", rows())
    assert report.gt_scores == [1.0] * 5 and report.warnings == []
