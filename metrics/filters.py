"""What a metric is computed over: an inclusive range of calendar days and optional slices.

Days are calendar days in the store's time zone (timestamps are stored in it, see data/).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta


@dataclass(frozen=True)
class Filters:
    """Inclusive day range [start, end]; empty tuples mean "all"."""
    start: date
    end: date
    channels: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"the range ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def by_product(self) -> bool:
        """True when the slice needs order lines (a SKU or category filter)."""
        return bool(self.skus or self.categories)

    def previous(self) -> Filters:
        """The equal-length period just before."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def year_ago(self) -> Filters:
        """The same calendar days one year earlier (29 February becomes 28 February)."""
        return replace(self, start=_year_back(self.start), end=_year_back(self.end))


def _year_back(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:
        return d.replace(year=d.year - 1, day=28)
