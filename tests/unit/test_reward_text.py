"""Text answers (qa, trivia, classification): extraction and normalised match against aliases."""

import pytest

from trainer_entry.reward_func import compute_score

QA_CORRECT = [
    ("Answer: Paris", "Paris"),
    ("The answer is paris.", "Paris"),
    ("<think>maybe Lyon</think><answer>The Eiffel Tower</answer>", "Eiffel Tower"),
    ("I am sure it is \\boxed{\\text{Paris}}", "paris"),
    (
        "It was written by Shakespeare.\nFinal answer: William Shakespeare",
        '["Shakespeare", "William Shakespeare"]',
    ),
    ("Answer:   the  Beatles!!", "The Beatles"),
    ("Answer: Ｐａｒｉｓ", "Paris"),  # full-width letters (NFKC)
    ("答案是：北京", "北京"),
    ("Paris", "Paris"),  # a bare answer
    ("最终答案 北京", "北京"),
]
QA_WRONG = [
    ("Answer: Lyon", "Paris"),
    ("Answer: Paris, France or Lyon", "Paris"),  # exact match, not substring
    ("<answer>Paris</answer> ... <answer>Rome</answer>", "Paris"),  # the last tag counts
    ("", "Paris"),
]


@pytest.mark.parametrize("source", ["qa", "trivia", "searchR1_nq"])
@pytest.mark.parametrize(("response", "truth"), QA_CORRECT)
def test_qa_correct(source, response, truth):
    assert compute_score(source, response, truth) == 1.0


@pytest.mark.parametrize("source", ["qa", "trivia"])
@pytest.mark.parametrize(("response", "truth"), QA_WRONG)
def test_qa_wrong(source, response, truth):
    assert compute_score(source, response, truth) == 0.0


def test_aliases_as_python_list():
    assert compute_score("trivia", "Answer: NYC", ["New York City", "NYC"]) == 1.0
    assert compute_score("trivia", "Answer: Boston", ["New York City", "NYC"]) == 0.0


def test_empty_ground_truth_is_an_error():
    with pytest.raises(ValueError, match="no usable answer"):
        compute_score("qa", "Answer: x", "  ")


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("Positive", "positive", 1.0),
        ("The review is glowing.\nSentiment: positive", "positive", 1.0),
        ("<answer>NEGATIVE</answer>", "negative", 1.0),
        ("Label: neutral.", '["neutral", "mixed"]', 1.0),
        ("Sentiment: positive", "negative", 0.0),
        ("It is not positive", "positive", 0.0),
        ("<answer>positive</answer>", "negative", 0.0),
    ],
)
def test_classification(response, truth, expected):
    assert compute_score("classification", response, truth) == expected
