"""Default reward scorers, one module per kind of answer.

- ``numeric``: final-number answers (math_reasoning, gsm8k); pure regex, no sympy on the hot path.
- ``latex_math``: LaTeX answers (math); math-verify for equivalence, sympy as fallback, under a deadline.
- ``code_sandbox`` + ``code_tests``: run a response's Python against tests in a locked-down child process.
- ``text_match``: normalised answer match (qa, trivia, classification).

``trainer_entry/reward_func.py`` dispatches to these by ``data_source``.
"""
