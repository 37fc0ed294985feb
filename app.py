"""Storeboard's Streamlit entry point: page list, shared frame, errors in words (DESIGN §6).

Pages are declared explicitly with st.Page; st.navigation turns off Streamlit's automatic
discovery of pages/. Nothing may stop this script before st.navigation is called, or Streamlit
falls back to that discovery and every file in pages/ becomes reachable by URL.
"""
import logging

import streamlit as st

import ui
from data import warehouse

st.set_page_config(page_title="Storeboard", page_icon="🛒", layout="wide")

page = st.navigation([
    st.Page("app_pages/warehouse.py", title="Warehouse", icon=":material/database:", default=True),
])

try:
    with ui.connection().cursor() as cur:
        if warehouse.get_setting(cur, "is_demo"):
            st.info("**Demo data**: a generated shop (`make demo`), not real figures.",
                    icon=":material/science:")
    page.run()
except warehouse.WarehouseBusy as e:
    st.error(str(e), icon=":material/lock:")
except Exception as e:  # noqa: BLE001 - show the problem in words; the traceback goes to the log
    logging.getLogger("storeboard").exception("page %s failed", page.title)
    st.error(f"This page could not be drawn: {type(e).__name__}: {e}", icon=":material/error:")
