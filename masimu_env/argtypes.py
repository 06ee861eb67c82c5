"""argparse types shared by the command-line tools (``masimu``, ``benchmarks/``, ``examples/``): each refuses
nonsense with a usage error naming the flag, before any work starts, instead of a traceback minutes later."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def _number(convert: Callable[[str], float], accepts: Callable[[float], bool], expected: str,
            hint: str = "") -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text, then refuse it unless ``accepts`` it, saying what was ``expected``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}{hint}; got {text}")
        return value

    return parse


positive_int = _number(int, lambda value: value >= 1, "an integer >= 1")
"""An integer >= 1 (counts: epochs, seeds, threads, samples, images)."""
non_negative_int = _number(int, lambda value: value >= 0, "an integer >= 0")
"""An integer >= 0 (counts where 0 means none, e.g. remote workers)."""
positive_float = _number(float, lambda value: 0 < value < math.inf, "a finite number > 0")
"""A finite number > 0 (minutes, seconds); NaN and inf are refused (inf would never stop)."""
open_fraction = _number(float, lambda value: 0 < value < 1, "a number in (0, 1)")
"""A number in (0, 1) (forget fractions)."""
accuracy = _number(float, lambda value: 0 < value <= 1, "an accuracy in (0, 1]", hint=" (e.g. 0.95)")
"""A number in (0, 1] (an accuracy to reach; 95 is refused: write 0.95)."""
