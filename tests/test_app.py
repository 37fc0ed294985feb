"""The app through Streamlit's AppTest: the page list, the frame (demo label, errors in words) and the
Warehouse page on empty and loaded warehouses."""
import ast
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from data import warehouse
from tests.conftest import ROOT


def run_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def run_warehouse_page() -> AppTest:
    at = run_app()
    at.switch_page("app_pages/warehouse.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def declared_pages() -> list[tuple]:
    """app.py's PAGES declaration, read without running the app."""
    tree = ast.parse((ROOT / "app.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "PAGES")
    return [tuple(ast.literal_eval(a) for a in call.args) for call in node.value.elts]


def test_pages_are_declared_once_with_section_and_role():
    pages = declared_pages()
    paths = [p[1] for p in pages]
    assert len(paths) == len(set(paths))
    assert {p[0] for p in pages} == {"Dashboards", "Review", "Data", "Admin"}
    assert {p[4] for p in pages} <= {"viewer", "analyst", "admin"}
    roles = {p[2]: p[4] for p in pages}
    assert roles["Upload"] == "analyst" and roles["Settings"] == "admin" and roles["Overview"] == "viewer"
    dashboards = [p[2] for p in pages if p[0] == "Dashboards"]
    assert dashboards == ["Overview", "Traffic & conversion", "Customers", "NPS", "Experiments",
                          "Inventory & restock", "Products"]


def test_overview_is_the_default_page_and_missing_pages_are_not_listed(tmp_db):
    at = run_app()
    assert at.title[0].value == "Overview"
    for path in [p[1] for p in declared_pages()]:
        if (ROOT / path).exists():
            at.switch_page(path).run()
            assert not at.exception, (path, [e.message for e in at.exception])
        else:  # a page that has not landed yet is not in the menu
            with pytest.raises(Exception):
                at.switch_page(path).run()


def test_empty_warehouse_explains_what_to_upload(tmp_db):
    at = run_warehouse_page()
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

    at = run_warehouse_page()
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
