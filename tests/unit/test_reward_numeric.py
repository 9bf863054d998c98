"""Final-number scoring (math_reasoning, gsm8k): extraction priority, normalisation, signs, speed."""

import time

import pytest

from trainer_entry.reward_func import compute_score

CORRECT = [
    ("So she pays 1,234 dollars in total. The answer is 1,234.", "1234"),
    ("#### 72", "72"),
    ("It costs $18.00 in total.\n#### $18", "18"),
    ("First 5 apples, then \\boxed{7}", "7"),
    ("答案是：42", "42"),
    ("最终答案 -3", "-3"),
    ("10-5 = 5", "5"),
    ("it is 3/4", "0.75"),
    ("\\boxed{\\frac{3}{4}}", "0.75"),
    ("\\boxed{-\\dfrac{3}{4}}", "-3/4"),
    ("The answer is 50%", "50"),
    ("The answer is 50%", "0.5"),
    ("1.5e3", "1500"),
    ("It is 1.5 \\times 10^{3} meters", "1500"),
    ("The answer is 12 apples. Earlier I wrote 13 by mistake", "12"),
    ("x = 0.33", "1/3"),
    ("\\boxed{1{,}000}", "1000"),
    ("-.5", "-0.5"),
    ("The answer is **42**.", "42"),
    ("The answer is 18.0", "18"),
    ("The answer is − 12", "-12"),
    ("She ends with 72 clips.", "Natalia sold 48/2 = 24 clips in May.\n#### 72"),
    ("To answer this, we need 3 boxes of 4 pens, so 12 pens.", "12"),  # "answer" alone is no marker
    ("The answer should be 9.", "9"),
]

WRONG = [
    ("The answer is -5", "5"),  # signs matter
    ("The answer is 5", "-5"),
    ("x = 0.3", "1/3"),  # one decimal is not an approximation of 1/3
    ("I got 13, but the answer is 12", "13"),  # an explicit marker beats the last number
    ("\\boxed{7} and then 8", "8"),
    ("no numbers at all", "3"),
    ("\\boxed{", "3"),  # cut off
    ("The total is 7", "Natalia sold 48/2 = 24 clips in May.\n#### 72"),
    ("", "3"),
]


@pytest.mark.parametrize("source", ["math_reasoning", "gsm8k", "openai/gsm8k"])
@pytest.mark.parametrize(("response", "truth"), CORRECT)
def test_correct_answers_score_one(source, response, truth):
    assert compute_score(data_source=source, solution_str=response, ground_truth=truth) == 1.0


@pytest.mark.parametrize("source", ["math_reasoning", "gsm8k"])
@pytest.mark.parametrize(("response", "truth"), WRONG)
def test_wrong_answers_score_zero(source, response, truth):
    assert compute_score(data_source=source, solution_str=response, ground_truth=truth) == 0.0


def test_gsm8k_prefers_hashes_math_reasoning_prefers_boxed():
    response = "\\boxed{5}\n#### 6"
    assert compute_score("gsm8k", response, "6") == 1.0
    assert compute_score("gsm8k", response, "5") == 0.0
    assert compute_score("math_reasoning", response, "5") == 1.0


def test_number_ground_truth_and_non_numeric_ground_truth():
    assert compute_score("math_reasoning", "The answer is 4", 4) == 1.0
    with pytest.raises(ValueError, match="contains no number"):
        compute_score("math_reasoning", "The answer is 4", "four")


def test_long_response_is_fast():
    response = "Let me think step by step. " * 60 + "So 3 + 4 = 7."
    start = time.perf_counter()
    for _ in range(2000):
        assert compute_score("math_reasoning", response, "7") == 1.0
    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 500e-6, f"{per_call * 1e6:.0f} us per response"
