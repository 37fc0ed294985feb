"""Sign-in and roles in a real browser against a real OpenID Connect provider on loopback
(oidc-provider-mock: any client id/secret; its form signs in whatever e-mail is typed), plus the
injection payloads on every page of a local-mode server.

The app reads a temporary secrets.toml (STREAMLIT_SECRETS_FILES, Streamlit's `secrets.files`
option): nothing is written into the repository."""
import re
import secrets
from pathlib import Path
from urllib.parse import urlparse

import oidc_provider_mock
import pytest
from playwright.sync_api import Page, expect

from data import access, warehouse
from tests.conftest import ROOT
from tests.e2e.conftest import ARTIFACTS, LOOPBACK, serve, stop
from tests.e2e.helpers import grid_rows, screenshot, wait_drawn

pytestmark = pytest.mark.browser

ROOT_ADMIN = "root@shop.com"            # bootstrap admin ([storeboard] admins in secrets.toml)
RULES = {"users": {"ana@shop.com": "analyst"}, "domains": {"shop.com": "viewer"}, "unknown_role": None}
ORDERS = "order_id,order_date,sku,quantity,unit_price,status,channel\nA1,2026-03-02,SKU-9,2,12.5,paid,web\n"


@pytest.fixture(scope="module")
def oidc():
    """The provider's issuer URL (http://localhost:PORT), for the module."""
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def signin_app(oidc, tmp_path_factory):
    """(base URL, warehouse path) of the app with sign-in through the provider, over a warehouse
    holding the mapping RULES."""
    tmp = tmp_path_factory.mktemp("auth")
    db = tmp / "warehouse.duckdb"
    con = warehouse.connect(db)
    access.save(con, RULES, user=None)
    con.close()
    secrets_file = tmp / "secrets.toml"
    secrets_file.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{{port}}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"

[auth.mock]
client_id = "storeboard"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{oidc}/.well-known/openid-configuration"

