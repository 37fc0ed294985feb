"""Access control without a browser: role rules, the stored mapping and its audit, the local-mode
guard, formula-safe downloads, text-only rendering of user content, and the server's settings."""
import ast
import csv
import io
import json
import re
import tomllib

import polars as pl
import pytest

from data import access, warehouse
from data.export import neutralise, safe_csv
from tests.conftest import ROOT

RULES = access.validate({
    "users": {"Boss@Shop.com": "admin", "ana@shop.com": "analyst", "vera@partner.org": "viewer"},
    "domains": {"shop.com": "viewer", "@partner.org": "analyst"},
    "unknown_role": None,
})


# ------------------------------------------------------------------------------------ role rules

def test_roles_are_ordered_viewer_analyst_admin():
    table = {(r, m): access.allowed(r, m) for r in (None, *access.ROLES) for m in access.ROLES}
    assert table == {
        (None, "viewer"): False, (None, "analyst"): False, (None, "admin"): False,
        ("viewer", "viewer"): True, ("viewer", "analyst"): False, ("viewer", "admin"): False,
        ("analyst", "viewer"): True, ("analyst", "analyst"): True, ("analyst", "admin"): False,
        ("admin", "viewer"): True, ("admin", "analyst"): True, ("admin", "admin"): True,
    }
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        access.allowed("owner", "viewer")


def test_validate_normalises_case_and_domain_prefix():
    assert RULES == {
        "users": {"boss@shop.com": "admin", "ana@shop.com": "analyst", "vera@partner.org": "viewer"},
        "domains": {"shop.com": "viewer", "partner.org": "analyst"},
        "unknown_role": None,
    }


@pytest.mark.parametrize("rules, message", [
    ({"users": {"not-an-email": "viewer"}}, "'not-an-email' is not a valid e-mail"),
    ({"users": {"a b@shop.com": "viewer"}}, "is not a valid e-mail"),
    ({"domains": {"shop": "viewer"}}, "'shop' is not a valid domain"),
    ({"domains": {"x@shop.com": "viewer"}}, "is not a valid domain"),
    ({"users": {"ana@shop.com": "owner"}}, "role must be one of viewer, analyst, admin, not 'owner'"),
    ({"users": {"Ana@shop.com": "viewer", "ana@SHOP.com": "admin"}}, "listed twice"),
    ({"unknown_role": "analyst"}, "unknown_role must be null .* or 'viewer'"),
    ({"users": {}, "admins": []}, "unknown access rule key"),
    (["ana@shop.com"], "must be a mapping"),
])
def test_validate_refuses_bad_rules_in_one_line(rules, message):
    with pytest.raises(ValueError, match=message) as e:
        access.validate(rules)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("email, role", [
    ("boss@shop.com", "admin"),         # exact e-mail
    ("BOSS@shop.COM ", "admin"),        # compared lower-cased and stripped
    ("ana@shop.com", "analyst"),        # exact e-mail wins over its domain (viewer)
    ("someone@shop.com", "viewer"),     # by domain
    ("vera@partner.org", "viewer"),     # exact e-mail wins even when it is lower than the domain
    ("otto@partner.org", "analyst"),    # by domain
    ("eve@eu.shop.com", None),          # a subdomain is another domain
    ("eve@shop.com.evil.io", None),     # a suffix trick is another domain
    ("shop.com", None),                 # not an e-mail
    ("stranger@gmail.com", None),       # unknown: refused by default
    (None, None),
    ("", None),
])
def test_role_for(email, role):
    assert access.role_for(email, RULES) == role


def test_unknown_users_can_be_made_viewers_and_bootstrap_admins_win():
    open_rules = access.validate({**RULES, "unknown_role": "viewer"})
    assert access.role_for("stranger@gmail.com", open_rules) == "viewer"
    assert access.role_for("ana@shop.com", open_rules) == "analyst"
    admins = access.bootstrap_admins({"STOREBOARD_ADMINS": " Root@Shop.com, ,ops@x.io"}, ["Lead@partner.org"])
    assert admins == {"root@shop.com", "ops@x.io", "lead@partner.org"}
    assert access.role_for("ROOT@shop.com", RULES, admins) == "admin"
    assert access.role_for("lead@partner.org", RULES, admins) == "admin"  # over the domain's analyst
    assert access.bootstrap_admins({}, "a@b.io,c@d.io") == {"a@b.io", "c@d.io"}
    assert access.bootstrap_admins({}, None) == frozenset()


