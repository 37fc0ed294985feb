"""The app through Streamlit's AppTest: pages draw without exceptions on empty and loaded warehouses."""
import subprocess
import sys

from streamlit.testing.v1 import AppTest

from data import warehouse
from tests.conftest import ROOT


def run_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_empty_warehouse_explains_what_to_upload(tmp_db):
    at = run_app()
    assert not at.error
    assert at.title[0].value == "Warehouse"
    assert any("The warehouse is empty" in i.value and "python -m data.ingest" in i.value for i in at.info)
    assert not any("Demo data" in i.value for i in at.info)
    counts = at.dataframe[0].value
    assert list(counts["table"]) == list(warehouse.TABLES)
    assert counts["rows"].sum() == 0
    assert any(c.value == "No file has been ingested yet." for c in at.caption)


def test_loaded_warehouse_shows_row_counts_and_ingests(tmp_db):
    con = warehouse.connect(tmp_db)
    con.execute("""insert into order_lines (order_id, line_no, ordered_at, channel, status, quantity, unit_price)
                   values ('A1', 1, '2026-02-01 09:00', 'web', 'paid', 1, 10),
                          ('A1', 2, '2026-02-01 09:00', 'web', 'paid', 2, 5),
                          ('A2', 1, '2026-02-02 12:30', 'app', 'pending', 1, 30)""")
    con.execute("""insert into ingest_log (file_name, kind, status, rows_read, inserted, updated, rejected)
                   values ('orders_feb.csv', 'orders', 'loaded', 3, 3, 0, 0)""")
    warehouse.set_setting(con, "is_demo", True)
    con.close()

    at = run_app()
    assert not at.error
    assert any("Demo data" in i.value for i in at.info)
    assert not any("The warehouse is empty" in i.value for i in at.info)
    counts = dict(zip(at.dataframe[0].value["table"], at.dataframe[0].value["rows"]))
    assert counts["order_lines"] == 3 and counts["ingest_log"] == 1
    log = at.dataframe[1].value
    assert list(log.columns) == ["file_name", "kind", "status", "rows_read", "inserted", "updated",
                                 "rejected", "finished_at"]
    assert log.loc[0, "file_name"] == "orders_feb.csv"

    at.run()  # a rerun still goes through app.py's frame
    assert not at.exception and any("Demo data" in i.value for i in at.info)


def test_busy_warehouse_is_reported_in_words(tmp_db):
    warehouse.connect(tmp_db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "sys.stdin.read()", str(tmp_db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        at = run_app()
        assert len(at.error) == 1 and "open for writing in another process" in at.error[0].value
        assert not at.title  # the page was not drawn
    finally:
        holder.communicate("", timeout=10)


def test_no_legacy_pages_directory():
    # With a pages/ folder next to app.py, Streamlit 1.67 still runs its legacy discovery until the
    # first st.navigation call of the process, and on every AppTest run after the first: a page
    # then runs without app.py around it (no frame, no guards). Pages live in app_pages/.
    assert not (ROOT / "pages").exists(), "move page files to app_pages/ and list them in app.py"
    listed = (ROOT / "app.py").read_text()
    for page in sorted((ROOT / "app_pages").glob("*.py")):
        assert f'"app_pages/{page.name}"' in listed, f"{page.name} is not in app.py's st.navigation list"
