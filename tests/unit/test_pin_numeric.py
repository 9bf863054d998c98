"""Pins the final-number scorer (math_reasoning, gsm8k) where mutation testing found it unpinned: signs and
subtractions, 1/0, percentages on either side, the rounding tolerance on both sides, and which part of a
long response is read. Written as response + ground truth -> score (or the number a user sees extracted)."""

from fractions import Fraction

import pytest

from trainer_entry.reward_func import compute_score
from trainer_entry.rewards.numeric import extract_answer, first_number, last_number, parse_ground_truth


def score(response, truth, source="math_reasoning"):
    return compute_score(data_source=source, solution_str=response, ground_truth=truth)


# --- signs: a minus before a number negates it, a minus after a value is a subtraction -------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is -3", -3),
        ("The answer is - 3", -3),  # one space after the sign
        ("The answer is −2.5", Fraction(-5, 2)),  # Unicode minus
        ("The answer is –4", -4),  # en dash
        ("-7", -7),  # the sign at the very start
        ("The answer is 3", 3),
        ("so it is x-3", 3),  # after a letter: a subtraction
        ("so it is (10)-3", 3),  # after a closing bracket
        ("so it is a[2]-3", 3),
        ("so it is {2}-3", 3),
        ("so it is 2.-3", 3),
        ("so it is x_-3", 3),
    ],
)
def test_sign_of_the_extracted_number(text, value):
    assert extract_answer(text).value == value


@pytest.mark.parametrize(("text", "value"), [("-3", -3), ("#### -12", -12), ("\\boxed{-5}", -5), ("4", 4)])
def test_sign_of_the_ground_truth(text, value):
    assert parse_ground_truth(text).value == value


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("The answer is -5", "-5", 1.0),
        ("The answer is -5", "0", 0.0),
        ("The answer is 0", "-5", 0.0),
        ("The result: x-3", "3", 1.0),  # "x-3" ends in 3, not -3
        ("The result: x-3", "-3", 0.0),
        ("We get (10)-3", "3", 1.0),
        ("We get (10)-3", "-3", 0.0),
    ],
)
def test_negative_answers(response, truth, expected):
    assert score(response, truth) == expected


# --- 1/0: no crash; a zero denominator is ignored (the numerator is read) --------------------------------------


def test_division_by_zero_is_read_as_its_numerator_and_does_not_crash():
    assert score("The answer is 1/0", "1") == 1.0
    assert score("The answer is 1/0", "0") == 0.0
    assert parse_ground_truth("1/0").value == 1
    assert score("The answer is 3/4", "0.75") == 1.0


# --- percentages, on either side ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("The answer is 0.5", "50%", 1.0),  # percent in the gold answer, fraction in the response
        ("The answer is 50", "50%", 1.0),
        ("The answer is 0.25", "25 percent", 1.0),
        ("The answer is 0.6", "50%", 0.0),
        ("The answer is 0.4", "50%", 0.0),
        ("The answer is 5000", "50%", 0.0),  # not 50% of anything
        ("The answer is 50%", "0.5", 1.0),
        ("The answer is 60%", "0.5", 0.0),
        ("The answer is 40%", "0.5", 0.0),
        ("The answer is 0.5%", "50%", 0.0),  # both percentages: compared as written
        ("It is 50 percent", "0.5", 1.0),  # "percent" after the last number
    ],
)
def test_percentages(response, truth, expected):
    assert score(response, truth) == expected


# --- the rounding tolerance: a decimal with >= 2 places may be the exact value rounded, either way --------------


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("x = 0.33", "1/3", 1.0),
        ("x = 0.333", "1/3", 1.0),
        ("x = 0.34", "1/3", 0.0),
        ("x = 0.35", "1/3", 0.0),
        ("x = 0.334", "1/3", 0.0),
        ("x = 0.67", "2/3", 1.0),  # rounded up
        ("x = 0.66", "2/3", 0.0),  # truncated is not rounded
        ("x = 0.13", "1/8", 1.0),  # exactly half-way: both neighbours are accepted
        ("x = 0.12", "1/8", 1.0),
        ("x = 0.14", "1/8", 0.0),
        ("x = -0.33", "-1/3", 1.0),
        ("x = 0.3", "1/3", 0.0),  # one decimal place is not an approximation
        ("x = 3.33e0", "10/3", 0.0),  # scientific notation is taken as exact
        # the other way round: the gold answer is the rounded one
        ("x = 1/3", "0.33", 1.0),
        ("x = 2/3", "0.67", 1.0),
        ("x = 2/3", "0.66", 0.0),
        ("x = 1/3", "0.34", 0.0),
        ("x = 1/3", "0.3", 0.0),
    ],
)
def test_rounding_tolerance(response, truth, expected):
    assert score(response, truth) == expected


# --- which part of the response is read -------------------------------------------------------------------------


def test_answer_phrase_reads_only_its_own_line():
    # nothing after "answer is" on its line: the last number of the response is the answer, not the next line's
    response = "The answer is unclear.\nI guess 5, no, 6"
    assert score(response, "6") == 1.0
    assert score(response, "5") == 0.0


