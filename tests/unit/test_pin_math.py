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


@pytest.mark.parametrize(("raw", "canonical"), [
    ("\\fraca2", "\\fraca2"), ("\\frac1a", "\\frac1a"),  # the short form needs two digits
])
def test_normalize_expands_only_two_digit_short_fractions(raw, canonical):
    assert normalize(raw) == canonical


def test_the_length_guard_starts_past_400_characters():
    at_limit = "1" + "+0" * 199 + " "  # 400 characters, equal to 1: still compared symbolically
    assert len(at_limit) == 400 and answers_equal("1", at_limit) is True
    assert answers_equal("1", at_limit + "+0") is False  # 402: refused unread


def test_expensive_answers_match_through_normalisation():
    """Equal after normalisation (spaces, \\left) is equal, even where sympy is never asked."""
    assert answers_equal("x^{1234}", " x^{1234} ") is True
    assert answers_equal("\\left(2^{3}^4\\right)", "(2^{3}^4)") is True


def test_a_malformed_answer_is_unequal_never_a_crash():
    assert answers_equal("1", "}{") is False  # math-verify cannot parse it and latex2sympy raises
    assert answers_equal("}{", "1") is False
    assert score("\\boxed{\\text{}}", "1") == 0.0


def test_a_comparison_past_its_deadline_is_unequal_and_logged(caplog):
    # answers no other test parses, compared under the deadline first: parsing them alone takes milliseconds
    gold, pred = "(y+2)^{3}+\\frac{z}{7}", "y^3+6y^2+12y+8+\\frac{2z}{14}"
    with caplog.at_level("WARNING", logger="trainer_entry.rewards.latex_math"):
        assert answers_equal(gold, pred, timeout_s=1e-6) is False
    assert "gave up after 0.0 s" in caplog.text and repr(pred) in caplog.text
    assert answers_equal(gold, pred) is True  # the same pair, given the time


def test_math_verify_says_none_when_it_cannot_parse_a_side():
    """Step 3's contract: None (not False) hands the pair to the sympy fallback."""
    from trainer_entry.rewards.latex_math import _mv_equal

    assert _mv_equal("}{", "1") is None and _mv_equal("1", "}{") is None
    assert _mv_equal("1", "2") is False and _mv_equal("2", "2") is True


@pytest.mark.parametrize(("gold", "pred", "equal"), [
    ("x^2", "x\\cdot x", True),
    ("\\frac{1}{2}", "\\frac{2}{4}", True),
    ("2", "-2", False),  # a sum of 0 is not a difference of 0
    ("0", "5", False),  # nor a product or a quotient of 0
    ("3", "2", False),  # a positive difference ...
    ("2", "3", False),  # ... or a negative one
    ("1", "2", False),  # 1 // 2 == 0
    ("4", "2", False),  # 4 % 2 == 0
    ("x = 2", "2", False),  # an equation is not an expression: never subtracted
    ("2", "x = 2", False),
])
def test_the_sympy_fallback_compares_the_difference_with_zero(gold, pred, equal):
    """Step 4 (when math-verify cannot parse a side): latex2sympy on both, equal when gold - pred simplifies to 0."""
    from trainer_entry.rewards.latex_math import _sympy_equal

    assert _sympy_equal(gold, pred) is equal


def test_the_warm_up_runs_once_before_the_first_symbolic_comparison(monkeypatch):
    """The cold-start test (test_reward_math.py) shows why; this one that plain answers do not pay for it and
    the first symbolic comparison does, once."""
    import threading

    from trainer_entry.rewards import latex_math

    monkeypatch.setattr(latex_math, "_warm", threading.Event())
    assert answers_equal("0.5", "\\frac{1}{2}") is True and not latex_math._warm.is_set()
    assert answers_equal("x+1", "1+x") is True and latex_math._warm.is_set()


def test_the_documented_math_timeout_is_the_default():
    import re
    from pathlib import Path

    from trainer_entry.rewards.latex_math import DEFAULT_TIMEOUT_S

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = re.search(r"default \d+ s for code, (\d+) s for math", readme)
    assert documented and float(documented.group(1)) == DEFAULT_TIMEOUT_S
