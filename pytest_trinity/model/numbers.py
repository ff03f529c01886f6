"""How a measured number is written in a message, a table cell or a report: one formatter."""

from __future__ import annotations

import math


def num(value: float | int | None, digits: int | None = None) -> str:
    """A number for people: thousands separated, "—" when not measured.

    Without `digits`: integers in full, others to 4 significant digits below 100 and to one
    decimal above (the style of breach messages). With `digits`: that many decimals (at least
    2 below 10), tiny values to 3 significant digits (the style of report tables).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if digits is None:
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if 0 < abs(value) < 0.01:
        return f"{value:.3g}"
    if abs(value) < 10 and digits < 3:
        return f"{value:,.{max(digits, 2)}f}"
    return f"{value:,.{digits}f}"
