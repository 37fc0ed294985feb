"""File formats, number and date conventions (DESIGN §2 Read/Validate; data/parse.py and data/read.py).

Expected values are written out by hand (EXPECTED.md for the fixtures) or derived from the
canonical orders, which tests/ingest_helpers.CANONICAL_LINES spells out line by line.
"""
import copy
from datetime import date, datetime

import openpyxl
import polars as pl
import pytest

from data import warehouse
from tests.ingest_helpers import (CANONICAL_LINES, FIXTURES, canonical_orders, connect, csv_bytes, ingest,
                                  order_lines, rows, totals, value)

ORDER_HEADER = ["order_id", "ordered_at", "customer_id", "sku", "quantity", "unit_price", "shipping", "discount"]


def load(records, name="orders.csv", **csv_options):
    con = connect()
    r = ingest(con, csv_bytes(records, **csv_options), name=name)
    return con, r


def amounts(con):
    return rows(con, "select order_id, sku, quantity, unit_price, shipping, discount from order_lines "
                     "order by order_id, line_no")


def ordered_at(con):
    return dict(rows(con, "select order_id, min(ordered_at) from order_lines group by 1"))


# --- delimiters -------------------------------------------------------------------------------------

@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_every_delimiter_gives_the_canonical_rows(delimiter):
    con, r = load(canonical_orders(), delimiter=delimiter)
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (11, 11, 0)
    assert order_lines(con) == CANONICAL_LINES


def test_pipe_fixture_with_bom_crlf_and_excel_quotes():
    """EXPECTED.md §8: products_pipe.txt, `|`, UTF-8 BOM, CRLF; `18"" x 18""` and an unquoted comma."""
    con = connect()
    r = ingest(con, "products_pipe.txt")
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("products", 12, 12, 0)
    assert rows(con, "select name from products where sku = 'CUSHION-LIN-18'") == \
        [('Linen Cushion Cover 18" x 18" - Sand',)]
    assert rows(con, "select name from products where sku = 'GIFTBOX-L'") == [("Gift Box, Large",)]
    assert rows(con, "select unit_price, unit_cost, lead_time_days, moq, pack_size, supplier from products "
                     "where sku = 'TEAPOT-CAST-IRON'") == [(45.0, 19.0, 60, 20, 4, "Iwachu Trading Co.")]
    assert value(con, "select round(sum(unit_price), 2) from products") == 274.50
    assert value(con, "select min(lead_time_days) || '…' || max(lead_time_days) from products") == "7…60"


# --- numbers ----------------------------------------------------------------------------------------

def test_decimal_comma_with_dot_thousands_in_a_semicolon_file():
    con, r = load([ORDER_HEADER,
                   ["A1", "2024-03-04 10:00", "K1", "X", "1", "1.234,56", "4,90", "0"],
                   ["A2", "2024-03-05 10:00", "K2", "Y", "2", "3,5", "0", "0,50"]], delimiter=";")
    assert r.status == "loaded", r.message
    assert amounts(con) == [("A1", "X", 1, 1234.56, 4.90, 0), ("A2", "Y", 2, 3.5, 0, 0.5)]


def test_thousands_separators_in_a_comma_file():
    """"1,701" is one thousand seven hundred and one, not 1.701 (parse.py: a comma groups thousands
    unless the values prove a decimal comma)."""
    con, r = load([ORDER_HEADER,
                   ["A1", "2024-03-04 10:00", "K1", "X", "1", "1,701", "4.90", "0"],
                   ["A2", "2024-03-05 10:00", "K2", "Y", "1,200", "1,250.00", "0", "0.50"],
                   ["A3", "2024-03-06 10:00", "K3", "Z", "3", "€ 2,499.99", "0.00", "0"]])
    assert r.status == "loaded", r.message
    assert amounts(con) == [("A1", "X", 1, 1701, 4.9, 0), ("A2", "Y", 1200, 1250, 0, 0.5),
                            ("A3", "Z", 3, 2499.99, 0, 0)]


