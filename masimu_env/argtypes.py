"""argparse types shared by the command-line tools (``masimu``, ``benchmarks/``, ``examples/``): each refuses
nonsense with a usage error naming the flag, before any work starts, instead of a traceback minutes later."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """An integer >= 1 (counts: epochs, seeds, threads, samples, images)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (minutes, seconds); NaN and inf are refused (inf would never stop)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text}")
    return value


def open_fraction(text: str) -> float:
    """A number in (0, 1) (forget fractions)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text}")
    return value


def accuracy(text: str) -> float:
    """A number in (0, 1] (an accuracy to reach; 95 is refused: write 0.95)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an accuracy in (0, 1]; got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected an accuracy in (0, 1] (e.g. 0.95); got {text}")
    return value
