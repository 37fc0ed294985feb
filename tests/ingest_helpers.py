"""Small helpers shared by the ingestion tests (tests/test_ingest_*.py).

Expected numbers live in the tests themselves; these helpers only load files, read the warehouse
back and write CSV bytes the way other programs do.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import duckdb

from data import warehouse
from data.ingest import Result, ingest_file

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "exports"
ORDER_COLUMNS = ("order_id, line_no, ordered_at, customer_id, channel, status, sku, product_name, quantity, "
                 "unit_price, discount, refund_amount, shipping, unit_cost, currency, is_return")


def connect(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A migrated warehouse (a file path, or in memory)."""
    return warehouse.connect(path)


def ingest(con: duckdb.DuckDBPyConnection, source: bytes | Path | str, name: str | None = None, **kw) -> Result:
    """ingest_file on a fixture name, a path or bytes (bytes need ``name``)."""
    if isinstance(source, str):
        source = FIXTURES / source
    return ingest_file(con, source, name=name, **kw)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def value(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    out = rows(con, sql, params)
    return out[0][0] if out else None


def dump(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every base table of the warehouse (ingest_log, settings and mappings included), rows sorted."""
    tables = [t for (t,) in rows(con, "select table_name from information_schema.tables "
                                      "where table_schema = 'main' and table_type = 'BASE TABLE' order by 1")]
    out = {t: sorted(rows(con, f'select * from "{t}"'), key=repr) for t in tables}
    out["(views)"] = sorted(rows(con, "select view_name, sql from duckdb_views() where not internal"))
    return out


def order_lines(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """order_lines without the ingest id, in key order."""
    return rows(con, f"select {ORDER_COLUMNS} from order_lines order by order_id, line_no")


def totals(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """The EXPECTED.md figures: GMV and friends over the lines of orders in a sales status
    (DESIGN §2: pending and cancelled orders are not sales)."""
    sale = "status in ('paid', 'partially_refunded', 'refunded')"
    r = rows(con, f"""
        select coalesce(sum(quantity * unit_price) filter (where {sale}), 0),
               coalesce(sum(discount) filter (where {sale}), 0),
               coalesce(sum(refund_amount) filter (where {sale}), 0),
               coalesce(sum(shipping) filter (where {sale}), 0),
               coalesce(sum(quantity), 0), coalesce(sum(quantity) filter (where {sale}), 0),
               count(distinct order_id), count(*)
        from order_lines""")[0]
    gmv, disc, refunds, ship, qty, qty_sales, orders, lines = r
    return {"gmv": round(gmv, 2), "discounts": round(disc, 2), "refunds": round(refunds, 2),
            "net": round(gmv - disc - refunds, 2), "shipping": round(ship, 2), "quantity": qty,
            "quantity_sales": qty_sales, "orders": orders, "lines": lines}


def statuses(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """order_id -> status (every line of an order must agree)."""
    out = rows(con, "select order_id, list(distinct status) from order_lines group by 1")
    assert all(len(s) == 1 for _, s in out), f"lines of one order disagree on status: {out}"
    return {o: s[0] for o, s in out}


def csv_bytes(records: list[list[str]], delimiter: str = ",", encoding: str = "utf-8",
              quoting: int = csv.QUOTE_MINIMAL, newline: str = "\n", preamble: list[str] = ()) -> bytes:
    """Records (header first) as the bytes of a CSV file; ``preamble`` lines go above the header."""
    buf = io.StringIO()
    for line in preamble:
        buf.write(line + newline)
    csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=newline).writerows(records)
    return buf.getvalue().encode(encoding)


def read_records(name: str, encoding: str = "utf-8") -> list[list[str]]:
    """A fixture CSV as records (header first)."""
    return list(csv.reader(io.StringIO((FIXTURES / name).read_text(encoding=encoding))))


def canonical_orders() -> list[list[str]]:
    """orders_canonical.csv (11 lines, 8 orders, see EXPECTED.md §15) as records."""
    return read_records("orders_canonical.csv")


def nps_date() -> date:
    return date(2024, 3, 1)


def _line(order_id, line_no, at, customer, channel, status, sku, name, qty, price, disc, refund, ship, cost):
    return (order_id, line_no, datetime.fromisoformat(at), customer, channel, status, sku, name, qty, price,
            disc, refund, ship, cost, "EUR", False)


# orders_canonical.csv loaded (EXPECTED.md §15), in ORDER_COLUMNS order; written out by hand.
CANONICAL_LINES = [
    _line("SB-2001", 1, "2024-03-04 09:12", "C-101", "web", "paid", "MUG-CER-350-WHT", "Ceramic Mug 350ml - White",
          2, 14.00, 0, 0, 4.90, 5.20),
    _line("SB-2001", 2, "2024-03-04 09:12", "C-101", "web", "paid", "TEA-EARLGREY-100",
          "Earl Grey Loose Leaf Tea 100g", 1, 8.50, 0, 0, 0, 3.10),
    _line("SB-2002", 1, "2024-03-06 18:40", "C-102", "marketplace", "paid", "CANDLE-SOY-LAV", "Soy Candle - Lavender",
          3, 18.00, 5.40, 0, 0, 6.50),
    _line("SB-2003", 1, "2024-03-09 11:05", "C-101", "web", "refunded", "BLANKET-WOOL-GRY",
          "Merino Throw Blanket - Grey", 1, 89.00, 0, 89.00, 4.90, 38.00),
    _line("SB-2004", 1, "2024-03-13 20:15", "C-103", "web", "partially_refunded", "TEA-SENCHA-100",
          "Sencha Green Tea 100g", 2, 9.50, 0, 9.50, 4.90, 3.40),
    _line("SB-2004", 2, "2024-03-13 20:15", "C-103", "web", "partially_refunded", "TEAPOT-CAST-IRON",
          "Cast Iron Teapot 0.8L", 1, 45.00, 0, 0, 0, 19.00),
    _line("SB-2005", 1, "2024-03-15 12:00", None, "retail", "paid", "INFUSER-STEEL", "Stainless Tea Infuser",
          4, 6.00, 0, 0, 0, 1.80),
    _line("SB-2006", 1, "2024-03-18 08:30", "C-104", "web", "cancelled", "MUG-CER-350-BLK", "Ceramic Mug 350ml - Black",
          1, 14.00, 0, 0, 4.90, 5.20),
    _line("SB-2007", 1, "2024-03-21 16:45", "C-105", "web", "pending", "GIFTBOX-L", "Gift Box, Large",
          1, 25.00, 0, 0, 0, 7.50),
    _line("SB-2008", 1, "2024-03-25 22:10", "C-102", "marketplace", "paid", "CANDLE-SOY-CED", "Soy Candle - Cedarwood",
          2, 18.00, 0, 0, 3.90, 6.50),
    _line("SB-2008", 2, "2024-03-25 22:10", "C-102", "marketplace", "paid", "MATCH-BOX-LONG", "Long Safety Matches",
          5, 3.50, 0, 0, 0, 1.00),
]