def test_sycm_thousands_separators_percent_strings_and_title_lines():
    """EXPECTED.md §4: 3 title lines, quoted "1,701", rates `62.15%`."""
    con = connect()
    r = ingest(con, "sycm_traffic_gbk.csv")
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (14, 14, 0)
    assert rows(con, "select min(date), max(date), sum(visitors), sum(pageviews), sum(buyers), sum(add_to_cart), "
                     "count(sessions) from traffic") == [(date(2024, 3, 1), date(2024, 3, 14), 22735, 71937, 721,
                                                          1686, 0)]
    # 跳失率 62.15% of 1701 visitors = 1057.2 bounces; Σ round(访客数 × 跳失率) = 14161.
    assert rows(con, "select visitors, pageviews, buyers, bounces from traffic where date = '2024-03-01'") == \
        [(1701, 5342, 55, 1057)]
    assert value(con, "select sum(bounces) from traffic") == 14161
    assert value(con, "select count(*) from traffic where visitors = 996") == 1  # 2024-03-13, no separator


def test_percent_strings_are_fractions():
    con, r = load([["name", "start_date", "end_date", "sku", "discount_pct"],
                   ["Tea Week", "2024-03-04", "2024-03-10", "TEA-1", "20%"],
                   ["Half Term", "2024-03-04", "2024-03-10", "", "12.5 %"],
                   ["Mug Monday", "2024-03-11", "2024-03-11", "MUG-1", "3.25%"]], name="promos.csv")
    assert r.status == "loaded", r.message
    got = dict(rows(con, "select name, discount_pct from promotions"))
    assert got == pytest.approx({"Tea Week": 0.20, "Half Term": 0.125, "Mug Monday": 0.0325})


def test_ua_semicolon_decimal_comma_percent_with_space_and_nbsp_thousands():
    """EXPECTED.md §6: `;`, `1 980` (U+00A0), `48,39 %`, dd/mm/yyyy."""
    con = connect()
    r = ingest(con, "ua_traffic_semicolon_decimal_comma.csv")
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("traffic", 30, 30, 0)
    assert rows(con, "select count(distinct date), min(date), max(date), sum(visitors), sum(sessions), "
                     "sum(pageviews), sum(bounces) from traffic") == \
        [(10, date(2024, 3, 5), date(2024, 3, 14), 11380, 13302, 41895, 6065)]
    assert rows(con, "select visitors, sessions, pageviews, bounces from traffic "
                     "where date = '2024-03-05' and channel like 'Recherche%'") == [(540, 620, 1980, 300)]


def test_spreadsheet_safe_ids_keep_text_and_leading_zeros():
    con, r = load([ORDER_HEADER,
                   ['="00123"', "2024-03-04 10:00", '="0042"', '="000777"', "1", "10", "0", "0"],
                   ['="3100123456789012345"', "2024-03-05 10:00", "K2", "Y", "2", "12", "0", "0"]])
    assert r.status == "loaded", r.message
    assert rows(con, "select order_id, customer_id, sku from order_lines order by order_id") == \
        [("00123", "0042", "000777"), ("3100123456789012345", "K2", "Y")]


def test_taobao_ids_written_unquoted_as_formula_are_18_digit_text():
    """EXPECTED.md §3: 订单编号 is `="3100…"` without CSV quoting; it does not fit a float."""
    con = connect()
    r = ingest(con, "taobao_orders_gbk.csv")
    assert r.status == "loaded", r.message
    ids = [o for (o,) in rows(con, "select order_id from order_lines order by 1")]
    assert ids == [f"3100123456789012{n}" for n in range(41, 49)]
    assert value(con, "select typeof(order_id) from order_lines limit 1") == "VARCHAR"


# --- the header row is found ------------------------------------------------------------------------

