"""The UCI Online Retail exports (../shared/realdata, README there): real invoices, checked against an
independent DuckDB recomputation from the parquet files.

Rules under test (DESIGN §2, data/kinds.py docstring): `C` invoices are returns, stored as
``is_return`` lines with status ``refunded``, quantity 0 and ``refund_amount`` = returned value;
`A` invoices (bad-debt adjustments), fee/adjustment codes and other negative or zero-priced lines
(stock write-offs) are not sales; POST/DOT/C2 are shipping and D a discount; exact duplicate lines
count once. The two files overlap on 2010-12-01 → 2010-12-09 with the same invoices, so loading
both must count each of those orders once.
"""
from datetime import datetime

import duckdb
import pytest

from data import warehouse
from tests.ingest_helpers import connect, ingest, rows, value

I, II = "online_retail.parquet", "online_retail_ii_2009_2010.parquet"
OVERLAP = "ordered_at >= '2010-12-01' and ordered_at < '2010-12-10'"
FEES = ("BANK CHARGES", "AMAZONFEE", "CRUK", "B", "S", "ADJUST", "ADJUST2")  # not sales
SHIPPING, DISCOUNT = ("POST", "DOT", "C2"), ("D",)
COLUMNS = ["order_id", "line_no", "ordered_at", "customer_id", "channel", "status", "sku", "product_name",
           "quantity", "unit_price", "discount", "refund_amount", "shipping", "unit_cost", "currency", "is_return"]


