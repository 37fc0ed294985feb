"""Storeboard's Streamlit entry point: page list, shared frame, errors in words (DESIGN §6).

Pages are declared once below (PAGES: section, file, title, icon, minimum role) and live in
app_pages/, never pages/: Streamlit 1.67 still runs its legacy discovery of a pages/ folder on a
fresh server's first request and on AppTest reruns, running a page without this frame
(tests/test_app.py guards it). A declared page whose file does not exist yet is left out of the
menu (pages land one by one), never shown as a broken stub. Nothing may stop this script before
st.navigation is called; guards (sign-in, roles) go in the page list.

Demo → own warehouse: on the demo, a banner says so and offers "Start my own warehouse"; after a
confirm, ui.start_own_warehouse() moves the demo file aside (kept next to it, renamed
``warehouse.demo-<timestamp>.duckdb``) and opens an empty warehouse at the same path, so
`make run` from then on serves the user's own data (it builds the demo only when no file exists).
"""
import logging
from pathlib import Path
from typing import NamedTuple

import streamlit as st

import auth
import ui
from data import warehouse

ROOT = Path(__file__).resolve().parent
ROLES = ("viewer", "analyst", "admin")  # each role can do what the ones before it can


class PageDecl(NamedTuple):
    section: str
    path: str
    title: str
    icon: str
    role: str  # the minimum role that sees the page


PAGES = [
    PageDecl("Dashboards", "app_pages/overview.py", "Overview", ":material/dashboard:", "viewer"),
    PageDecl("Dashboards", "app_pages/traffic.py", "Traffic & conversion", ":material/trending_up:", "viewer"),
    PageDecl("Dashboards", "app_pages/customers.py", "Customers", ":material/group:", "viewer"),
    PageDecl("Dashboards", "app_pages/nps.py", "NPS", ":material/reviews:", "viewer"),
    PageDecl("Dashboards", "app_pages/experiments.py", "Experiments", ":material/science:", "viewer"),
    PageDecl("Dashboards", "app_pages/inventory.py", "Inventory & restock", ":material/inventory_2:", "viewer"),
    PageDecl("Dashboards", "app_pages/products.py", "Products", ":material/category:", "viewer"),
    PageDecl("Review", "app_pages/review.py", "Weekly review", ":material/co_present:", "viewer"),
    PageDecl("Data", "app_pages/upload.py", "Upload", ":material/upload_file:", "analyst"),
    PageDecl("Data", "app_pages/warehouse.py", "Warehouse", ":material/database:", "viewer"),
    PageDecl("Admin", "app_pages/settings.py", "Settings", ":material/settings:", "admin"),
    PageDecl("Admin", "app_pages/admin.py", "Audit", ":material/policy:", "admin"),
]
DEFAULT_PAGE = "app_pages/overview.py"


def allowed(p: PageDecl) -> bool:
    """Whether the current user may see ``p`` (auth.py: the signed-in user's role; local mode: admin)."""
    return auth.may_use(p.role)


def navigation_pages() -> dict[str, list]:
    """{section: [st.Page]} of the declared pages that exist and are allowed, plus hidden refusals
    at the URLs of the others; only the sign-in / no-access page when this session may use none."""
    gate = auth.gate_page("app_pages/signin.py")
    if gate is not None:
        return [gate, *auth.refusal_pages(None, PAGES)]
    present = [p for p in PAGES if (ROOT / p.path).exists() and allowed(p)]
    default = DEFAULT_PAGE if any(p.path == DEFAULT_PAGE for p in present) else present[0].path
    sections: dict[str, list] = {}
    for p in present:
        sections.setdefault(p.section, []).append(
            st.Page(p.path, title=p.title, icon=p.icon, default=p.path == default))
    sections[present[-1].section] += auth.refusal_pages(auth.current_role(), PAGES)
    return sections


def demo_banner() -> None:
    """The demo label, with one click (and a confirm) to start an own, empty warehouse."""
    left, right = st.columns([3.4, 1.3], vertical_alignment="center")
    left.info("**Demo data**: a generated shop (`make demo`), not real figures.", icon=":material/science:")
    if not auth.may_use("admin"):  # replacing the warehouse is an admin's call
        return
    with right.popover("Start my own warehouse", icon=":material/add_business:", width="stretch"):
        st.markdown("The demo is **kept** beside the warehouse file (renamed `….demo-<time>.duckdb`), "
                    "and the dashboard starts **empty**, ready for your exports.")
        if st.button("Yes, start empty", type="primary", key="own_warehouse_confirm"):
            aside = ui.start_own_warehouse()
            st.session_state["_demo_moved"] = str(aside)
            st.rerun()


st.set_page_config(page_title="Storeboard", page_icon="🛒", layout="wide")
page = st.navigation(navigation_pages())
auth.sidebar_status()

try:
    if "_demo_moved" in st.session_state:
        st.success(f"Your own warehouse is ready (empty). The demo was kept as "
                   f"{ui.text_md(Path(st.session_state.pop('_demo_moved')).name)}.", icon=":material/check:")
    with ui.connection().cursor() as cur:
        is_demo = warehouse.get_setting(cur, "is_demo")
    if is_demo and not auth.is_gate(page):
        demo_banner()
    page.run()
except warehouse.WarehouseBusy as e:
    st.error(str(e), icon=":material/lock:")
except Exception as e:  # noqa: BLE001 - show the problem in words; the traceback goes to the log
    logging.getLogger("storeboard").exception("page %s failed", page.title)
    st.error(f"This page could not be drawn: {type(e).__name__}: {e}", icon=":material/error:")
