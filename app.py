"""Storeboard's Streamlit entry point: page list, shared frame, errors in words (DESIGN §6).

Pages are declared explicitly with st.Page and live in app_pages/, never pages/: Streamlit 1.67
still runs its legacy discovery of a pages/ folder on a fresh server's first request and on
AppTest reruns, running a page without this frame (tests/test_app.py guards it). Nothing may
stop this script before st.navigation is called; guards (sign-in, roles) go in the page list.
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
