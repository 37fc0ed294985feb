"""Validation with Polars: type every mapped column, collect rejected cells, check keys.

A rejected row is reported once per problem as ``{row, column, value, reason}``; ``row`` is the
spreadsheet row number, ``column`` the header as written in the file. Rows with any problem are
left out of the load; the file is refused whole when they exceed the ``max_bad_row_share`` setting.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from data import parse
from data.read import ROW

# Type of each canonical (or helper) column; anything not listed is text.
TYPES: dict[str, str] = {
    "line_no": "integer", "ordered_at": "datetime", "paid_at": "datetime", "cancelled_at": "datetime",
    "quantity": "number", "unit_price": "number", "line_total": "number", "paid_amount": "number",
    "discount": "number", "refund_amount": "number", "shipping": "number", "unit_cost": "number",
    "date": "date", "visitors": "integer", "sessions": "integer", "pageviews": "integer",
    "add_to_cart": "integer", "bounces": "integer", "bounce_rate": "number", "buyers": "integer",
    "snapshot_date": "date", "on_hand": "number", "on_order": "number",
    "lead_time_days": "integer", "moq": "integer", "pack_size": "integer",
    "responded_at": "datetime", "score": "integer",
    "assigned_at": "datetime", "converted": "bool", "revenue": "number", "pre_metric": "number",
    "users": "integer", "conversions": "integer", "revenue_sum": "number", "revenue_sum_sq": "number",
    "start_date": "date", "end_date": "date", "discount_pct": "number",
}
IDS = {"order_id", "customer_id", "sku", "user_id", "response_id"}
ERROR_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}


@dataclass
class Checked:
    """Typed canonical columns (plus ROW) and the problems found, one row per problem."""
    frame: pl.DataFrame
    errors: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ERROR_SCHEMA))
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)  # canonical -> header in the file

    def reject(self, bad: pl.Expr, column: str | None, reason: str, value: pl.Expr | None = None) -> None:
        """Record a problem for every row where ``bad`` holds (the row is then left out)."""
        hit = self.frame.filter(bad.fill_null(False))
        if hit.height == 0:
            return
        header = self.source.get(column, column) if column else ""
        shown = (value if value is not None else pl.col(column) if column else pl.lit(None)).cast(pl.String)
        self.errors = pl.concat([self.errors, hit.select(
            pl.col(ROW).cast(pl.Int64).alias("row"), pl.lit(header, pl.String).alias("column"),
            shown.alias("value"), pl.lit(reason).alias("reason"))])

    def skip(self, cond: pl.Expr, reason: str) -> None:
        """Leave out rows that are valid but not data for this table (e.g. not a sale), counted by reason."""
        n = self.frame.select(cond.fill_null(False).sum()).item()
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n
            self.frame = self.frame.filter(~cond.fill_null(False))

    def good(self) -> pl.DataFrame:
        """The rows with no recorded problem."""
        if self.errors.height == 0:
            return self.frame
        return self.frame.join(self.errors.select(pl.col("row").alias(ROW)).unique(), on=ROW, how="anti")



def coerce(raw: pl.DataFrame, mapping: dict[str, str], timezone: str) -> Checked:
    """Type the mapped columns of ``raw`` (mapping: canonical -> file header).

    Every column is typed in one parallel pass with the fast parsers; only columns with cells
    the fast pass could not read get the thorough pass. A cell with text that still gives no
    value is a rejected value.
    """
    kinds = {c: TYPES.get(c, "id" if c in IDS else "text") for c in mapping}
    comma = parse.decimal_comma([raw[h] for c, h in mapping.items() if kinds[c] in ("number", "integer")])
    formats = {c: parse.date_formats(raw[h]) for c, h in mapping.items() if kinds[c] in ("datetime", "date")}
    args = {c: dict(formats=formats.get(c, []), timezone=timezone) for c in mapping}
    work = raw.select(ROW, *[pl.col(h).alias(f"raw:{c}") for c, h in mapping.items()],
                      *[parse.fast(kinds[c], pl.col(h), **args[c]).alias(c) for c, h in mapping.items()])
    flags = work.select(parse.needs_thorough(kinds[c], pl.col(f"raw:{c}"), pl.col(c)).alias(c) for c in mapping)
    messy = [c for c in mapping if flags[c][0]]
    if messy:
        work = work.with_columns(
            pl.col(c).fill_null(parse.thorough(kinds[c], pl.col(f"raw:{c}"), comma, **args[c])).alias(c)
            if kinds[c] not in ("id", "text") else parse.thorough(kinds[c], pl.col(f"raw:{c}")).alias(c)
            for c in messy)
    checked = Checked(work, source=dict(mapping))
    for c in messy:
        if kinds[c] in ("id", "text"):
            continue
        r = pl.col(f"raw:{c}")
        checked.reject(r.is_not_null() & pl.col(c).is_null() & (r.str.strip_chars() != ""), c,
                       parse.REASONS[kinds[c]], value=r)
    checked.frame = checked.frame.drop([f"raw:{c}" for c in mapping])
    return checked


def duplicate_keys(checked: Checked, key: list[str]) -> None:
    """Reject every row whose key is repeated inside the file (the rows are named in the reason)."""
    dup = checked.frame.filter(pl.struct(key).is_duplicated())
    if dup.height == 0:
        return
    rows = dup.group_by(key).agg(pl.col(ROW).sort().alias("rows"))
    named = dup.join(rows, on=key, how="left", nulls_equal=True)
    reason = pl.lit("duplicate key (") + pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in key],
                                                       separator=", ") + pl.lit(") also on rows ") + \
        pl.col("rows").list.eval(pl.element().cast(pl.String)).list.join(", ")
    errors = named.select(pl.col(ROW).cast(pl.Int64).alias("row"), pl.lit(", ".join(key)).alias("column"),
                          pl.lit(None, pl.String).alias("value"), reason.alias("reason"))
    checked.errors = pl.concat([checked.errors, errors])
