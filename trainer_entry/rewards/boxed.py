"""Find the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in a response, with nested braces."""

from __future__ import annotations


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``/``\\fbox{...}``, or of ``\\boxed 5`` (no braces); None if absent.

    Braces nest (``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``). An unclosed ``\\boxed{`` (a response cut
    at the length limit) counts as absent, so it cannot match by accident.
    """
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    start = idx + (6 if text.startswith("\\boxed", idx) else 5)
    n = len(text)
    i = start
    while i < n and text[i] in " \t":
        i += 1
    if i >= n:
        return None
    if text[i] != "{":
        # "\boxed 5" form: up to the next whitespace or "$".
        j = i
        while j < n and text[j] not in " \t\n$":
            j += 1
        return text[i:j] or None
    depth = 0
    for j in range(i, n):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None