def test_title_and_note_lines_above_the_header_are_skipped_and_rows_keep_spreadsheet_numbers():
    records = [ORDER_HEADER, ["A1", "2024-03-04 10:00", "K1", "X", "1", "10", "0", "0"],
               ["A2", "2024-03-05 10:00", "K2", "Y", "2", "abc", "0", "0"]]
    records += [[f"B{i}", "2024-03-06 10:00", "K3", "Z", "1", "12", "0", "0"] for i in range(8)]
    con, r = load(records, preamble=["Orders report", "Shop: Hearth & Leaf,,", ""])
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (10, 9, 1)
    # Lines 1–3 are the preamble, line 4 the header, A1 line 5, A2 line 6.
    assert r.errors == [{"row": 6, "column": "unit_price", "value": "abc", "reason": "not a number"}]
    assert value(con, "select count(*) from order_lines where order_id like 'Orders%' or order_id like 'Shop%'") == 0


@pytest.mark.parametrize("where", ["first data row", "header (Excel wrapped text)"])
def test_quoted_line_breaks_do_not_move_the_header_row(where):
    """A cell with a line break (Shopify notes, Alt+Enter in Excel) is one CSV field, not two lines."""
    records = canonical_orders()
    if where == "first data row":
        records[1][6] = "Ceramic Mug\n350ml - White"
    else:
        records[0][1] = "ordered\nat"
    con, r = load(records)
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted) == (11, 11)
    expected = [line[:7] + ("Ceramic Mug\n350ml - White",) + line[8:] if i == 0 and where == "first data row"
                else line for i, line in enumerate(CANONICAL_LINES)]
    assert order_lines(con) == expected


def test_ga4_comment_preamble_is_skipped():
    """EXPECTED.md §5: 9 `#` lines, header on line 10, Date as YYYYMMDD, bounce rate a fraction."""
    con = connect()
    r = ingest(con, "ga4_traffic.csv")
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (22, 22, 0)
    assert rows(con, "select min(date), max(date), count(distinct channel), sum(sessions), sum(visitors), "
                     "sum(pageviews), sum(add_to_cart), sum(bounces) from traffic") == \
        [(date(2024, 3, 1), date(2024, 3, 7), 4, 6278, 5518, 18020, 526, 2630)]
    assert rows(con, "select sessions, visitors, pageviews, add_to_cart, bounces from traffic "
                     "where date = '2024-03-01' and channel = 'Organic Search'") == [(412, 365, 1311, 38, 161)]


# --- dates ------------------------------------------------------------------------------------------

def redated(fmt: str) -> list[list[str]]:
    """The canonical orders with ordered_at rewritten in ``fmt``."""
    records = copy.deepcopy(canonical_orders())
    for rec in records[1:]:
        rec[1] = datetime.fromisoformat(rec[1]).strftime(fmt)
    return records


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M",
                                 "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                                 "%Y年%m月%d日 %H:%M:%S"])
def test_date_formats_read_to_the_same_timestamps(fmt):
    """Days 13, 15, 18, 21, 25 occur, so the order of day and month is inferable from the data."""
    con, r = load(redated(fmt))
    assert r.status == "loaded", r.message
    assert order_lines(con) == CANONICAL_LINES


def test_date_only_formats():
    con, r = load(redated("%Y%m%d"))
    assert r.status == "loaded", r.message
    assert ordered_at(con)["SB-2004"] == datetime(2024, 3, 13)


@pytest.mark.parametrize("fixture", ["orders_dayfirst_dots.csv", "orders_us_dates.csv"])
def test_day_first_and_us_fixtures_equal_the_canonical_file(fixture):
    """EXPECTED.md §14: `04.03.2024 09:12` and `3/4/2024 9:12` (no leading zeros)."""
    con = connect()
    r = ingest(con, fixture)
    assert r.status == "loaded", r.message
    assert order_lines(con) == CANONICAL_LINES


