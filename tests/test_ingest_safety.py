"""Loading is safe: one transaction per file, upserts instead of duplicates, duplicate files are no-ops,
bad files change nothing, bad rows are reported, SQL-looking text is only text (DESIGN §2 Load).

"Nothing changed" is always proven with a full dump of every table, ingest_log included.
"""
import json

import pytest

from data import ingest as ingest_module, warehouse
from tests.ingest_helpers import (CANONICAL_LINES, FIXTURES, canonical_orders, connect, csv_bytes, dump, ingest,
                                  nps_date, order_lines, rows, totals, value)


@pytest.fixture
def loaded(tmp_db):
    """A warehouse file holding the canonical orders and the experiment file."""
    con = connect(tmp_db)
    assert ingest(con, "orders_canonical.csv").status == "loaded"
    assert ingest(con, "experiment_wide.csv").status == "loaded"
    yield con
    con.close()


# --- one transaction per file -----------------------------------------------------------------------

def test_a_failure_while_loading_the_second_table_leaves_the_warehouse_as_it_was(loaded, monkeypatch):
    """An experiment file writes experiment_users, then experiment_metrics: fail on the second."""
    real = ingest_module.upsert
    calls = []

    def failing(con, table, frame, ingest_id):
        calls.append(table)
        if len(calls) == 2:
            raise RuntimeError("disk full (simulated)")
        return real(con, table, frame, ingest_id)

    monkeypatch.setattr(ingest_module, "upsert", failing)
    before = dump(loaded)
    source = (FIXTURES / "experiment_wide.csv").read_bytes().replace(b"u10", b"x10")
    try:
        r = ingest(loaded, source, name="experiment_b.csv")
    except RuntimeError:
        pass
    else:
        assert r.status == "refused"
    assert calls == ["experiment_users", "experiment_metrics"]
    assert dump(loaded) == before
    # The connection is usable afterwards, and the same file then loads in full.
    monkeypatch.setattr(ingest_module, "upsert", real)
    r = ingest(loaded, source, name="experiment_b.csv")
    assert (r.status, r.inserted) == ("loaded", 30)
    assert value(loaded, "select count(*) from experiment_metrics where experiment = 'experiment_b'") == 60


def test_a_failure_after_the_rows_are_written_rolls_back_rows_log_and_mapping(loaded, monkeypatch):
    def failing_remember(*args, **kwargs):
        raise RuntimeError("crash after the upsert (simulated)")

    monkeypatch.setattr(ingest_module.maps, "remember", failing_remember)
    mapping = json.loads((FIXTURES / "orders_unknown_headers.mapping.json").read_text())
    before = dump(loaded)
    try:
        r = ingest(loaded, "orders_unknown_headers.csv", user_mapping=mapping)
    except RuntimeError:
        pass
    else:
        assert r.status == "refused"
    assert dump(loaded) == before


# --- upsert and duplicate files ---------------------------------------------------------------------

def test_the_same_rows_in_another_file_update_instead_of_duplicating(loaded):
    before_log = value(loaded, "select count(*) from ingest_log")
    r = ingest(loaded, "orders.xlsx")  # same 11 lines, other bytes
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.updated, r.rejected) == (11, 0, 11, 0)
    assert order_lines(loaded) == CANONICAL_LINES
    assert value(loaded, "select count(*) from ingest_log") == before_log + 1
    assert rows(loaded, "select inserted, updated from ingest_log where file_name = 'orders.xlsx'") == [(0, 11)]
    assert warehouse.audit_duplicate_keys(loaded, "order_lines") == []


def test_changed_rows_replace_the_old_values_and_new_keys_are_inserted(loaded):
    records = canonical_orders()
    records[1][7] = "3"                       # SB-2001 line 1: 2 → 3 mugs
    records.append(["SB-2009", "2024-03-28 10:00:00", "C-106", "web", "paid", "MUG-CER-350-WHT",
                    "Ceramic Mug 350ml - White", "1", "14.00", "0", "0", "4.90", "5.20", "EUR"])
    r = ingest(loaded, csv_bytes(records), name="orders_corrected.csv")
    assert r.status == "loaded", r.message
    assert (r.inserted, r.updated) == (1, 11)
    assert rows(loaded, "select quantity from order_lines where order_id = 'SB-2001' and line_no = 1") == [(3,)]
    assert value(loaded, "select count(*) from order_lines") == 12
    assert totals(loaded)["gmv"] == 321.00 + 14.00 + 14.00


def test_the_same_file_again_is_a_no_op_reported_as_duplicate_file(loaded):
    before = dump(loaded)
    for source, name in [(FIXTURES / "orders_canonical.csv", None),
                         ((FIXTURES / "orders_canonical.csv").read_bytes(), "renamed copy.csv")]:
        r = ingest(loaded, source, name=name)
        assert r.status == "duplicate_file"
        assert (r.inserted, r.updated, r.rejected) == (0, 0, 0)
        assert r.message
    assert dump(loaded) == before


# --- bad rows ---------------------------------------------------------------------------------------