def sql_list(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Reference:
    """The expected warehouse content, computed straight from the parquet files with DuckDB SQL."""

    def __init__(self, realdata):
        self.con = duckdb.connect()
        for view, path, inv, price, cust in [("src_i", realdata / I, "InvoiceNo", "UnitPrice", "CustomerID"),
                                             ("src_ii", realdata / II, "Invoice", "Price", '"Customer ID"')]:
            # Exact duplicate lines count once: distinct over every column of the file.
            self.con.execute(f"""create view {view} as select distinct
                {inv} as inv, StockCode as code, upper(StockCode) as sku, Description as descr, Quantity as q,
                InvoiceDate::timestamp as t, {price} as p, {cust} as cust, Country as country
                from read_parquet('{path}')""")
        not_goods = sql_list(FEES + SHIPPING + DISCOUNT)
        for view in ("src_i", "src_ii"):
            self.con.execute(f"""create view {view}_goods as select * from {view}
                where not starts_with(inv, 'C') and not starts_with(inv, 'A') and q > 0 and p > 0
                  and sku not in ({not_goods})""")
            self.con.execute(f"""create view {view}_returns as select * from {view}
                where starts_with(inv, 'C') and sku not in ({sql_list(FEES)})""")

    def per_invoice_goods(self, view: str, where: str = "true") -> dict:
        """invoice -> (goods lines, Σ quantity × price)."""
        return {inv: (n, amount) for inv, n, amount in self.con.execute(
            f"select inv, count(*), sum(q * p) from {view}_goods where {where} group by 1").fetchall()}

    def per_invoice_returns(self, view: str, where: str = "true") -> dict:
        """C invoice -> (lines, Σ |quantity| × price)."""
        return {inv: (n, amount) for inv, n, amount in self.con.execute(
            f"select inv, count(*), sum(abs(q) * p) from {view}_returns where {where} group by 1").fetchall()}

    def scalar(self, sql: str):
        return self.con.execute(sql).fetchall()[0][0]


def goods_in(con, where: str = "true") -> dict:
    return {o: (n, amount) for o, n, amount in rows(con, f"""
        select order_id, count(*), sum(quantity * unit_price) from order_lines
        where not is_return and quantity > 0 and {where} group by 1""")}


def returns_in(con, where: str = "true") -> dict:
    return {o: (n, amount) for o, n, amount in rows(con, f"""
        select order_id, count(*), sum(refund_amount) from order_lines where is_return and {where} group by 1""")}


def mismatches(expected: dict, got: dict) -> list:
    """Invoices whose line count differs or whose amount differs by half a cent or more (at most 10)."""
    bad = [(k, expected.get(k), got.get(k)) for k in expected.keys() | got.keys()
           if k not in expected or k not in got or expected[k][0] != got[k][0]
           or abs(expected[k][1] - got[k][1]) >= 0.005]
    return sorted(bad, key=repr)[:10]


def fingerprint(con) -> dict:
    """Per column of order_lines: non-null count and the sum of value hashes (order-independent)."""
    parts = ", ".join(f"count({c}), sum(hash({c}))" for c in COLUMNS)
    got = rows(con, f"select count(*), {parts} from order_lines")[0]
    return {"rows": got[0]} | {c: got[1 + 2 * i: 3 + 2 * i] for i, c in enumerate(COLUMNS)}


def accounted(r) -> bool:
    """Every line read is inserted, updated, rejected or skipped with a reason (rows in = rows out)."""
    return r.rows_read == r.inserted + r.updated + r.rejected + sum(r.skipped.values())


@pytest.fixture(scope="module")
def uci(realdata, tmp_path_factory):
    """Warehouses built once for the module (each load of ~0.5 M lines takes a few seconds)."""
    d = tmp_path_factory.mktemp("uci")
    copy = duckdb.connect()
    csv_i, csv_ii, csv_i_us = d / "Online Retail.csv", d / "online_retail_II.csv", d / "Online Retail (US dates).csv"
    copy.execute(f"copy (select * from read_parquet('{realdata / I}')) to '{csv_i}' (header)")
    copy.execute(f"copy (select * from read_parquet('{realdata / II}')) to '{csv_ii}' (header)")
    # The original UCI spreadsheet wrote InvoiceDate the US way: 12/1/2010 8:26.
    copy.execute(f"""copy (select * replace (strftime(InvoiceDate::timestamp, '%-m/%-d/%Y %-H:%M') as InvoiceDate)
                          from read_parquet('{realdata / I}')) to '{csv_i_us}' (header)""")
    copy.close()

    out = {"ref": Reference(realdata)}
    one = connect(d / "one.duckdb")                      # I alone, then II on top (reverse order)
    out["r_i"] = ingest(one, realdata / I)
    out["one_file_overlap"] = (goods_in(one, OVERLAP), returns_in(one, OVERLAP),
                               value(one, f"select count(*) from order_lines where {OVERLAP}"))
    out["one_file"] = fingerprint(one)
    out["one_file_invoices"] = (goods_in(one), returns_in(one))
    out["r_ii_after_i"] = ingest(one, realdata / II)
    out["reverse"] = one
    both = connect(d / "both.duckdb")                    # II then I, as time runs
    out["r_ii"] = ingest(both, realdata / II)
    out["r_both_i"] = ingest(both, realdata / I)
    out["both"] = both
    csv = connect(d / "csv.duckdb")
    out["r_csv_ii"] = ingest(csv, csv_ii)
    out["r_csv_i"] = ingest(csv, csv_i)
    out["csv"] = csv
    us = connect(d / "us.duckdb")
    out["r_us"] = ingest(us, csv_i_us)
    out["us"] = us
    yield out
    for con in (one, both, csv, us, out["ref"].con):
        con.close()


def test_every_load_succeeds_and_accounts_for_every_line(uci):
    n_i = 541909  # realdata/README.md: 541,909 and 525,461 invoice lines
    for key, n, kind_of in [("r_i", n_i, "parquet"), ("r_ii", 525461, "parquet"), ("r_both_i", n_i, "parquet"),
                            ("r_ii_after_i", 525461, "parquet"), ("r_csv_i", n_i, "csv"), ("r_csv_ii", 525461, "csv"),
                            ("r_us", n_i, "csv")]:
        r = uci[key]
        assert r.status == "loaded", (key, r.message)
        assert (r.kind, r.rows_read, r.rejected) == ("orders", n, 0), key
        assert accounted(r), (key, r.rows_read, r.inserted, r.updated, r.skipped)
        assert r.encoding == ("binary" if kind_of == "parquet" else "utf-8")


def test_exact_duplicate_lines_are_counted_once(uci, realdata):
    ref = uci["ref"]
    for key, path, repeats in [("r_i", I, 5268), ("r_ii", II, 6865)]:
        raw = ref.scalar(f"select count(*) from read_parquet('{realdata / path}')")
        distinct = ref.scalar(f"select count(*) from (select distinct * from read_parquet('{realdata / path}'))")
        assert raw - distinct == repeats, path
        dropped = {why: n for why, n in uci[key].skipped.items() if "duplicate" in why}
        assert list(dropped.values()) == [repeats], (key, uci[key].skipped)
    assert warehouse.audit_duplicate_keys(uci["both"], "order_lines") == []


def test_goods_lines_per_invoice_match_the_recomputation(uci):
    """File I alone: per invoice, goods line count and Σ quantity × price."""
    ref = uci["ref"]
    goods, returns = uci["one_file_invoices"]
    assert mismatches(ref.per_invoice_goods("src_i"), goods) == []
    assert mismatches(ref.per_invoice_returns("src_i"), returns) == []
    assert len(goods) > 18000 and len(returns) > 3000


def test_c_invoices_are_return_lines(uci):
    ref, con = uci["ref"], uci["both"]
    assert rows(con, """select count(*) from order_lines where starts_with(order_id, 'C')
                        and not (is_return and status = 'refunded' and quantity = 0 and refund_amount > 0)""") == [(0,)]
    assert value(con, "select count(*) from order_lines where is_return and not starts_with(order_id, 'C')") == 0
    expected = ref.per_invoice_returns("src_ii") | ref.per_invoice_returns("src_i", "t >= '2010-12-10'")
    assert mismatches(expected, returns_in(con)) == []
    # Written out by hand: C536383 returned one SET OF 3 COLOURED FLYING DUCKS (-1 × 4.65).
    assert rows(con, "select sku, quantity, refund_amount, status, is_return, ordered_at from order_lines "
                     "where order_id = 'C536383'") == [("35004C", 0, 4.65, "refunded", True,
                                                         datetime(2010, 12, 1, 9, 49))]


def test_write_offs_adjustments_and_fees_are_not_sales(uci):
    ref, con = uci["ref"], uci["both"]
    assert value(con, "select count(*) from order_lines where starts_with(order_id, 'A')") == 0
    assert value(con, f"select count(*) from order_lines where sku in ({sql_list(FEES)})") == 0
    assert value(con, "select count(*) from order_lines where quantity < 0 or unit_price < 0") == 0
    assert value(con, "select count(*) from order_lines where not is_return and quantity > 0 "
                      "and unit_price = 0") == 0
    # No line that carries nothing: zero-priced POST/DOT lines (e.g. invoice 540699: POST × 1000 at 0.00,
    # no customer) are write-offs of postage stock, not shipping charged.
    assert rows(con, """select order_id, sku from order_lines where quantity = 0 and unit_price = 0
                        and shipping = 0 and discount = 0 and refund_amount = 0 order by 1 limit 5""") == []
    # Invoices made only of write-offs (negative quantity or zero price, no return) leave no trace.
    write_off_only = {inv for (inv,) in ref.con.execute("""
        select inv from src_i where not starts_with(inv, 'C') and not starts_with(inv, 'A') group by 1
        having bool_and(q < 0 or p = 0)""").fetchall()}
    assert len(write_off_only) > 100
    stored = {o for (o,) in rows(con, "select distinct order_id from order_lines")}
    assert write_off_only & stored == set()


def test_shipping_lines_are_shipping_not_goods(uci):
    ref, con = uci["ref"], uci["both"]
    shipping = ref.scalar(f"""select sum(q * p) from (
        select * from src_ii union all select * from src_i where t >= '2010-12-10')
        where not starts_with(inv, 'C') and not starts_with(inv, 'A') and sku in ({sql_list(SHIPPING)})
          and q > 0 and p > 0""")
    assert value(con, "select sum(shipping) from order_lines") == pytest.approx(shipping, abs=0.01)
    assert value(con, f"select count(*) from order_lines where sku in ({sql_list(SHIPPING)}) "
                      "and (quantity <> 0 or unit_price <> 0)") == 0


def test_overlap_days_are_counted_once_whichever_file_comes_first(uci):
    """2010-12-01 → 2010-12-09 is in both files: loading both gives the numbers of one file alone."""
    ref = uci["ref"]
    goods_one, returns_one, lines_one = uci["one_file_overlap"]
    expected_goods = ref.per_invoice_goods("src_i", "t < '2010-12-10'")
    assert mismatches(expected_goods, ref.per_invoice_goods("src_ii", "t >= '2010-12-01'")) == []  # same in both
    for key in ("both", "reverse"):
        con = uci[key]
        assert mismatches(expected_goods, goods_in(con, OVERLAP)) == [], key
        assert mismatches(goods_one, goods_in(con, OVERLAP)) == [], key
        assert mismatches(returns_one, returns_in(con, OVERLAP)) == [], key
        assert value(con, f"select count(*) from order_lines where {OVERLAP}") == lines_one, key
    total_one = sum(a for _, a in goods_one.values())
    total_both = value(uci["both"], f"select sum(quantity * unit_price) from order_lines where {OVERLAP}")
    assert total_both == pytest.approx(total_one, abs=0.01)
    assert total_one == pytest.approx(sum(a for _, a in expected_goods.values()), abs=0.01)
    # The second file's overlap lines were updates, not new rows.
    assert uci["r_both_i"].updated == lines_one
    assert uci["r_ii_after_i"].updated == lines_one


def test_both_files_together_match_the_recomputation_over_their_union(uci):
    ref = uci["ref"]
    expected = ref.per_invoice_goods("src_ii") | ref.per_invoice_goods("src_i", "t >= '2010-12-10'")
    for key in ("both", "reverse"):
        got = goods_in(uci[key])
        assert mismatches(expected, got) == [], key
        assert len(got) == len(expected)
    assert fingerprint(uci["both"])["rows"] == fingerprint(uci["reverse"])["rows"]
    assert value(uci["both"], "select count(distinct order_id) from order_lines") == \
        value(uci["reverse"], "select count(distinct order_id) from order_lines")


def test_customer_ids_are_clean_text_and_missing_ones_null(uci):
    ref, con = uci["ref"], uci["both"]
    assert rows(con, "select distinct customer_id from order_lines where order_id = '536365'") == [("17850",)]
    assert value(con, "select count(*) from order_lines where customer_id like '%.%' or customer_id in "
                      "('', 'nan', 'NaN', 'None')") == 0
    missing = ref.scalar("select count(*) from src_i_goods where cust is null and t >= '2010-12-10'") + \
        ref.scalar("select count(*) from src_ii_goods where cust is null")
    assert value(con, "select count(*) from order_lines where customer_id is null and not is_return "
                      "and quantity > 0") == missing


def test_csv_written_by_duckdb_copy_loads_like_the_parquet(uci):
    assert fingerprint(uci["csv"]) == fingerprint(uci["both"])


def test_us_dates_in_the_csv_are_read_month_first(uci):
    """`12/1/2010 8:26` … `12/9/2011`: day-first would put sales on Saturdays, when the shop is closed."""
    con = uci["us"]
    assert rows(con, "select count(*) from order_lines where dayofweek(ordered_at) = 6") == [(0,)]
    assert rows(con, "select min(ordered_at), max(ordered_at) from order_lines") == \
        [(datetime(2010, 12, 1, 8, 26), datetime(2011, 12, 9, 12, 50))]
    assert fingerprint(con) == uci["one_file"]