def test_day_first_is_inferred_even_when_only_one_late_row_proves_it():
    """The first 30 dates are all ambiguous (day ≤ 12); one row near the end has day 28."""
    records = [ORDER_HEADER] + [[f"A{i:02d}", f"{1 + i % 12:02d}/{1 + i % 11:02d}/2024", "K", "X", "1", "10", "0", "0"]
                                for i in range(30)]
    records.append(["Z99", "28/02/2024", "K", "X", "1", "10", "0", "0"])
    con, r = load(records)
    assert r.status == "loaded", r.message
    got = ordered_at(con)
    assert got["Z99"] == datetime(2024, 2, 28)
    assert got["A05"] == datetime(2024, 6, 6) and got["A13"] == datetime(2024, 3, 2)  # 02/03 = 2 March


@pytest.mark.parametrize("sep, expected", [(".", datetime(2024, 4, 3, 10)), ("/", datetime(2024, 3, 4, 10))],
                         ids=["dots-day-first", "slashes-month-first"])
def test_all_ambiguous_dates_follow_the_documented_convention(sep, expected):
    """parse.py: when every date is ambiguous, dots mean day-first and slashes month-first."""
    con, r = load([ORDER_HEADER, ["A1", f"03{sep}04{sep}2024 10:00", "K1", "X", "1", "10", "0", "0"],
                   ["A2", f"05{sep}06{sep}2024 10:00", "K2", "Y", "2", "12", "0", "0"]])
    assert r.status == "loaded", r.message
    assert ordered_at(con)["A1"] == expected


# --- time zones -------------------------------------------------------------------------------------

TZ_AS_UTC = {  # EXPECTED.md §14, hand-converted
    "SB-2001": datetime(2024, 3, 4, 1, 12), "SB-2002": datetime(2024, 3, 6, 18, 40),
    "SB-2003": datetime(2024, 3, 9, 16, 5), "SB-2004": datetime(2024, 3, 13, 19, 15),
    "SB-2005": datetime(2024, 3, 15, 6, 30), "SB-2006": datetime(2024, 3, 18, 0, 30),
    "SB-2007": datetime(2024, 3, 21, 16, 45), "SB-2008": datetime(2024, 3, 26, 3, 10),
}


def test_offsets_are_converted_to_utc_by_default_and_stored_naive():
    con = connect()
    r = ingest(con, "orders_tz_offsets.csv")
    assert r.status == "loaded", r.message
    assert ordered_at(con) == TZ_AS_UTC
    assert value(con, "select data_type from information_schema.columns "
                      "where table_name = 'order_lines' and column_name = 'ordered_at'") == "TIMESTAMP"
    assert all(t.tzinfo is None for t in ordered_at(con).values())
    # Everything but the time is the canonical file.
    strip = [line[:2] + line[3:] for line in order_lines(con)]
    assert strip == [line[:2] + line[3:] for line in CANONICAL_LINES]


def test_timezone_setting_converts_offsets_to_store_local_time():
    """Europe/Berlin is UTC+1 until DST starts on 2024-03-31, UTC+2 after."""
    con = connect()
    warehouse.set_setting(con, "timezone", "Europe/Berlin")
    r = ingest(con, "orders_tz_offsets.csv")
    assert r.status == "loaded", r.message
    got = ordered_at(con)
    assert got["SB-2001"] == datetime(2024, 3, 4, 2, 12)    # 09:12 +08:00
    assert got["SB-2004"] == datetime(2024, 3, 13, 20, 15)  # 20:15 +01:00 is already Berlin time
    assert got["SB-2008"] == datetime(2024, 3, 26, 4, 10)   # 22:10 -05:00 on the 25th
    r = ingest(con, "shopify_orders.csv")
    assert r.status == "loaded", r.message
    shopify = ordered_at(con)
    assert shopify["#1001"] == datetime(2024, 3, 5, 14, 22, 10)  # written +0100, Berlin winter time
    assert shopify["#1007"] == datetime(2024, 3, 31, 10, 5, 44)  # written +0200, after the DST switch