def test_too_many_bad_rows_refuse_the_whole_file_and_list_the_reasons(loaded):
    """EXPECTED.md §13: 4 of 10 rows bad (file lines 3, 5, 7, 10) > 20%."""
    before = dump(loaded)
    r = ingest(loaded, "orders_many_bad_rows.csv")
    assert r.status == "refused"
    assert (r.rows_read, r.inserted, r.updated, r.rejected) == (10, 0, 0, 4)
    assert "\n" not in r.message and "4 of 10" in r.message
    assert [(e["row"], e["column"], e["value"]) for e in r.errors] == [
        (3, "quantity", "two"), (5, "unit_price", "12,5O"), (7, "ordered_at", "2024-02-30 10:00:00"),
        (10, "ordered_at", "yesterday")]
    assert all(e["reason"] for e in r.errors)
    assert dump(loaded) == before


def test_fewer_bad_rows_load_the_rest_and_report_each_bad_cell(loaded):
    """EXPECTED.md §13: 3 of 20 bad (15%): rows 6, 12, 18 as a spreadsheet numbers them."""
    r = ingest(loaded, "orders_few_bad_rows.csv")
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (20, 17, 3)
    assert [(e["row"], e["column"], e["value"]) for e in r.errors] == [
        (6, "quantity", "1000000000"), (12, "ordered_at", "32/13/2024"), (18, "unit_price", "abc")]
    assert "absurd" in r.errors[0]["reason"]
    assert r.errors[1]["reason"] == "not a date in the file's date format"
    assert r.errors[2]["reason"] == "not a number"
    assert r.rejected_rows.height == 3
    got = rows(loaded, """select round(sum(quantity * unit_price), 2), sum(quantity), round(sum(shipping), 2),
                                 count(*) from order_lines where order_id like 'SB-30%'""")
    assert got == [(361.50, 33, 83.30, 17)]
    assert value(loaded, "select count(*) from order_lines where order_id in ('SB-3005', 'SB-3011', 'SB-3017')") == 0
    assert rows(loaded, "select rejected from ingest_log where file_name = 'orders_few_bad_rows.csv'") == [(3,)]


def _orders_with_bad(n_rows: int, n_bad: int) -> bytes:
    records = [["order_id", "ordered_at", "sku", "quantity", "unit_price"]]
    for i in range(n_rows):
        records.append([f"T-{i:03d}", "2024-03-01 10:00", "X", "lots" if i < n_bad else "1", "9.99"])
    return csv_bytes(records)


@pytest.mark.parametrize("n_bad, share, status", [(2, 0.20, "loaded"), (3, 0.20, "refused"),
                                                  (4, 0.50, "loaded"), (2, 0.10, "refused")])
def test_max_bad_row_share_setting_is_the_refusal_threshold(n_bad, share, status):
    """Refused when bad rows *exceed* the share: 2 of 10 is exactly 20% and loads."""
    con = connect()
    warehouse.set_setting(con, "max_bad_row_share", share)
    r = ingest(con, _orders_with_bad(10, n_bad), name="t.csv")
    assert (r.status, r.rejected) == (status, n_bad)
    assert value(con, "select count(*) from order_lines") == (10 - n_bad if status == "loaded" else 0)


# --- bad files --------------------------------------------------------------------------------------

