"""Tests import this checkout's code, whatever `pip install -e` last pointed at (subprocesses too)."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_PATHS = [str(REPO / "operator"), str(REPO)]
for path in reversed(_PATHS):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ["PYTHONPATH"] = os.pathsep.join(_PATHS + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                     if p and p not in _PATHS])
