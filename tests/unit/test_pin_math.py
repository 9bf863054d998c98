"""Pins for the LaTeX math scorer (`math` and verl's MATH names): where the answer is found in a response, which
spellings count as the same answer, and which inputs never reach sympy. Each case is a response (or answer) a
policy could write and the verdict a user would see; written from the mutants that survived
benchmarks/mutation.py on rewards/boxed.py and rewards/latex_math.py."""

import pytest

from trainer_entry.reward_func import compute_score
from trainer_entry.rewards.boxed import last_boxed
from trainer_entry.rewards.latex_math import answers_equal, extract_answer, gold_answer, normalize, score


@pytest.mark.parametrize(("text", "content"), [
    ("\\boxed{42}", "42"),
    ("\\fbox{42}", "42"),
    ("\\boxed{1} then \\fbox{2}", "2"),  # whichever comes last
    ("\\fbox{1} then \\boxed{2}", "2"),
    ("\\boxed   {7}", "7"),  # spaces before the brace
    ("\\boxed\t{7}", "7"),
    ("\\boxed 5", "5"),  # the brace-less form, to the end of the text
    ("\\boxed 5 apples", "5"),  # ... to the next space
    ("\\boxed 5\nnext line", "5"),  # ... newline
    ("$\\boxed 12$.", "12"),  # ... or dollar sign
    ("\\boxed{a{b}c}", "a{b}c"),  # nested braces are kept
    ("\\boxed{{x}}", "{x}"),
    ("\\boxed{}", ""),  # present but empty
    ("x \\boxed{\\frac{1}{2}} y", "\\frac{1}{2}"),
])
def test_last_boxed_content(text, content):
    assert last_boxed(text) == content


@pytest.mark.parametrize("text", [
    "no box here",
    "\\boxed",  # nothing after it
    "\\boxed   ",  # only spaces after it
    "\\boxed $",  # the brace-less form with nothing in it
    "\\boxed{\\frac{1}{2}",  # unclosed: a response cut at the length limit
    "\\boxed{a}} \\boxed{b",  # the last one is unclosed; the earlier one does not count instead
])
def test_last_boxed_absent(text):
    assert last_boxed(text) is None


LONG = "Let me think step by step. " * 20  # real responses are long: positions past 256 (small ints end there)


@pytest.mark.parametrize(("text", "content"), [
    (LONG + "\\boxed{42}", "42"),
    (LONG + "\\boxed 42", "42"),  # the brace-less form running to the end of a long response
    (LONG + "\\boxed", None),
    (LONG + "\\boxed  ", None),
    (LONG + "\\boxed{4", None),
    ("\\boxed π", "π"),  # characters that sort after "{" start a brace-less answer ...
    ("\\boxed |x|", "|x|"),
    ("\\boxed{α+β}", "α+β"),  # ... and inside braces they are content, not a closing brace
    ("\\boxed{a~b}", "a~b"),
    ("\\boxed{中文}", "中文"),
])
def test_last_boxed_in_long_responses_and_other_characters(text, content):
    assert last_boxed(text) == content


@pytest.mark.parametrize(("response", "answer"), [
    ("\\boxed{3} and The final answer is $4$", "3"),  # a box wins over the other forms
    ("The final answer is $4$. I hope it is correct.", "4"),
    ("THE FINAL ANSWER IS: $4$", "4"),  # case-insensitive, with a colon
    ("the final answer is $\\frac{1}{\n2}$", "\\frac{1}{\n2}"),  # the $...$ may span lines
    ("The final answer is $1$. Rethinking: the final answer is $2$.", "2"),  # the last one
    ("Answer: 17.", "17"),  # "answer:" lines: a trailing full stop and dollars go
    ("answer is: $17$", "17"),
    ("Answer: 1\nsecond thought. Answer: 2", "2"),
    ("最终答案是：5", "5"),
    ("答案为 6", "6"),
    ("just 5", None),
])
def test_extract_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(("raw", "canonical"), [
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("\\tfrac{1}{2}", "\\frac{1}{2}"),
    ("\\frac12", "\\frac{1}{2}"),
    ("\\frac123", "\\frac123"),  # only the two-digit short form is expanded
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("1\\!000", "1000"),
    ("1\\,000", "1000"),
    ("1\\;000", "1000"),
    ("1\\ 000", "1000"),
    ("90^\\circ", "90"),
    ("90^{\\circ}", "90"),
    ("50\\%", "50"),
    ("50%", "50"),
    ("$5$", "5"),
    ("1{,}000", "1,000"),
    ("\\text{(B)}", "(B)"),
    ("\\textbf{yes}", "yes"),
    ("\\mathrm{cm}", "cm"),
    ("\\mbox{m}", "m"),
    ("x = 3", "3"),
    ("x_1 = 3", "3"),
    ("x_{12}=3", "3"),
    ("x = y = 3", "x=y=3"),  # two equals signs: not a variable prefix
    ("3.", "3"),
    ("  1 + 2  ", "1+2"),
])
def test_normalize(raw, canonical):
    assert normalize(raw) == canonical


@pytest.mark.parametrize(("gold", "pred", "equal"), [
    ("0.5", "\\frac{1}{2}", True),  # both plain numbers: compared by value
    ("-0.5", "-\\frac{1}{2}", True),
    ("-0.5", "\\frac{-1}{2}", True),
    ("0.5", "-\\frac{1}{2}", False),
    ("2", "2.0", True),
    (".5", "0.5", True),
    ("2", "3", False),
    ("5", "", False),  # an empty answer is never right
    ("5", "   ", False),
])
def test_answers_equal_plain_numbers(gold, pred, equal):
    assert answers_equal(gold, pred) is equal


@pytest.mark.parametrize("expensive", [
    "x^{1234}", "x^1234", "x^{-1234}", "a^{b^{c}}", "2^3^4", "2^{3}^4", "123!", "2**1234", "1" * 401,
])
def test_expensive_answers_only_get_the_string_comparison(expensive):
    """Equal strings still match; anything else is refused without reaching sympy (which would compute it)."""
    assert answers_equal(expensive, expensive) is True
    assert answers_equal("7", expensive) is False
    assert answers_equal(expensive, "7") is False


@pytest.mark.parametrize(("pred", "gold"), [
    ("x^{123}", "x^{123}"), ("12!", "479001600"), ("1" * 3 + "+0", "111"),
])
def test_cheap_answers_reach_the_symbolic_comparison(pred, gold):
    assert answers_equal(gold, pred) is True


def test_gold_answer_reads_a_boxed_ground_truth():
    assert gold_answer("  \\boxed{7}  ") == "7"
    assert gold_answer("\\fbox{7}") == "7"
    assert gold_answer(" 7 ") == "7"
    assert gold_answer(7) == "7"
    assert gold_answer("\\boxed{7") == "\\boxed{7"  # an unclosed box is the answer as written


@pytest.mark.parametrize("truth", ["", "   ", "\\boxed{ }"])
def test_empty_ground_truth_is_refused_with_its_name(truth):
    with pytest.raises(ValueError, match="ground_truth is empty"):
        gold_answer(truth)


def test_score_is_zero_without_an_answer_and_one_with_the_right_one():
    assert score("I think it is 7", "7") == 0.0
    assert score("Answer: 7", "7") == 1.0
    assert compute_score("math", "so \\boxed{7}", "\\boxed{7}") == 1.0
