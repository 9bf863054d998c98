"""LaTeX answers (math and verl's MATH names): boxed extraction, symbolic equivalence, safety off-thread."""

import subprocess
import sys
import threading
import time

import pytest

from trainer_entry.reward_func import compute_score
from trainer_entry.rewards.boxed import last_boxed
from trainer_entry.rewards.deadline import DeadlineExceeded, call_with_deadline

CORRECT = [
    ("so \\boxed{1+x^2}", "x^2+1"),
    ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}"),
    ("\\boxed{x=3}", "3"),
    ("\\boxed{(1, 2)}", "(1,2)"),
    ("\\boxed{\\dfrac{1}{2}}", "\\frac12"),
    ("\\boxed{0.5}", "\\frac{1}{2}"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}"),
    ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "0.75"),
    ("\\boxed{10^\\circ}", "10"),
    ("\\boxed{x^2-1}", "(x-1)(x+1)"),
    ("\\boxed{\\{1,2\\}}", "\\{2,1\\}"),
    ("first \\boxed{2}, on reflection \\boxed{\\frac{\\pi}{2}}", "\\frac{\\pi}{2}"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{\\text{(B)}}", "B"),
    ("\\boxed{5}", "\\boxed{5}"),  # a boxed ground truth
]
WRONG = [
    ("\\boxed{\\frac{1}{3}}", "\\frac{1}{2}"),
    ("\\boxed{-2}", "2"),
    ("no boxed answer, but 5", "\\frac{1}{2}"),
    ("\\boxed{(2, 1)}", "(1,2)"),
    ("\\boxed{x^2+2}", "x^2+1"),
    ("\\boxed{\\frac{1}{2}x}", "\\frac{1}{2}"),  # starts like a number, is not one
    ("\\boxed{\\frac{1}{2}}", "-\\frac{1}{2}"),
    ("\\boxed{3.14159}", "\\pi"),
    ("\\boxed{\\frac{1}{2}", "\\frac{1}{2}"),  # unclosed: cut off at the length limit
]


@pytest.mark.parametrize("source", ["math", "lighteval/MATH", "DigitalLearningGmbH/MATH-lighteval"])
@pytest.mark.parametrize(("response", "truth"), CORRECT)
def test_equivalent_answers_score_one(source, response, truth):
    assert compute_score(source, response, truth) == 1.0


@pytest.mark.parametrize(("response", "truth"), WRONG)
def test_different_answers_score_zero(response, truth):
    assert compute_score("math", response, truth) == 0.0


def test_last_boxed_nested_braces():
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{\\sqrt{2}}} c") == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("\\boxed 5$") == "5"
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("nothing") is None


def test_power_tower_never_reaches_sympy():
    start = time.perf_counter()
    assert compute_score("math", "\\boxed{9^{9^{9}}}", "2") == 0.0
    assert compute_score("math", "\\boxed{2^{100000}}", "3") == 0.0
    assert compute_score("math", "\\boxed{10000!}", "3") == 0.0
    assert time.perf_counter() - start < 2


def test_scoring_works_off_the_main_thread():
    """verl calls compute_score from a thread pool; math-verify's signal timeouts must not break it."""
    results = []

    def work():
        results.append(compute_score("math", "\\boxed{\\sqrt{8}}", "2\\sqrt{2}"))
        results.append(compute_score("math", "\\boxed{x^2+2}", "x^2+1"))

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert results == [1.0, 0.0]


def test_deadline_interrupts_pure_python_work_on_a_thread():
    outcome = {}

    def forever():
        n = 0
        while True:
            n += 1

    def spin():
        start = time.perf_counter()
        try:
            call_with_deadline(forever, 0.2)
        except DeadlineExceeded:
            outcome["elapsed"] = time.perf_counter() - start

    t = threading.Thread(target=spin)
    t.start()
    t.join(10)
    assert 0.15 < outcome["elapsed"] < 2


def test_deadline_returns_value_and_leaves_no_pending_exception():
    assert call_with_deadline(lambda: 41 + 1, 0.05) == 42
    time.sleep(0.1)  # the timer was cancelled: nothing fires into this thread later
    assert sum(range(1000)) == 499500


def test_empty_ground_truth_is_an_error():
    with pytest.raises(ValueError, match="ground_truth is empty"):
        compute_score("math", "\\boxed{1}", " ")


def test_cold_start_imports_do_not_count_against_the_deadline():
    """A fresh process: importing math-verify/sympy takes seconds, the comparison itself must not time out."""
    code = (
        "import threading\n"
        "from trainer_entry.reward_func import compute_score\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.append(compute_score('math', '\\\\boxed{\\\\sqrt{8}}', "
        "'2\\\\sqrt{2}', timeout_s=1.0)))\n"
        "t.start(); t.join()\n"
        "print(out)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[1.0]", proc.stderr[-2000:]