BAD_FILES = {
    "bad_binary.bin": ("binary",),
    "bad_empty.csv": ("empty",),
    "bad_header_only.csv": ("no data rows",),
    "bad_unterminated_quote.csv": ("quote", "3"),
}
JUNK = {
    "png.csv": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "truncated.xlsx": b"PK\x03\x04" + b"not really a workbook" * 20,
    "truncated.parquet": b"PAR1" + b"\x00\x01" * 100,
    "spaces.csv": b"   \n\n  \t\n",
    "bom_only.csv": b"\xef\xbb\xbf",
    "one_column.csv": b"notes\nfirst\nsecond\n",
    "nul.csv": b"\x00" * 100,
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_fixture_files_are_refused_with_a_one_line_reason_and_change_nothing(loaded, name):
    before = dump(loaded)
    r = ingest(loaded, name)
    assert r.status == "refused"
    assert r.message and "\n" not in r.message
    for word in BAD_FILES[name]:
        assert word in r.message.lower()
    assert (r.inserted, r.updated) == (0, 0)
    assert dump(loaded) == before


@pytest.mark.parametrize("name", JUNK)
def test_junk_bytes_are_refused_and_change_nothing(loaded, name):
    before = dump(loaded)
    r = ingest(loaded, JUNK[name], name=name)
    assert r.status == "refused"
    assert r.message and "\n" not in r.message
    assert dump(loaded) == before


def test_an_unterminated_quote_does_not_swallow_rows_silently():
    """DuckDB's sniffer would return 3 one-column rows; we refuse and name line 3."""
    con = connect()
    r = ingest(con, "bad_unterminated_quote.csv")
    assert r.status == "refused"
    assert "3" in r.message
    assert value(con, "select count(*) from order_lines") == 0


# --- SQL-looking text is data -----------------------------------------------------------------------

SQLISH = "'; drop table order_lines; --"


def test_sql_like_values_headers_and_file_names_are_stored_verbatim(loaded):
    records = canonical_orders()
    records[0] = records[0] + ["Note'; drop table order_lines; --", 'x" ); delete from ingest_log; --']
    for rec in records[1:]:
        rec += ["drop", "; select 1"]
    records[1][6] = SQLISH
    records[2][2] = "O'Brien \"Bobby\"; DELETE FROM ingest_log"
    records[3][5] = "X'); drop table products; --"
    name = "orders'; drop table ingest_log; --.csv"
    r = ingest(loaded, csv_bytes(records), name=name)
    assert r.status == "loaded", r.message
    assert (r.inserted, r.updated) == (0, 11)
    assert rows(loaded, "select product_name from order_lines where order_id = 'SB-2001' and line_no = 1") == \
        [(SQLISH,)]
    assert rows(loaded, "select customer_id from order_lines where order_id = 'SB-2001' and line_no = 2") == \
        [("O'Brien \"Bobby\"; DELETE FROM ingest_log",)]
    assert rows(loaded, "select sku from order_lines where order_id = 'SB-2002'") == [("X'); DROP TABLE PRODUCTS; --",)]
    assert rows(loaded, "select file_name from ingest_log where file_name like 'orders''%'") == [(name,)]
    assert any("Note'; drop table order_lines; --" in w for w in r.warnings)
    assert value(loaded, "select count(*) from ingest_log") == 3
    assert {t for (t,) in rows(loaded, "select table_name from information_schema.tables")} >= set(warehouse.TABLES)


def test_sql_like_headers_work_through_a_mapping_that_is_remembered():
    con = connect()
    header = ["ref'; drop table order_lines; --", 'when "quoted"', "qty; delete", "each"]
    records = [header, ["R1", "2024-03-01 10:00", "2", "3.50"], ["R2", "2024-03-02 11:00", "1", "10"]]
    mapping = {header[0]: "order_id", header[1]: "ordered_at", header[2]: "quantity", header[3]: "unit_price"}
    r = ingest(con, csv_bytes(records), name="a.csv", user_mapping=mapping)
    assert r.status == "loaded", r.message
    records[1][0], records[2][0] = "R3", "R4"
    r2 = ingest(con, csv_bytes(records), name="b.csv")
    assert r2.status == "loaded", r2.message
    assert rows(con, "select order_id, quantity * unit_price from order_lines order by 1") == \
        [("R1", 7.0), ("R2", 10.0), ("R3", 7.0), ("R4", 10.0)]
    assert json.loads(value(con, "select mapping from column_mappings")) == mapping


def test_sql_like_metric_names_are_stored_as_data():
    con = connect()
    metric = "clicks'); drop table experiment_users; --"
    records = [["user_id", "variant", metric], ["u1", "A", "3"], ["u2", "B", "5"]]
    r = ingest(con, csv_bytes(records), name="exp.csv")
    assert r.status == "loaded", r.message
    assert rows(con, "select user_id, metric, value from experiment_metrics order by 1") == \
        [("u1", metric, 3), ("u2", metric, 5)]
    assert value(con, "select count(*) from experiment_users") == 2


# --- rows in = rows out -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["shopify_orders.csv", "woocommerce_orders.csv", "taobao_orders_gbk.csv",
                                  "sycm_traffic_gbk.csv", "ga4_traffic.csv", "products_pipe.txt", "promotions.csv",
                                  "experiment_wide.csv", "nps_survey_nodate.csv", "orders_few_bad_rows.csv",
                                  "orders.xlsx", "orders.parquet"])
def test_every_row_read_is_inserted_updated_rejected_or_skipped_with_a_reason(name):
    con = connect()
    r = ingest(con, name, as_of=nps_date())
    assert r.status == "loaded", r.message
    assert r.rows_read == r.inserted + r.updated + r.rejected + sum(r.skipped.values())
    assert r.rows_read == len([line for line in _data_lines(name)])
    assert rows(con, "select rows_read, inserted, updated, rejected from ingest_log") == \
        [(r.rows_read, r.inserted, r.updated, r.rejected)]


def _data_lines(name):
    """Data records of a fixture counted independently (pandas for xlsx/parquet, csv module else)."""
    import csv
    import io
    import pandas as pd
    path = FIXTURES / name
    if name.endswith(".xlsx"):
        return range(len(pd.read_excel(path)))
    if name.endswith(".parquet"):
        return range(len(pd.read_parquet(path)))
    raw = path.read_bytes()
    text = raw.decode("gbk") if "gbk" in name else raw.decode("utf-8-sig")
    delimiter = "|" if name.endswith(".txt") else ","
    records = [rec for rec in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in rec)]
    header_at = next(i for i, rec in enumerate(records) if len(rec) > 2 and not rec[0].startswith("#"))
    return records[header_at + 1:]