def test_times_without_offset_are_kept_as_store_local_whatever_the_timezone_setting():
    con = connect()
    warehouse.set_setting(con, "timezone", "Asia/Shanghai")
    r = ingest(con, "orders_canonical.csv")
    assert r.status == "loaded", r.message
    assert order_lines(con) == CANONICAL_LINES


# --- Excel and Parquet ------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["orders.xlsx", "orders.parquet"])
def test_xlsx_and_parquet_give_the_rows_of_the_csv(fixture):
    """EXPECTED.md §15: the same 11 lines in three formats give identical warehouse rows."""
    con = connect()
    r = ingest(con, fixture)
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("orders", 11, 11, 0)
    assert order_lines(con) == CANONICAL_LINES
    from_bytes = connect()
    assert ingest(from_bytes, (FIXTURES / fixture).read_bytes(), name=fixture).status == "loaded"
    assert order_lines(from_bytes) == CANONICAL_LINES


def test_xlsx_written_by_polars_with_a_title_row(tmp_path):
    """An analyst's workbook: a title in A1, a blank row, then the table."""
    records = canonical_orders()
    frame = pl.DataFrame(records[1:], schema=records[0], orient="row")
    path = tmp_path / "orders.xlsx"
    frame.write_excel(path, position="A3", autofit=False)
    wb = openpyxl.load_workbook(path)
    wb.active["A1"] = "Orders March 2024 (export)"
    wb.save(path)
    con = connect()
    r = ingest(con, path)
    assert r.status == "loaded", r.message
    assert order_lines(con) == CANONICAL_LINES


def test_parquet_with_typed_columns_written_by_polars(tmp_path):
    records = canonical_orders()
    frame = pl.DataFrame(records[1:], schema=records[0], orient="row").with_columns(
        pl.col("ordered_at").str.to_datetime(), pl.col("quantity").cast(pl.Int32),
        pl.col("unit_price", "discount", "refund_amount", "shipping", "unit_cost").cast(pl.Float64),
        pl.col("customer_id").replace("", None))
    path = tmp_path / "orders.parquet"
    frame.write_parquet(path)
    con = connect()
    r = ingest(con, path)
    assert r.status == "loaded", r.message
    assert order_lines(con) == CANONICAL_LINES


# --- inventory: UTF-16, tab, day-first dots, decimal comma, `not stocked` ---------------------------

def test_inventory_unicode_text_fixture():
    """EXPECTED.md §7: 20 rows, the `not stocked` row is not loaded and not a bad row."""
    con = connect()
    r = ingest(con, "inventory_tab.tsv")
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("inventory", 20, 19, 0)
    assert rows(con, "select snapshot_date, sum(on_hand), sum(on_order) from inventory group by 1 order by 1") == \
        [(date(2024, 2, 29), 325, 136), (date(2024, 3, 14), 362, 84)]
    assert rows(con, "select on_hand, on_order, unit_cost from inventory where snapshot_date = '2024-03-14' "
                     "and sku = 'MUG-CER-350-WHT' and location = 'Lager München'") == [(31, 48, 5.20)]
    assert value(con, "select count(*) from inventory where snapshot_date = '2024-02-29' "
                      "and sku = 'TEAPOT-CAST-IRON' and location = 'Lager München'") == 0


def test_totals_of_the_canonical_file():
    """EXPECTED.md §15 key numbers, the reference the other format tests compare against."""
    con = connect()
    ingest(con, "orders_canonical.csv")
    assert totals(con) == {"gmv": 321.00, "discounts": 5.40, "refunds": 98.50, "net": 217.10, "shipping": 18.60,
                           "quantity": 23, "quantity_sales": 21, "orders": 8, "lines": 11}
