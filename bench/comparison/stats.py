"""Medians and spreads of samples, and the ratios the report compares them by."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Median and spread of a sample."""

    median: float
    p25: float
    p75: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        """Stats of values (NaN-filled when empty)."""
        v = sorted(values)
        if not v:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, 0)
        if len(v) >= 4:
            q = statistics.quantiles(v, n=4, method="inclusive")
            p25, p75 = q[0], q[2]
        else:
            p25, p75 = v[0], v[-1]
        return cls(statistics.median(v), p25, p75, v[0], v[-1], len(v))

    def ms(self) -> str:
        """'123 (110–140)' in ms."""
        if self.n == 0:
            return "–"
        return f"{self.median:.0f} ({self.p25:.0f}–{self.p75:.0f})"


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is 0 or missing."""
    return a / b if b and b == b else float("nan")
