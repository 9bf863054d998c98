"""The CPU engine's progress: a bar with ETA on a terminal, plain lines elsewhere."""

import io

from trainer_entry.trl_engine.progress import BarReporter, LineReporter, make_reporter


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_where_stdout_is_not_a_terminal():
    out = io.StringIO()
    reporter = make_reporter(out)
    assert isinstance(reporter, LineReporter)
    reporter.step(3, 256, {"epoch": "0", "reward_mean": "0.412", "s/step": "0.31"})
    reporter.note("[trl] validation at step 3: classification 0.500")
    assert out.getvalue().splitlines() == [
        "[trl] step 3/256  epoch 0  reward_mean 0.412  0.31s/step",
        "[trl] validation at step 3: classification 0.500",
    ]


def test_a_bar_with_eta_and_metrics_on_a_terminal():
    term = Terminal()
    reporter = make_reporter(term)
    assert isinstance(reporter, BarReporter)
    for step in range(1, 11):
        reporter.step(step, 40, {"reward_mean": f"{step / 10:.3f}", "kl": "0.0010"})
    reporter.note("[trl] validation at step 10: classification 0.750")
    reporter.close()
    screen = term.getvalue()
    assert "\r" in screen  # redrawn in place, not one line per step
    assert "10/40" in screen and "reward_mean=1.000" in screen and "kl=0.0010" in screen
    assert "<" in screen.rsplit("10/40", 1)[1]  # tqdm's "elapsed<remaining" ETA
    assert "[trl] validation at step 10: classification 0.750\n" in screen
    assert "[trl] step" not in screen


def test_a_resumed_run_starts_the_bar_at_its_step():
    term = Terminal()
    reporter = make_reporter(term)
    reporter.step(101, 256, {})
    reporter.close()
    assert "101/256" in term.getvalue() and " 0/256" not in term.getvalue()
