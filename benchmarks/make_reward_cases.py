"""Write ``benchmarks/data/reward_cases.jsonl``: labelled responses for every builtin data source.

Each line: ``{"data_source", "response", "ground_truth", "label", "note"}``; ``label`` is the score a careful
human grader gives (1/0, or the fraction of tests a program passes). The cases are written by hand below;
the numeric sources are expanded from templates (several answer formats x several values), deterministically.
Run: ``python benchmarks/make_reward_cases.py`` (rewrites the file).
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).parent / "data" / "reward_cases.jsonl"

# --- numeric: (value as written by the grader, spellings a model might use for the same value) ---
VALUES = [
    ("72", ["72", "72.0", "72.00", "$72", "72 clips"]),
    ("1234", ["1,234", "1234", "\\$1,234", "1,234 dollars", "1{,}234"]),
    ("-3", ["-3", "−3", "-3.0"]),
    ("0.75", ["0.75", "3/4", "\\frac{3}{4}", ".75"]),
    ("18", ["18", "$18.00", "18 dollars", "\\$18"]),
    ("2500000", ["2,500,000", "2.5 \\times 10^{6}", "2.5e6", "2500000"]),
    ("40", ["40%", "40", "40 percent"]),
]
REASONING = "Let's work it out step by step. First we add 12 and 30 to get 42, then we subtract 7 to get 35. "
TEMPLATES = [
    ("The answer is {a}.", "answer phrase"),
    ("So the final answer is {a}", "final answer phrase"),
    ("#### {a}", "gsm8k marker"),
    ("Therefore the result is \\boxed{{{a}}}.", "boxed"),
    ("Thus, the total comes to {a}.", "last number"),
    ("答案是：{a}", "Chinese marker"),
    ("The answer is: **{a}**", "markdown bold"),
]


def numeric_cases(source: str) -> list[dict]:
    cases = []
    for gold, spellings in VALUES:
        for k, (template, note) in enumerate(TEMPLATES):
            spelled = spellings[k % len(spellings)]
            if note == "boxed" and spelled.startswith("$"):
                spelled = "\\" + spelled
            cases.append(
                {
                    "data_source": source,
                    "response": REASONING + template.format(a=spelled),
                    "ground_truth": gold,
                    "label": 1,
                    "note": f"{note}: {spelled}",
                }
            )
    wrong = [
        ("The answer is 71.", "72", "off by one"),
        ("#### 3", "-3", "sign dropped"),
        ("The answer is -18", "18", "sign added"),
        (
            "I first got 72, but checking again the answer is 70.",
            "72",
            "marker beats an earlier right number",
        ),
        ("The answer is 35. Check: 35 * 2 = 70.", "70", "marker beats a later number"),
        ("The answer is 0.7", "0.75", "rounded too far"),
        ("We cannot determine it.", "72", "no number"),
        ("The answer is \\boxed{", "72", "cut off box"),
        ("The answer is 40", "0.4", "percent value given without the sign"),
    ]
    right = [
        ("The answer is 35. Check: 35 * 2 = 70.", "35", "answer phrase, then a check with other numbers"),
        ("So 10-4 = 6 and the answer is 6", "6", "subtraction is not a negative number"),
        ("She has 12 - 5 = 7 apples left.", "7", "last number after an equation"),
        ("The answer is 40%", "0.4", "percent vs fraction"),
        (
            "Natalia sold 48 + 24 = 72 clips.\n#### 72",
            "Natalia sold 48/2 = 24 clips in May.\n#### 72",
            "gsm8k ground truth",
        ),
        ("The answer is − 12 degrees", "-12", "unicode minus with a space"),
        ("答案是 1.5×10^3 米", "1500", "scientific, Chinese"),
        ("Total: 2,000 + 500 = \\boxed{2{,}500}", "2500", "latex thousands separator"),
        ("The answer is 18.", "18.0", "trailing .0 in ground truth"),
        ("To answer this, we need 3 boxes of 4 pens, so 12 pens.", "12", "'answer' as a verb is no marker"),
        ("Step 1: 5 + 5 = 10\nStep 2: 10 * 3 = 30", "30", "last number after steps"),
    ]
    for response, gold, note in wrong:
        cases.append(
            {"data_source": source, "response": response, "ground_truth": gold, "label": 0, "note": note}
        )
    for response, gold, note in right:
        cases.append(
            {"data_source": source, "response": response, "ground_truth": gold, "label": 1, "note": note}
        )
    return cases


MATH_CASES = [
    # (response, ground truth, label, note)
    ("So the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", 1, "identical"),
    ("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}", 1, "dfrac"),
    ("\\boxed{0.5}", "\\frac{1}{2}", 1, "decimal vs fraction"),
    ("\\boxed{\\frac12}", "\\frac{1}{2}", 1, "frac without braces"),
    ("\\boxed{1+x^2}", "x^2+1", 1, "commuted sum"),
    ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", 1, "simplified radical"),
    ("\\boxed{x=3}", "3", 1, "equation vs value"),
    ("\\boxed{(1, 2)}", "(1,2)", 1, "tuple spacing"),
    ("\\boxed{(2, 1)}", "(1,2)", 0, "tuple order"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}", 1, "sqrt without braces"),
    ("\\boxed{x^2-1}", "(x-1)(x+1)", 1, "expanded vs factored"),
    ("\\boxed{x^2+1}", "(x-1)(x+1)", 0, "wrong polynomial"),
    ("\\boxed{10^\\circ}", "10", 1, "degrees"),
    ("\\boxed{\\pi}", "\\pi", 1, "pi"),
    ("\\boxed{3.14159}", "\\pi", 0, "pi approximation"),
    ("\\boxed{\\frac{\\pi}{2}}", "\\frac{\\pi}{2}", 1, "pi fraction"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)", 1, "polar pair"),
    (
        "\\boxed{(3,\\frac{\\pi}{2})}",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        1,
        "polar pair without left/right",
    ),
    ("\\boxed{\\text{(C)}}", "\\text{(C)}", 1, "choice letter"),
    ("\\boxed{C}", "\\text{(C)}", 1, "bare choice letter"),
    ("\\boxed{D}", "\\text{(C)}", 0, "wrong choice"),
    ("\\boxed{[-2, 5)}", "[-2,5)", 1, "interval"),
    ("\\boxed{(-2, 5]}", "[-2,5)", 0, "interval ends"),
    ("\\boxed{\\{1,2,3\\}}", "\\{3,2,1\\}", 1, "set order"),
    ("\\boxed{-\\frac{1}{3}}", "\\frac{-1}{3}", 1, "sign placement"),
    ("\\boxed{\\frac{1}{3}}", "-\\frac{1}{3}", 0, "sign"),
    ("\\boxed{2\\sqrt{5}}", "\\sqrt{20}", 1, "radical"),
    ("\\boxed{\\sqrt{5}}", "\\sqrt{20}", 0, "wrong radical"),
    ("\\boxed{1,000}", "1000", 1, "thousands separator"),
    ("\\boxed{5\\text{ cm}}", "5", 1, "units"),
    ("\\boxed{50\\%}", "50", 1, "percent"),
    ("\\boxed{6}", "6", 1, "integer"),
    ("\\boxed{7}", "6", 0, "wrong integer"),
    ("first \\boxed{4}, then corrected: \\boxed{6}", "6", 1, "last box counts"),
    ("first \\boxed{6}, then changed to \\boxed{4}", "6", 0, "last box counts (wrong)"),
    ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}", 1, "minerva format"),
    ("Answer: $\\frac{3}{4}$", "\\frac{3}{4}", 1, "answer line"),
    ("We get 3/4 of the area but I did not finish.", "\\frac{3}{4}", 0, "no final answer marker"),
    ("\\boxed{\\frac{1}{2}", "\\frac{1}{2}", 0, "unclosed box (cut off)"),
    ("\\boxed{y = 2x + 3}", "y=2x+3", 1, "line equation"),
    ("\\boxed{2x+3}", "y=2x+3", 1, "line equation rhs"),
    (
        "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        1,
        "vector",
    ),
    (
        "\\boxed{\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}}",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        0,
        "vector order",
    ),
    ("\\boxed{\\infty}", "\\infty", 1, "infinity"),
    ("\\boxed{9^{9^{9}}}", "2", 0, "power tower must not hang"),
    ("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", 1, "unreduced fraction"),
    ("\\boxed{1.5}", "\\frac{3}{2}", 1, "decimal"),
    ("\\boxed{1\\frac{1}{2}}", "\\frac{3}{2}", 1, "mixed number"),
    ("\\boxed{\\sin^2 x + \\cos^2 x}", "1", 1, "identity"),
    ("\\boxed{e^{i\\pi}}", "-1", 1, "euler"),
    ("\\boxed{\\log_2 8}", "3", 1, "logarithm"),
    ("\\boxed{\\binom{5}{2}}", "10", 1, "binomial"),
    ("\\boxed{5!}", "120", 1, "factorial"),
    ("\\boxed{x \\in [0, 1]}", "[0,1]", 1, "membership"),
    ("\\boxed{2, 3}", "2,3", 1, "list of roots"),
    ("\\boxed{3, 2}", "2,3", 1, "roots in any order"),
    ("\\boxed{\\text{odd}}", "\\text{odd}", 1, "word answer"),
    ("\\boxed{\\text{even}}", "\\text{odd}", 0, "wrong word answer"),
    ("\\boxed{}", "0", 0, "empty box"),
]

STDIO_SUM = {"inputs": ["1 2\n", "3 4\n", "10 -2\n", "0 0\n"], "outputs": ["3\n", "7\n", "8\n", "0\n"]}
CALL_MAX = {"fn_name": "largest", "inputs": [[[1, 5, 2]], [[-3, -1]], [[7]]], "outputs": [[5], [-1], [7]]}
PRIME_CALL = {"fn_name": "twice", "inputs": ["1", "4", "-2"], "outputs": ["2", "8", "-4"]}
ASSERTS = "assert is_even(2)\nassert not is_even(3)\nassert is_even(0)\nassert not is_even(-1)"
CODE_CASES = [
    ("```python\na, b = map(int, input().split())\nprint(a + b)\n```", STDIO_SUM, 1, "stdio correct"),
    ("import sys\nprint(sum(map(int, sys.stdin.read().split())))", STDIO_SUM, 1, "no fence, sys.stdin"),
    (
        "Here you go:\n```python\nprint(sum(map(int, input().split())))\n```\nThis reads two numbers.",
        STDIO_SUM,
        1,
        "prose around fence",
    ),
    (
        "```python\nprint(1)\n```\nBetter:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```",
        STDIO_SUM,
        1,
        "last python block",
    ),
    (
        "```python\na, b = map(int, input().split())\nprint(a + b if a > 5 else 0)\n```",
        STDIO_SUM,
        0.5,
        "half the tests",
    ),
    ("```python\na, b = map(int, input().split())\nprint(a - b)\n```", STDIO_SUM, 0.25, "wrong operation"),
    (
        "```python\na, b = map(int, input().split())\nprint(a + b)\nimport sys\nsys.exit(0)\n```",
        STDIO_SUM,
        1,
        "exit 0 after output",
    ),
    ("```python\nimport sys\nsys.exit(1)\n```", STDIO_SUM, 0, "exit 1"),
    ("```python\nraise RuntimeError('boom')\n```", STDIO_SUM, 0, "exception"),
    ("```python\nwhile True:\n    pass\n```", STDIO_SUM, 0, "infinite loop"),
    (
        "```python\ndef main():\n    a, b = map(int, input().split())\n    print(a + b)\n\nif __name__ == '__main__':\n    main()\n```",
        STDIO_SUM,
        1,
        "main guard",
    ),
    (
        "```python\na, b = map(int, input().split())\nprint(a + b, end='')\n```",
        STDIO_SUM,
        1,
        "no trailing newline",
    ),
    ("```python\na, b = map(int, input().split()\n```", STDIO_SUM, 0, "syntax error"),
    ("```\na, b = map(int, input().split())\nprint(a + b)\n```", STDIO_SUM, 1, "untagged fence"),
    ("```python\ndef largest(xs):\n    return max(xs)\n```", CALL_MAX, 1, "function"),
    (
        "```python\nclass Solution:\n    def largest(self, xs):\n        return sorted(xs)[-1]\n```",
        CALL_MAX,
        1,
        "Solution class",
    ),
    ("```python\ndef largest(xs):\n    return xs[0]\n```", CALL_MAX, 1 / 3, "partly right function"),
    ("```python\ndef biggest(xs):\n    return max(xs)\n```", CALL_MAX, 0, "wrong function name"),
    ("```python\ndef twice(x):\n    return 2 * x\n```", PRIME_CALL, 1, "PRIME json-lines call format"),
    ("```python\ndef twice(x):\n    return abs(2 * x)\n```", PRIME_CALL, 2 / 3, "PRIME format partly right"),
    ("```python\ndef is_even(n):\n    return n % 2 == 0\n```", ASSERTS, 1, "assert tests"),
    (
        "```python\ndef is_even(n):\n    return n > 0 and n % 2 == 0\n```",
        ASSERTS,
        0.75,
        "assert tests, one fails",
    ),
    ("```python\ndef is_even(n):\n    return True\n```", ASSERTS, 0.5, "assert tests, constant"),
    ("```python\nprint(0.1 + 0.2)\n```", {"inputs": [""], "outputs": ["0.3\n"]}, 1, "float tolerance"),
    ("```python\nprint('YES')\n```", {"inputs": [""], "outputs": ["yes\n"]}, 0, "case matters in output"),
]

QA_CASES = [
    ("Answer: Paris", "Paris", 1, "answer prefix"),
    ("The answer is paris.", "Paris", 1, "case and period"),
    ("<answer>Paris</answer>", "Paris", 1, "answer tag"),
    ("<think>Maybe Lyon? No.</think>\n<answer>Paris</answer>", "Paris", 1, "think then tag"),
    ("\\boxed{\\text{Paris}}", "Paris", 1, "boxed text"),
    ("Paris", "Paris", 1, "bare answer"),
    ("Answer: The Beatles", "Beatles", 1, "article"),
    ("Answer: Lyon", "Paris", 0, "wrong"),
    ("<answer>Lyon</answer>", "Paris", 0, "wrong tag"),
    ("The capital of France is Paris, I think.", "Paris", 0, "no answer marker in a sentence"),
    ("Answer: Paris or Lyon", "Paris", 0, "hedged"),
    ("Final answer: William Shakespeare", '["Shakespeare", "William Shakespeare"]', 1, "alias list"),
    ("Answer: shakespeare", '["Shakespeare", "William Shakespeare"]', 1, "alias list short form"),
    ("Answer: Marlowe", '["Shakespeare", "William Shakespeare"]', 0, "alias list wrong"),
    ("Answer: 1969", "1969", 1, "year"),
    ("Answer: 1968", "1969", 0, "wrong year"),
    ("答案是：北京", "北京", 1, "Chinese"),
    ("Answer:  Mount   Everest ", "Mount Everest", 1, "whitespace"),
    ("Answer: Mt. Everest", "Mount Everest", 0, "abbreviation is a different string"),
    ("<answer>Paris</answer> wait, <answer>Rome</answer>", "Paris", 0, "last tag counts"),
    ("", "Paris", 0, "empty response"),
]
TRIVIA_CASES = [
    ("Answer: Jupiter", '["Jupiter", "Planet Jupiter"]', 1, "alias"),
    ("The answer is planet Jupiter.", '["Jupiter", "Planet Jupiter"]', 1, "alias in phrase"),
    ("<answer>Saturn</answer>", '["Jupiter", "Planet Jupiter"]', 0, "wrong"),
    ("Answer: Leonardo da Vinci", '["Leonardo da Vinci", "Da Vinci", "Leonardo"]', 1, "full name"),
    ("Answer: da vinci", '["Leonardo da Vinci", "Da Vinci", "Leonardo"]', 1, "short alias"),
    ("Answer: Michelangelo", '["Leonardo da Vinci", "Da Vinci", "Leonardo"]', 0, "wrong artist"),
    ("It is H2O.\nAnswer: water", "Water", 1, "explanation then answer"),
    ("Answer: WATER!", "Water", 1, "shouting"),
    ("<answer>an apple</answer>", "Apple", 1, "article inside tag"),
    ("Answer: apples", "Apple", 0, "plural differs"),
    ("\\boxed{Amazon}", '["Amazon", "Amazon River"]', 1, "boxed"),
    ("Answer: Nile", '["Amazon", "Amazon River"]', 0, "wrong river"),
    ("Answer: Ｔｏｋｙｏ", "Tokyo", 1, "full-width letters"),
    ("Answer: Kyoto", "Tokyo", 0, "wrong city"),
]
CLASSIFICATION_CASES = [
    ("positive", "positive", 1, "bare label"),
    ("Positive.", "positive", 1, "capitalised with period"),
    ("<answer>negative</answer>", "negative", 1, "tag"),
    ("The review praises the food.\nSentiment: positive", "positive", 1, "label after colon"),
    ("Label: NEUTRAL", "neutral", 1, "label prefix"),
    ("Answer: spam", '["spam", "junk"]', 1, "alias"),
    ("Answer: junk", '["spam", "junk"]', 1, "alias 2"),
    ("negative", "positive", 0, "wrong label"),
    ("Sentiment: negative", "positive", 0, "wrong label after colon"),
    ("It is not positive.", "positive", 0, "negated sentence"),
    ("positive or negative", "positive", 0, "hedged"),
    ("<answer>positive</answer> <answer>negative</answer>", "positive", 0, "last tag counts"),
    ("\\boxed{B}", "B", 1, "boxed choice"),
    ("The answer is (B).", "B", 1, "choice in parentheses"),
    ("The answer is (C).", "B", 0, "wrong choice"),
]


def all_cases() -> list[dict]:
    cases = numeric_cases("math_reasoning") + numeric_cases("gsm8k")
    for response, gold, label, note in MATH_CASES:
        cases.append(
            {"data_source": "math", "response": response, "ground_truth": gold, "label": label, "note": note}
        )
    for response, tests, label, note in CODE_CASES:
        cases.append(
            {
                "data_source": "code",
                "response": response,
                "ground_truth": tests if isinstance(tests, str) else json.dumps(tests),
                "label": label,
                "note": note,
            }
        )
    for source, rows in (
        ("qa", QA_CASES),
        ("trivia", TRIVIA_CASES),
        ("classification", CLASSIFICATION_CASES),
    ):
        for response, gold, label, note in rows:
            cases.append(
                {
                    "data_source": source,
                    "response": response,
                    "ground_truth": gold,
                    "label": label,
                    "note": note,
                }
            )
    return cases


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cases = all_cases()
    with OUT.open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
