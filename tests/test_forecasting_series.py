"""Demand series: sales-order units, zero-filled from the first sale, censored stock-out days,
promotions (SKU and store-wide)."""
from datetime import date

import polars as pl
import pytest

from data import warehouse
from forecasting.series import demand


@pytest.fixture
def con():
    c = warehouse.connect(":memory:")
    lines = [  # order_id, line_no, day, status, sku, quantity, is_return
        ("o1", 1, "2026-03-01 10:00", "paid", "A", 2, False),
        ("o2", 1, "2026-03-01 18:00", "refunded", "A", 1, False),
        ("o3", 1, "2026-03-03 09:00", "cancelled", "A", 5, False),
        ("o4", 1, "2026-03-03 09:30", "pending", "A", 7, False),
        ("o5", 1, "2026-03-04 12:00", "partially_refunded", "A", 4, False),
        ("r1", 1, "2026-03-04 13:00", "refunded", "A", 0, True),
        ("o6", 1, "2026-03-03 08:00", "paid", "B", 1, False),     # a single sale
        ("r2", 1, "2026-03-02 08:00", "refunded", "R", 3, True),  # only a return: no series
        ("o7", 1, "2026-03-05 08:00", "cancelled", "N", 3, False),  # only cancelled: no series
        ("o8", 1, "2026-03-05 23:00", "paid", None, 3, False),
    ]
    for oid, no, at, status, sku, q, ret in lines:
        c.execute("insert into order_lines (order_id, line_no, ordered_at, status, sku, quantity, unit_price, "
                  "is_return) values (?, ?, ?, ?, ?, ?, 10, ?)", [oid, no, at, status, sku, q, ret])
    c.execute("insert into inventory (snapshot_date, sku, location, on_hand) values "
              "('2026-03-02', 'A', 'x', 0), ('2026-03-02', 'A', 'y', 0), "
              "('2026-03-03', 'A', 'x', 0), ('2026-03-03', 'A', 'y', 2), ('2026-03-05', 'B', '', -1)")
    c.execute("insert into promotions (name, start_date, end_date, sku) values "
              "('deal', '2026-03-02', '2026-03-02', 'A'), ('sale', '2026-03-05', '2026-03-06', null)")
    return c


def test_demand_by_hand(con):
    d = demand(con)
    assert d.schema == pl.Schema({"sku": pl.String, "date": pl.Date, "units": pl.Float64,
                                  "in_stock": pl.Boolean, "promo": pl.Boolean})
    rows = [tuple(r) for r in d.iter_rows()]
    D = lambda n: date(2026, 3, n)  # noqa: E731
    assert rows == [
        ("A", D(1), 3.0, True, False),   # paid 2 + refunded 1 (refunds stay demand)
        ("A", D(2), 0.0, False, True),   # both locations at 0: censored; the SKU's own deal
        ("A", D(3), 0.0, True, False),   # cancelled and pending are not demand; 2 on hand
        ("A", D(4), 4.0, True, False),   # the return document is not demand
        ("A", D(5), 0.0, True, True),    # store-wide sale; zero-filled to the last day
        ("B", D(3), 1.0, True, False),
        ("B", D(4), 0.0, True, False),
        ("B", D(5), 0.0, False, True),   # negative on hand = out of stock
    ]


def test_as_of_cuts_the_series(con):
    d = demand(con, as_of=date(2026, 3, 3))
    assert d["date"].max() == date(2026, 3, 3) and sorted(set(d["sku"])) == ["A", "B"]
    assert d.filter(pl.col("sku") == "A")["units"].to_list() == [3.0, 0.0, 0.0]


def test_empty_warehouse():
    assert demand(warehouse.connect(":memory:")).height == 0


def test_demand_of_some_skus_is_their_rows_of_the_whole(con):
    whole = demand(con)
    for sku in whole["sku"].unique().to_list():
        assert demand(con, skus=(sku,)).equals(whole.filter(pl.col("sku") == sku))
    assert demand(con, skus=("NO-SUCH-SKU",)).height == 0