def test_hashes_read_only_their_own_line():
    assert score("#### 72\nThen 5 more", "72", "gsm8k") == 1.0
    assert score("#### 72\nThen 5 more", "5", "gsm8k") == 0.0


@pytest.mark.parametrize("phrase", ["THE ANSWER IS 7, not 8", "答案是 7，不是 8", "Answer: 7 (not 8)"])
def test_answer_phrase_in_any_case_or_language_beats_the_last_number(phrase):
    assert score(phrase, "7") == 1.0
    assert score(phrase, "8") == 0.0


def test_only_the_end_of_a_long_response_is_searched_for_the_last_number():
    filler = " and so on" * 70  # 700 characters without a digit
    assert score("ab 7" + filler, "7") == 0.0
    assert score(filler + " ab 7" + filler[:300], "7") == 1.0


def test_a_long_last_number_is_read_whole():
    big = "1" + "0" * 79  # 80 digits
    assert score("we get " + big, big) == 1.0
    assert score("we get " + big, big[:-1]) == 0.0


def test_thousands_separators_and_exponents():
    assert score("The answer is 1,234,567", "1234567") == 1.0
    assert score("The answer is 2.5e-3", "0.0025") == 1.0
    assert score("It is 1 \\times 10^{-2}", "0.01") == 1.0


@pytest.mark.parametrize(
    ("truth", "value"),
    [
        ("Natalia sold 48/2 = 24 clips.\n#### 72", 72),  # after ####, not the first number
        ("First 3 steps, so \\boxed{12}", 12),  # the boxed one, not the first number
        ("\\boxed{5} #### 6", 6),  # #### wins over boxed in a ground truth
        ("about 7 or 8", 7),  # else the first number
    ],
)
def test_ground_truth_parsing(truth, value):
    assert parse_ground_truth(truth).value == value


def test_ground_truth_without_a_number_names_the_value_and_the_data_sources():
    with pytest.raises(ValueError, match=r"ground_truth 'seven' contains no number.*math_reasoning, gsm8k"):
        score("7", "seven")


def test_the_scorer_itself_returns_exactly_one_or_zero():
    from trainer_entry.rewards import numeric

    assert numeric.score("The answer is 7", "7") == 1.0
    assert numeric.score("The answer is 8", "7") == 0.0
    assert numeric.score("no number", "7") == 0.0


def test_a_response_that_is_only_the_number():
    assert score("7", "7") == 1.0
    assert score("7.", "7") == 1.0


# --- from the 100-mutant run (seed 11) of this session ---------------------------------------------------------

def test_a_minus_at_the_end_of_the_text_is_not_the_sign_of_the_first_number():
    assert first_number("3 -").value == 3
    assert first_number("3 –").value == 3  # en dash


def test_a_subtraction_right_at_the_start_is_not_a_negative_number():
    assert last_number("2-5").value == 5
    assert last_number("-5").value == -5


@pytest.mark.parametrize("text", ["5%", "5 percent", "5\\%", "a" * 15 + "5%", "a" * 30 + "5 percent"])
def test_a_percent_sign_just_after_a_leading_last_number_counts(text):
    assert last_number(text).percent is True


def test_the_number_after_the_hashes_may_be_on_the_next_line():
    assert extract_answer("so 3 apples\n####\n72\n(checked twice, 5 minutes)", "gsm8k").value == 72


def test_only_the_line_after_the_hashes_is_read():
    """A `####` line without a number falls through to the next marker, not to a number further down."""
    assert extract_answer("#### none\n5\nThe answer is 7", "gsm8k").value == 7


def test_answer_phrases_are_only_looked_for_near_the_end():
    text = "The answer is 3, I first thought. " + "Let me check again carefully. " * 25 + "It comes to 5 apples."
    assert len(text) > 700 and extract_answer(text).value == 5


def test_the_gsm8k_style_is_read_by_value():
    """A custom reward may pass the style it read from its own config: compared by value, not identity."""
    style = "".join(["gsm", "8k"])
    assert extract_answer("\\boxed{1} #### 2", style).value == 2
    assert extract_answer("\\boxed{1} #### 2").value == 1
    assert extract_answer("\\boxed{1} #### 2", "aime").value == 1  # any other style reads the box first


def test_the_answer_phrase_counts_within_the_last_600_characters():
    head = "answer: 3 "
    within = head + "x" * (600 - len(head) - 2) + " 5"
    past = head + "x" * (600 - len(head) - 1) + " 5"
    assert len(within) == 600 and extract_answer(within).value == 3  # the phrase starts exactly 600 from the end
    assert len(past) == 601 and extract_answer(past).value == 5  # one further: only the last number is read


def test_a_zero_denominator_is_not_a_percentage():
    from trainer_entry.rewards.numeric import score

    assert score("#### 300/0", "3", "gsm8k") == 0.0
    assert score("#### 3/0", "3", "gsm8k") == 1.0  # read as its numerator, as written