def test_mapping_is_stored_as_a_setting_with_who_changed_it(tmp_db):
    con = warehouse.connect(tmp_db)
    assert access.load(con) == access.EMPTY_RULES  # a fresh install: only bootstrap admins
    roots = {"boss@shop.com", "root@shop.com"}  # bootstrap admins
    access.save(con, {"users": {"Ana@Shop.com": "analyst"}}, user="boss@shop.com", admins=roots)
    access.save(con, {"users": {"ana@shop.com": "analyst"}, "domains": {"shop.com": "viewer"}},
                user="root@shop.com", admins=roots)
    assert access.load(con) == {"users": {"ana@shop.com": "analyst"}, "domains": {"shop.com": "viewer"},
                                "unknown_role": None}
    log = con.execute("select key, old_value, new_value, user_name from settings_log order by changed_at").fetchall()
    assert [(k, u) for k, _, _, u in log] == [("access", "boss@shop.com"), ("access", "root@shop.com")]
    assert log[0][1] is None and json.loads(log[0][2])["users"] == {"ana@shop.com": "analyst"}
    assert json.loads(log[1][1]) == json.loads(log[0][2])
    assert con.execute("select updated_by from settings where key = 'access'").fetchall() == [("root@shop.com",)]
    with pytest.raises(ValueError, match="not a valid e-mail"):
        access.save(con, {"users": {"nope": "viewer"}}, user="root@shop.com", admins=roots)
    # an admin by mapping cannot demote themself (nobody would be left to undo it in the app)
    with pytest.raises(ValueError, match=r"would take your own admin role away \(ana@shop.com\)"):
        access.save(con, {"users": {"ana@shop.com": "analyst"}}, user="ana@shop.com")
    assert access.load(con)["domains"] == {"shop.com": "viewer"}  # a refused save changes nothing
    assert con.execute("select count(*) from settings_log").fetchall() == [(2,)]
    con.close()


def test_editor_rows_round_trip():
    rows = access.to_rows(RULES)
    assert rows == [{"who": "ana@shop.com", "role": "analyst"}, {"who": "boss@shop.com", "role": "admin"},
                    {"who": "vera@partner.org", "role": "viewer"}, {"who": "partner.org", "role": "analyst"},
                    {"who": "shop.com", "role": "viewer"}]
    assert access.from_rows(rows, None) == RULES
    edited = [{"who": " New@Shop.com ", "role": "analyst"}, {"who": "@Partner.org", "role": "viewer"},
              {"who": None, "role": None}, {"who": "new@shop.com", "role": "analyst"}]
    assert access.from_rows(edited, "viewer") == {
        "users": {"new@shop.com": "analyst"}, "domains": {"partner.org": "viewer"}, "unknown_role": "viewer"}


@pytest.mark.parametrize("rows, message", [
    ([{"who": "", "role": "viewer"}], "row 1: enter an e-mail or a domain"),
    ([{"who": "ok@shop.com", "role": "viewer"}, {"who": "x@shop.com", "role": None}], r"row 2 \(x@shop.com\): choose a role"),
    ([{"who": "a@shop.com", "role": "viewer"}, {"who": "A@shop.com", "role": "admin"}], "row 2: a@shop.com is listed twice"),
    ([{"who": "shop", "role": "viewer"}], "'shop' is not a valid domain"),
])
def test_editor_rows_refused_with_the_row(rows, message):
    with pytest.raises(ValueError, match=message):
        access.from_rows(rows, None)


# ------------------------------------------------------------------------------------ local mode

@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("LOCALHOST", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("", False), (None, False),
    ("192.168.1.20", False), ("10.0.0.1", False), ("example.com", False), ("localhost.evil.io", False),
])
def test_loopback_addresses(address, loopback):
    assert access.is_loopback(address) is loopback


