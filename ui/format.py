"""Text for the page: durations, numbers in formulas, and untrusted text made plain."""

from __future__ import annotations

import re

from mnist_core.naming import percent, plural

__all__ = ["format_seconds", "math_number", "percent", "percent_math", "plain", "plural",
           "setting"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|~:$<>&])")  # what makes links, HTML, maths


def plain(text: object) -> str:
    """Text from a file or an error, escaped so Markdown shows it as it is (no links,
    images, HTML or colour directives)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text).replace("\n", " "))


def format_seconds(seconds: float | None) -> str:
    """Short durations for big numbers: '25 s', '1:05 min', '...' while unknown."""
    if seconds is None:
        return "..."
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60}:{seconds % 60:02d} min"


def setting(value: float | None) -> str:
    """A setting for a table: 0.001 -> '0.001', 32 -> '32', None -> '-'."""
    return "-" if value is None else f"{value:g}"


def math_number(value: float) -> str:
    """A number inside $...$ (KaTeX): 3 significant digits, grouped thousands, or a power of
    ten for the huge ratios a trained model's logits stand for."""
    if abs(value) >= 1e6:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return f"{value:,.0f}".replace(",", "{,}") if abs(value) >= 1000 else f"{value:.3g}"


def percent_math(value: float) -> str:
    """'= 6.9\\%' inside $...$, or '\\approx 100\\%' when it would round to 100%."""
    return "\\approx 100\\%" if value >= 0.9995 else "= " + percent(value).replace("%", "\\%")
