"""How the CPU engine shows progress: a progress bar with ETA and the key metrics on a terminal (as TRL and verl
users know from tqdm), one plain line per step where stdout is not a terminal (pods, CI, log files), so logs
stay readable and greppable.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class LineReporter:
    """`[trl] step 3/256  reward_mean 0.412  kl 0.0010  0.31s/step` per step; notes as their own lines."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def step(self, step: int, total: int, metrics: dict[str, str]) -> None:
        # a rate reads as "0.31s/step", every other metric as "name value"
        parts = [f"[trl] step {step}/{total}",
                 *(f"{v}{k}" if k.startswith("s/") else f"{k} {v}" for k, v in metrics.items())]
        print("  ".join(parts), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarReporter:
    """A tqdm bar: steps done of total, elapsed, ETA, rate, and the metrics as its postfix."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.bar: Any = None

    def step(self, step: int, total: int, metrics: dict[str, str]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=step - 1, file=self.stream, desc="[trl] training", unit="step",
                            dynamic_ncols=True)
        self.bar.set_postfix(metrics, refresh=False)
        self.bar.update(step - self.bar.n)

    def note(self, text: str) -> None:
        if self.bar is None:
            print(text, file=self.stream, flush=True)
        else:
            self.bar.write(text, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def make_reporter(stream: TextIO | None = None) -> LineReporter | BarReporter:
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return BarReporter(stream) if isatty is not None and isatty() else LineReporter(stream)