@pytest.mark.parametrize("address, sign_in, env, mode", [
    ("127.0.0.1", False, {}, "local"),
    ("localhost", False, {"STOREBOARD_ALLOW_OPEN": "1"}, "local"),
    ("0.0.0.0", False, {}, "refused"),
    (None, False, {}, "refused"),                       # Streamlit's default: every interface
    ("192.168.1.20", False, {"STOREBOARD_ALLOW_OPEN": "yes"}, "refused"),  # only exactly 1 opens
    ("0.0.0.0", False, {"STOREBOARD_ALLOW_OPEN": "1"}, "open"),
    ("0.0.0.0", True, {}, "signin"),
    ("127.0.0.1", True, {}, "signin"),
])
def test_local_mode_guard(address, sign_in, env, mode):
    e = access.exposure(address, sign_in, env)
    assert e.mode == mode and e.serves is (mode != "refused")
    if mode == "refused":
        assert "STOREBOARD_ALLOW_OPEN=1" in e.message and "[auth]" in e.message
    if mode == "open":
        assert e.message.startswith("OPEN MODE") and "anyone" in e.message
    if mode == "local":
        assert f"served on {address} only" in e.message


# ------------------------------------------------------------------------------------ the app (AppTest)

AUTH_SECRETS = {"auth": {"redirect_uri": "http://127.0.0.1:8599/oauth2callback",
                         "cookie_secret": "a-test-cookie-secret-of-sufficient-length",
                         "mock": {"client_id": "storeboard", "client_secret": "s",
                                  "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}}}


def _app(user: dict | None = None, secrets: dict | None = None):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    if secrets:
        at.secrets.update(secrets)
    if user is not None:
        at.user = user
    return at


def _texts(at) -> str:
    """Every text the run drew (main and sidebar), one string."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [b.label for b in at.button]
    return "\n".join(parts)


@pytest.fixture
def shop_db(tmp_db):
    """A warehouse with the role mapping of RULES and one upload by an analyst."""
    con = warehouse.connect(tmp_db)
    access.save(con, RULES, user=None)
    con.execute("""insert into ingest_log (file_name, kind, status, rows_read, inserted, updated, rejected,
                       started_at, finished_at, user_name)
                   values ('orders_march.csv', 'orders', 'loaded', 3, 3, 0, 0, now(), now(), 'ana@shop.com')""")
    con.close()
    return tmp_db


def test_local_mode_serves_every_page_with_a_note(tmp_db):
    at = _app().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Local mode: no sign-in, served on 127.0.0.1 only" in c.value for c in at.sidebar.caption)
    at.switch_page("app_pages/admin.py").run()
    assert not at.exception and at.title[0].value == "Audit"


@pytest.fixture
def network_address():
    """server.address = 0.0.0.0 (every interface) for the test, as `--server.address 0.0.0.0` would."""
    import streamlit as st
    from streamlit import config
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        assert st.get_option("server.address") == "0.0.0.0"
        yield
    finally:
        config.set_option("server.address", before)


def test_network_address_without_sign_in_is_refused(tmp_db, network_address, monkeypatch):
    at = _app().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Storeboard"]
    assert len(at.error) == 1 and "refuses to serve on 0.0.0.0 without sign-in" in at.error[0].value
    assert not at.button and not at.dataframe and not at.metric  # nothing of the shop, no sign-in
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/overview.py")

    monkeypatch.setenv("STOREBOARD_ALLOW_OPEN", "1")
    at = _app().run()
    assert not at.exception
    assert any(e.value.startswith("OPEN MODE") for e in at.error)
    at.switch_page("app_pages/admin.py").run()
    assert at.title[0].value == "Audit" and any(e.value.startswith("OPEN MODE") for e in at.error)


def test_signed_out_visitor_sees_only_sign_in(shop_db):
    at = _app({"is_logged_in": False}, AUTH_SECRETS).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Storeboard"]
    assert [b.label for b in at.button] == ["Sign in with Mock"]
    assert "orders_march" not in _texts(at) and not at.dataframe
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/overview.py")


@pytest.mark.parametrize("email", ["stranger@gmail.com", "eve@eu.shop.com"])
def test_unknown_user_is_refused(shop_db, email):
    at = _app({"is_logged_in": True, "email": email}, AUTH_SECRETS).run()
    assert not at.exception
    assert len(at.error) == 1 and f"{email}** has no access".replace(".", "\\.") in at.error[0].value
    assert [b.label for b in at.button] == ["Sign out"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/warehouse.py")


def test_unverified_email_is_refused_even_when_mapped(shop_db):
    at = _app({"is_logged_in": True, "email": "boss@shop.com", "email_verified": False}, AUTH_SECRETS).run()
    assert "has no access" in at.error[0].value


def test_viewer_reads_dashboards_but_not_upload_settings_or_audit(shop_db):
    at = _app({"is_logged_in": True, "email": "someone@shop.com"}, AUTH_SECRETS).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("someone@shop" in c.value and "viewer" in c.value for c in at.sidebar.caption)
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    at.switch_page("app_pages/warehouse.py").run()
    assert at.title[0].value == "Warehouse"
    for page in ("upload", "settings", "admin"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"app_pages/{page}.py")


def test_analyst_gets_upload_but_not_settings(shop_db):
    at = _app({"is_logged_in": True, "email": "ana@shop.com"}, AUTH_SECRETS).run()
    at.switch_page("app_pages/upload.py").run()
    assert not at.exception and not at.error
    for page in ("settings", "admin"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"app_pages/{page}.py")


def test_bootstrap_admin_sees_the_audit(shop_db, monkeypatch):
    monkeypatch.setenv("STOREBOARD_ADMINS", "root@elsewhere.io")
    at = _app({"is_logged_in": True, "email": "Root@Elsewhere.io"}, AUTH_SECRETS).run()
    at.switch_page("app_pages/admin.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Audit"
    rows = at.dataframe[0].value  # the mapping editor shows the stored rules
    assert list(rows["who"]) == ["ana@shop.com", "boss@shop.com", "vera@partner.org", "partner.org", "shop.com"]
    assert list(rows["role"]) == ["analyst", "admin", "viewer", "analyst", "viewer"]
    uploads = at.dataframe[1].value
    assert list(uploads["user"]) == ["ana@shop.com"] and list(uploads["file_name"]) == ["orders_march.csv"]
    changes = at.dataframe[2].value
    assert list(changes["key"]) == ["access"]


# ------------------------------------------------------------------------------------ nothing leaks

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[link](javascript:alert(1))"]
FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


def test_downloads_neutralise_all_six_formula_starts():
    frame = pl.DataFrame({
        "text": [*FORMULAS, "plain", " =x", None],
        "amount": [-5.5, 1, 2, 3, 4, 5, 6, 7, 8],
    }).with_columns(cat=pl.col("text").cast(pl.Categorical), enum=pl.col("text").cast(pl.Enum([*FORMULAS, "plain", " =x"])))
    out = neutralise(frame)
    expected = [f"'{f}" for f in FORMULAS] + ["plain", " =x", None]  # a leading space is already text
    assert out["text"].to_list() == expected
    assert out["cat"].to_list() == expected and out["enum"].to_list() == expected
    assert out["amount"].to_list() == [-5.5, 1, 2, 3, 4, 5, 6, 7, 8]  # numbers stay numbers
    rows = list(csv.reader(io.StringIO(safe_csv(frame))))
    assert rows[0] == ["text", "amount", "cat", "enum"]
    assert [r[0] for r in rows[1:7]] == [f"'{f}" for f in FORMULAS]
    assert rows[1][1] == "-5.5"
    # column names are user text too (a pivot by product name)
    assert neutralise(pl.DataFrame({"=HYPERLINK(\"x\")": [1], "ok": [2]})).columns == ["'=HYPERLINK(\"x\")", "ok"]


def test_excel_downloads_hold_text_not_formulas():
    import openpyxl

    import ui
    book = openpyxl.load_workbook(io.BytesIO(ui.xlsx_bytes(pl.DataFrame({"name": FORMULAS, "n": range(6)}))))
    cells = [row[0] for row in book.active.iter_rows(min_row=2)]
    # xlsx stores a carriage return as the escape _x000D_ (Excel reads it back as CR; openpyxl does not)
    assert [c.value.replace("_x000D_", "\r") for c in cells] == [f"'{f}" for f in FORMULAS]
    assert {c.data_type for c in cells} == {"s"}


def _payload_db(path):
    """A warehouse whose user-supplied text is all attack payloads (one per kind of text)."""
    con = warehouse.connect(path)
    for i, p in enumerate(PAYLOADS, 1):
        con.execute("""insert into order_lines (order_id, line_no, ordered_at, customer_id, channel, status, sku,
                           product_name, quantity, unit_price, unit_cost, currency)
                       values (?, 1, current_date - 1, ?, 'web', 'paid', ?, ?, 2, 10, 4, 'EUR')""",
                    [f"O{i}", f"C{i}", f"SKU-{i}", p])
        con.execute("insert into products (sku, name, category, unit_price, unit_cost) values (?, ?, ?, 10, 4)",
                    [f"SKU-{i}", p, p])
        con.execute("""insert into nps_responses (response_id, responded_at, score, channel, comment)
                       values (?, current_date - 1, ?, 'web', ?)""", [f"R{i}", 3 * i, p])
        con.execute("""insert into ingest_log (file_name, kind, status, rows_read, inserted, updated, rejected,
                           started_at, finished_at, user_name, message)
                       values (?, 'orders', 'loaded', 1, 1, 0, 0, now(), now(), ?, ?)""", [f"{p}.csv", p, p])
        con.execute("insert into column_mappings values (?, 'orders', ?, now())",
                    [f"{p}|sku", json.dumps({p: "product_name"})])
    warehouse.set_setting(con, "currency", PAYLOADS[0], user=PAYLOADS[1])
    con.close()


# A payload left live: a tag opener or a link target not escaped by a backslash (ui.text_md escapes both).
_LIVE = re.compile(r"(?<!\\)<\s*/?\s*(script|img)|(?<!\\)\]\s*(?<!\\)\(\s*javascript", re.I)


def _markdown_bodies(at):
    """(element kind, text) of everything the frontend renders as Markdown: texts, alerts and labels."""
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success",
                 "toast", "exception"):
        for e in getattr(at, kind):
            yield kind, str(getattr(e, "value", getattr(e, "message", "")))
    for kind in ("button", "checkbox", "radio", "selectbox", "multiselect", "text_input", "number_input",
                 "date_input", "slider", "select_slider", "toggle", "text_area", "tabs", "expander"):
        for e in getattr(at, kind, []):
            yield kind, str(getattr(e, "label", ""))
            for option in getattr(e, "options", None) or []:
                yield f"{kind} option", str(option)


def test_live_payload_pattern():
    import ui
    for p in PAYLOADS:
        assert _LIVE.search(p) and _LIVE.search(f"Top product: {p}!")
        assert not _LIVE.search(ui.text_md(p)) and not _LIVE.search(f"Top product: {ui.text_md(p)}")


def test_every_page_renders_payloads_as_text(tmp_db):
    """Every page over a warehouse of payloads: no element allows HTML and no Markdown (text, alert,
    label) carries a payload unescaped. (Dataframes draw cells on a canvas: text by construction.)"""
    _payload_db(tmp_db)
    at = _app().run()
    pages = sorted(p.name for p in (ROOT / "app_pages").glob("*.py") if p.name != "signin.py")
    assert "warehouse.py" in pages and "admin.py" in pages
    checked = []
    for name in pages:
        at.switch_page(f"app_pages/{name}").run()
        assert not at.exception, (name, [e.message for e in at.exception])
        for e in at.markdown:
            assert not e.proto.allow_html, (name, e.value)
        for kind, body in _markdown_bodies(at):
            assert not _LIVE.search(body), (name, kind, body)
        checked.append(name)
    assert checked == pages


UNSAFE_CALLS = {"html"}          # st.html, components.html, components.v1.html
UNSAFE_KEYWORDS = {"unsafe_allow_html"}


def test_no_page_renders_raw_html():
    """No app_pages/*.py, ui.py, app.py or auth.py calls st.html / components.html, imports
    streamlit.components or passes unsafe_allow_html (read from the code, not from comments)."""
    files = [ROOT / "app.py", ROOT / "ui.py", ROOT / "auth.py", *sorted((ROOT / "app_pages").glob("*.py"))]
    found = []
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Attribute) and node.func.attr in UNSAFE_CALLS:
                    found.append((path.name, node.lineno, node.func.attr))
                found += [(path.name, node.lineno, k.arg) for k in node.keywords if k.arg in UNSAFE_KEYWORDS]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                found += [(path.name, node.lineno, n) for n in names if n.startswith("streamlit.components")]
    assert len(files) >= 4 and not found, found


def test_server_config_caps_uploads_and_keeps_xsrf_on():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] == 200          # MB (README: Access)
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["address"] == "127.0.0.1"
    assert "enableCORS" not in cfg["server"]               # XSRF protection needs CORS on (its default)
    # and no start of the app turns them off on the command line
    for start in (ROOT / "Makefile", ROOT / "tests" / "e2e" / "conftest.py"):
        text = start.read_text()
        assert "enableXsrfProtection" not in text and "maxUploadSize" not in text, start
    assert not (ROOT / ".streamlit" / "secrets.toml").exists(), "never keep a real secrets.toml in the repo"


class _ExampleSecrets:
    """Stands in for Streamlit's secrets singleton, holding secrets.example.toml."""
    def __init__(self, data):
        self.data = data

    def load_if_toml_exists(self):
        return True

    def get(self, key, default=None):
        return self.data.get(key, default)


def test_secrets_example_is_a_complete_sign_in_configuration(monkeypatch):
    """secrets.example.toml parses, passes Streamlit's own check of st.login credentials for each
    of the four providers, and has what Storeboard reads (bootstrap admins)."""
    from streamlit import auth_util
    from streamlit.errors import StreamlitAuthError
    example = tomllib.loads((ROOT / "secrets.example.toml").read_text())
    auth_section = example["auth"]
    assert auth_section["redirect_uri"].endswith("/oauth2callback")
    assert len(auth_section["cookie_secret"]) >= 32
    providers = {k: v for k, v in auth_section.items() if isinstance(v, dict)}
    assert sorted(providers) == ["auth0", "google", "microsoft", "okta"]
    for name, p in providers.items():
        assert "_" not in name  # Streamlit refuses provider names with underscores
        assert set(p) == {"client_id", "client_secret", "server_metadata_url"}, name
        assert p["server_metadata_url"].startswith("https://")
        assert p["server_metadata_url"].endswith("/.well-known/openid-configuration"), name
    assert access.bootstrap_admins({}, example["storeboard"]["admins"]) == {"it-lead@example.com"}
    monkeypatch.setattr(auth_util, "secrets_singleton", _ExampleSecrets(example))
    for name in providers:
        auth_util.validate_auth_credentials(name)  # raises StreamlitAuthError when incomplete
    with pytest.raises(StreamlitAuthError, match="missing"):
        auth_util.validate_auth_credentials("github")  # the check does fail on a missing provider


def test_admin_saves_the_mapping_with_their_email(shop_db, monkeypatch):
    """Through the Audit page: unknown users become viewers; settings_log names the admin, and
    a stranger gets in as a viewer on the next run."""
    monkeypatch.setenv("STOREBOARD_ADMINS", "root@elsewhere.io")
    at = _app({"is_logged_in": True, "email": "root@elsewhere.io"}, AUTH_SECRETS).run()
    at.switch_page("app_pages/admin.py").run()
    at.radio(key="access_unknown").set_value("viewer")
    next(b for b in at.button if b.label == "Save roles").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Saved: 3 e-mail(s), 2 domain(s); unknown users are viewers" in s.value for s in at.success)
    con = warehouse.connect(shop_db)
    assert access.load(con) == {**RULES, "unknown_role": "viewer"}
    last = con.execute("select user_name, new_value from settings_log where key = 'access' "
                       "order by changed_at desc limit 1").fetchall()[0]
    con.close()
    assert last[0] == "root@elsewhere.io" and json.loads(last[1])["unknown_role"] == "viewer"

    stranger = _app({"is_logged_in": True, "email": "stranger@gmail.com"}, AUTH_SECRETS).run()
    assert not stranger.error and any("stranger@gmail" in c.value and "viewer" in c.value
                                      for c in stranger.sidebar.caption)
