"""LaTeX output of measured numbers: macro names of letters only, numbers to a fixed
count of significant digits (every study's numbers*.tex)."""

from __future__ import annotations

import re

import numpy as np

DIGIT_WORDS = dict(zip("0123456789", ("Zero", "One", "Two", "Three", "Four", "Five", "Six",
                                      "Seven", "Eight", "Nine")))


def latex_word(value) -> str:
    """A number or a name as letters only: 0.1 -> ZeroPointOne, 1e-4 ->
    ZeroPointZeroZeroZeroOne, -2 -> MinusTwo, 'sgd' -> Sgd."""
    if isinstance(value, str):
        return "".join(part.capitalize() for part in re.split(r"[^A-Za-z]+", value))
    text = np.format_float_positional(float(value), trim="-")
    words = {".": "Point", "-": "Minus", **DIGIT_WORDS}
    return "".join(words[c] for c in text)


def latex_number(value: float, digits: int = 3) -> str:
    """value to `digits` significant digits (trailing zeros kept); powers of ten as
    a \\times 10^{e} (math-safe through \\ensuremath); NaN as \\textrm{n/a}."""
    if not np.isfinite(value):
        return r"\textrm{n/a}"
    text = f"{value:#.{digits}g}".rstrip(".")  # '#' keeps trailing zeros: 0.310
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"\ensuremath{{{mantissa}\times 10^{{{int(exponent)}}}}}"
    return text
