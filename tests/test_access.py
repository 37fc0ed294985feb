"""Access control without a browser: role rules, the stored mapping and its audit, the local-mode
guard, formula-safe downloads, text-only rendering of user content, and the server's settings."""
import ast
import csv
import io
import json
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
    access.save(con, {"users": {"Ana@Shop.com": "analyst"}}, user="boss@shop.com")
    access.save(con, {"users": {"ana@shop.com": "analyst"}, "domains": {"shop.com": "viewer"}},
                user="root@shop.com")
    assert access.load(con) == {"users": {"ana@shop.com": "analyst"}, "domains": {"shop.com": "viewer"},
                                "unknown_role": None}
    log = con.execute("select key, old_value, new_value, user_name from settings_log order by changed_at").fetchall()
    assert [(k, u) for k, _, _, u in log] == [("access", "boss@shop.com"), ("access", "root@shop.com")]
    assert log[0][1] is None and json.loads(log[0][2])["users"] == {"ana@shop.com": "analyst"}
    assert json.loads(log[1][1]) == json.loads(log[0][2])
    assert con.execute("select updated_by from settings where key = 'access'").fetchall() == [("root@shop.com",)]
    with pytest.raises(ValueError, match="not a valid e-mail"):
        access.save(con, {"users": {"nope": "viewer"}}, user="root@shop.com")
    assert access.load(con)["domains"] == {"shop.com": "viewer"}  # a refused save changes nothing
    assert con.execute("select count(*) from settings_log").fetchall() == [(2,)]
    con.close()


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
