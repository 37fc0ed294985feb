"""Warehouse: what is loaded (tables and row counts) and the last ingested files."""
import polars as pl
import streamlit as st

import ui
from data import warehouse

# Tables an analyst fills by uploading exports (the rest is bookkeeping).
BOOKKEEPING = {"ingest_log", "settings"}

EMPTY_STATE = """
**The warehouse is empty.** Load the CSV, Excel or Parquet exports your shop platforms give you:

- **Orders** (one row per order line or per order): Shopify, WooCommerce, Taobao/Tmall, UCI Online Retail, …
- **Traffic** (visitors and page views per day and channel): GA4, Universal Analytics, 生意参谋
- **Inventory** snapshots (on hand per SKU), **products** (cost, lead time, MOQ)
- **NPS** survey responses, **A/B experiment** users or totals, **promotions**

From a terminal: `python -m data.ingest FILE…` (the kind is detected from the headers).
To look around first, build a demo shop with `make demo`.
"""

INGEST_LOG = """
    select file_name, kind, status, rows_read, inserted, updated, rejected, finished_at
    from ingest_log order by id desc limit 20"""


def render() -> None:
    st.title("Warehouse")
    st.caption(f"DuckDB file: `{warehouse.db_path()}`")
    with ui.connection().cursor() as cur:
        counts = warehouse.table_counts(cur)
    if all(rows == 0 for table, rows in counts if table not in BOOKKEEPING):
        st.info(EMPTY_STATE, icon=":material/upload_file:")

    st.subheader("Tables")
    ui.table(pl.DataFrame({"table": [t for t, _ in counts], "rows": [n for _, n in counts]}),
             "warehouse_tables", key="wh_tables", alt="Warehouse tables and row counts")

    st.subheader("Last ingests")
    log = ui.query(INGEST_LOG)
    if log.is_empty():
        st.caption("No file has been ingested yet.")
    else:
        ui.table(log, "last_ingests", key="wh_log", alt="Last ingested files")


render()