[storeboard]
admins = ["{ROOT_ADMIN}"]
""")
    proc, url = serve(db, tmp / "streamlit.log", env={"STREAMLIT_SECRETS_FILES": str(secrets_file)})
    yield url, db
    stop(proc)
    assert not (ROOT / ".streamlit" / "secrets.toml").exists()


@pytest.fixture
def tab(browser):
    """A fresh browser context (no cookies). Fails the test if a page of the app (not the mock
    provider's own form, which links a CDN stylesheet) asks for anything beyond loopback, or if
    any page opens a dialog (alert)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.route(re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"), lambda route: route.abort())
    p = context.new_page()
    outside, dialogs = [], []
    p.on("request", lambda r: urlparse(r.url).hostname not in LOOPBACK
         and urlparse(r.frame.url).hostname == "127.0.0.1" and outside.append(r.url))
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield p
    context.close()
    assert not outside, f"the app requested non-loopback URLs: {outside}"
    assert not dialogs, f"a dialog opened (script ran): {dialogs}"


def sign_in(page: Page, url: str, oidc: str, email: str) -> None:
    """Through the sign-in page and the provider's form, back to the app."""
    page.goto(url)
    wait_drawn(page, "sign in with your company account")
    page.get_by_role("button", name="Sign in with Mock").click()
    page.wait_for_url(f"{oidc}/oauth2/authorize**")
    page.fill("input[name=sub]", email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**")


def nav_titles(page: Page) -> list[str]:
    """The page titles in the sidebar menu (each link's text ends with its title, after the icon)."""
    return [t.strip().split("\n")[-1] for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def test_viewer_signs_in_and_cannot_reach_upload_or_settings(tab, signin_app, oidc):
    url, _ = signin_app
    sign_in(tab, url, oidc, "vera@shop.com")  # by domain: viewer
    wait_drawn(tab, "vera@shop.com · viewer")
    titles = nav_titles(tab)
    assert "Overview" in titles and "Warehouse" in titles
    assert not {"Upload", "Settings", "Audit"} & set(titles), titles
    assert {c["name"] for c in tab.context.cookies()} >= {"_streamlit_user", "_streamlit_xsrf"}
    for path in ("upload", "settings", "admin"):
        tab.goto(f"{url}/{path}")
        wait_drawn(tab, "This page is not available to your role (viewer)")
        assert urlparse(tab.url).path == f"/{path}"  # the URL's own page, refused (not sent elsewhere)
        expect(tab.get_by_test_id("stFileUploader")).to_have_count(0)
        expect(tab.get_by_test_id("stDataFrame")).to_have_count(0)
        expect(tab.get_by_role("button", name="Save roles")).to_have_count(0)
    screenshot(tab, ARTIFACTS / "auth_viewer_refused.png")
    tab.goto(f"{url}/warehouse")
    wait_drawn(tab, "Tables", dataframes=1)  # what a viewer may read still opens by URL


def test_analyst_uploads_and_the_log_names_them(tab, signin_app, oidc, tmp_path):
    url, _ = signin_app
    sign_in(tab, url, oidc, "ana@shop.com")
    wait_drawn(tab, "ana@shop.com · analyst")
    assert "Upload" in nav_titles(tab) and "Settings" not in nav_titles(tab)
    tab.goto(f"{url}/upload")
    wait_drawn(tab, "Choose one or more exports")
    f = tmp_path / "orders_ana.csv"
    f.write_text(ORDERS)
    tab.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(f))
    wait_drawn(tab, "Ready:", timeout=60_000)
    tab.get_by_role("button", name="Load orders_ana.csv").click()
    wait_drawn(tab, "orders_ana.csv loaded", timeout=60_000)

    # the admin's audit names her (a new sign-in in a fresh context)
    admin = tab.context.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        p = admin.new_page()
        p.route(re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"), lambda route: route.abort())
        sign_in(p, url, oidc, ROOT_ADMIN)
        wait_drawn(p, f"{ROOT_ADMIN} · admin")
        assert {"Upload", "Settings", "Audit"} <= set(nav_titles(p))
        p.goto(f"{url}/admin")
        wait_drawn(p, "Uploads", dataframes=3)
        uploads = grid_rows(p.get_by_test_id("stDataFrame").nth(1))
        assert any("orders_ana.csv" in r and "ana@shop.com" in r and "loaded" in r for r in uploads), uploads
        screenshot(p, ARTIFACTS / "auth_admin_audit.png")
    finally:
        admin.close()


def test_unknown_user_is_refused(tab, signin_app, oidc):
    url, _ = signin_app
    sign_in(tab, url, oidc, "stranger@gmail.com")
    wait_drawn(tab, "has no access to Storeboard")
    expect(tab.get_by_text("stranger@gmail.com")).to_be_visible()
    assert nav_titles(tab) == []  # no menu at all
    for path in ("overview", "warehouse", "upload"):
        tab.goto(f"{url}/{path}")
        wait_drawn(tab, "has no access to Storeboard")
        expect(tab.get_by_test_id("stDataFrame")).to_have_count(0)
        expect(tab.get_by_role("button", name="Sign out")).to_be_visible()  # to try another account
    screenshot(tab, ARTIFACTS / "auth_unknown_refused.png")


def test_sign_out_ends_the_session(tab, signin_app, oidc):
    url, _ = signin_app
    sign_in(tab, url, oidc, "vera@shop.com")
    wait_drawn(tab, "vera@shop.com · viewer")
    sign_out = tab.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")
    expect(sign_out).to_be_visible(timeout=60_000)
    sign_out.click()
    # Streamlit clears its cookie and sends the browser to the provider's end-session page
    tab.wait_for_url(f"{oidc}/oauth2/end_session**")
    tab.get_by_role("button", name="End session").click()
    wait_drawn(tab, "sign in with your company account")
    assert "_streamlit_user" not in {c["name"] for c in tab.context.cookies()}
    tab.goto(f"{url}/warehouse")
    wait_drawn(tab, "Sign in to see this page")
    expect(tab.get_by_test_id("stDataFrame")).to_have_count(0)


def test_an_email_claim_with_markup_is_shown_as_text(tab, signin_app, oidc):
    payload = "<img src=x onerror=alert(1)>"
    url, _ = signin_app
    sign_in(tab, url, oidc, payload)
    wait_drawn(tab, "has no access to Storeboard")
    expect(tab.get_by_test_id("stAlert").first).to_contain_text(payload)
    assert tab.locator("img[src='x']").count() == 0


# ------------------------------------------------------------------------------------ payloads, every page

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[link](javascript:alert(1))"]


@pytest.fixture(scope="module")
def payload_app(tmp_path_factory):
    """The app in local mode over a warehouse whose names, comments and file names are payloads."""
    from tests.test_access import _payload_db
    tmp = tmp_path_factory.mktemp("payloads")
    db = tmp / "warehouse.duckdb"
    _payload_db(db)
    proc, url = serve(db, tmp / "streamlit.log")
    yield url
    stop(proc)


def test_payloads_render_as_text_on_every_page(tab, payload_app):
    tab.goto(payload_app)
    try:
        wait_drawn(tab, "Local mode", timeout=90_000)  # the first run of a fresh server builds its caches
    finally:
        screenshot(tab, ARTIFACTS / "payloads_first.png")
    links = tab.locator('[data-testid="stSidebarNav"] a')
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) >= 3, hrefs
    seen_file_names = False
    for href in hrefs:
        tab.goto(href if href.startswith("http") else payload_app + "/" + href.lstrip("/"))
        wait_drawn(tab, "Local mode", timeout=60_000)
        tab.wait_for_timeout(300)  # let anything that would run, run
        assert tab.locator("img[src='x']").count() == 0, href
        assert tab.locator("a[href^='javascript']").count() == 0, href
        assert tab.locator("script", has_text="alert(1)").count() == 0, href
        assert not tab.locator('[data-testid="stException"]').count(), href
        if urlparse(href).path.rstrip("/").endswith("warehouse"):
            rows = grid_rows(tab.get_by_test_id("stDataFrame").last)
            assert {f"{p}.csv" for p in PAYLOADS} <= {r[0] for r in rows}, rows  # shown, as text
            seen_file_names = True
        screenshot(tab, ARTIFACTS / f"payloads_{Path(urlparse(href).path).name or 'home'}.png")
    assert seen_file_names
