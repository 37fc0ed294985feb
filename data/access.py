"""Who may use the app: roles, the e-mail/domain role mapping, bootstrap admins and the local-mode
guard (no Streamlit here; auth.py applies it to the session).

Roles, each able to do what the ones before it can: ``viewer`` (reads every dashboard),
``analyst`` (also uploads), ``admin`` (also changes settings and roles, reads the audit).

The mapping is the warehouse setting ``access`` (written with :func:`save`, so settings_log
records who changed it and when)::

    {"users": {"ana@shop.com": "analyst"}, "domains": {"shop.com": "viewer"}, "unknown_role": null}

Rules, for a signed-in e-mail (compared lower-cased):
1. listed as a bootstrap admin (env ``STOREBOARD_ADMINS``, comma-separated, or ``admins = [...]``
   under ``[storeboard]`` in secrets.toml) → ``admin``: a fresh install is never locked out, and
   whoever edits those files already controls the server;
2. the exact e-mail in ``users`` → its role (an exact e-mail wins over its domain);
3. the part after ``@`` exactly in ``domains`` (``eu.shop.com`` is not ``shop.com``) → its role;
4. otherwise ``unknown_role``: ``None`` (refused, the default) or ``"viewer"``.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from data import warehouse

ROLES = ("viewer", "analyst", "admin")
SETTING = "access"
EMPTY_RULES: dict = {"users": {}, "domains": {}, "unknown_role": None}
# What unknown signed-in users may become: refused (None) or readers; never more.
UNKNOWN_ROLES = (None, "viewer")

_EMAIL = re.compile(r"^[^@\s]+@([a-z0-9-]+\.)+[a-z0-9-]+$")
_DOMAIN = re.compile(r"^([a-z0-9-]+\.)+[a-z0-9-]+$")


def rank(role: str | None) -> int:
    """0 for no role (refused), then 1 viewer, 2 analyst, 3 admin; ValueError on an unknown name."""
    if role is None:
        return 0
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return ROLES.index(role) + 1


def allowed(role: str | None, min_role: str) -> bool:
    """Whether ``role`` may use something that needs ``min_role`` (no role may use nothing)."""
    return role is not None and rank(role) >= rank(min_role)


def validate(rules: Mapping) -> dict:
    """The mapping checked and normalised (keys lower-cased and stripped, a leading ``@`` dropped
    from domains); ValueError with a one-line reason on the first problem."""
    if not isinstance(rules, Mapping):
        raise ValueError("the access rules must be a mapping with users, domains and unknown_role")
    extra = set(rules) - set(EMPTY_RULES)
    if extra:
        raise ValueError(f"unknown access rule key(s): {', '.join(sorted(map(str, extra)))}")
    out: dict = {"users": {}, "domains": {}, "unknown_role": rules.get("unknown_role")}
    for kind, pattern, what in (("users", _EMAIL, "e-mail"), ("domains", _DOMAIN, "domain")):
        entries = rules.get(kind) or {}
        if not isinstance(entries, Mapping):
            raise ValueError(f"{kind} must map each {what} to a role")
        for raw, role in entries.items():
            key = str(raw).strip().lower()
            if kind == "domains":
                key = key.removeprefix("@")
            if not pattern.match(key):
                raise ValueError(f"{raw!r} is not a valid {what}")
            if role not in ROLES:
                raise ValueError(f"{what} {key}: role must be one of {', '.join(ROLES)}, not {role!r}")
            if key in out[kind] and out[kind][key] != role:
                raise ValueError(f"{what} {key} is listed twice with different roles")
            out[kind][key] = role
    if out["unknown_role"] not in UNKNOWN_ROLES:
        raise ValueError(f"unknown_role must be null (refuse) or 'viewer', not {out['unknown_role']!r}")
    return out


def load(con) -> dict:
    """The stored mapping (validated), or the empty one: nobody but bootstrap admins gets in."""
    stored = warehouse.get_setting(con, SETTING)
    return validate(stored) if stored else validate(EMPTY_RULES)


def save(con, rules: Mapping, user: str | None, admins: Iterable[str] = ()) -> dict:
    """Validate and store the mapping as ``user`` (settings + settings_log); return what was stored.

    A signed-in ``user`` cannot save a mapping that takes their own admin role away (given the
    bootstrap ``admins``): that would leave nobody to fix it from the app."""
    clean = validate(rules)
    if user and role_for(user, clean, admins) != "admin":
        raise ValueError(f"this mapping would take your own admin role away ({user}): keep yourself admin")
    warehouse.set_setting(con, SETTING, clean, user=user)
    return clean


def to_rows(rules: Mapping) -> list[dict]:
    """The mapping as editor rows ``{"who", "role"}``: e-mails first, then domains, each sorted."""
    return ([{"who": k, "role": v} for k, v in sorted(rules["users"].items())]
            + [{"who": k, "role": v} for k, v in sorted(rules["domains"].items())])


def from_rows(rows: Iterable[Mapping], unknown_role: str | None) -> dict:
    """Editor rows back to a validated mapping. ``who`` with a name before ``@`` is an e-mail;
    ``shop.com`` or ``@shop.com`` is a domain. Blank rows are skipped; ValueError names the row."""
    out: dict = {"users": {}, "domains": {}, "unknown_role": unknown_role}
    for i, row in enumerate(rows, 1):
        who = str(row.get("who") or "").strip().lower()
        role = row.get("role") or None
        if not who and not role:
            continue
        if not who:
            raise ValueError(f"row {i}: enter an e-mail or a domain")
        if not role:
            raise ValueError(f"row {i} ({who}): choose a role")
        kind = "domains" if "@" not in who.removeprefix("@") else "users"
        key = who.removeprefix("@") if kind == "domains" else who
        if out[kind].get(key, role) != role:
            raise ValueError(f"row {i}: {key} is listed twice with different roles")
        out[kind][key] = role
    return validate(out)


def ingest_audit(con, limit: int = 1000):
    """Who loaded which file when (newest first, Polars): ``user`` is None for local mode and the
    CLI (``--user`` names someone there)."""
    return con.sql(
        """select finished_at, user_name as user, file_name, kind, status, rows_read, inserted,
                  updated, rejected, message
           from ingest_log order by id desc limit ?""", params=[limit]).pl()


def settings_audit(con, limit: int = 1000):
    """Who changed which setting when, with the old and new JSON value (newest first, Polars)."""
    return con.sql(
        """select changed_at, user_name as user, key, old_value, new_value
           from settings_log order by changed_at desc limit ?""", params=[limit]).pl()


def bootstrap_admins(env: Mapping[str, str] | None = None, configured: Iterable[str] | str | None = None) -> frozenset[str]:
    """Admins that need no mapping: env ``STOREBOARD_ADMINS`` (comma-separated) plus ``configured``
    (``[storeboard] admins`` from secrets.toml: a list or a comma-separated string), lower-cased."""
    env = os.environ if env is None else env
    names = env.get("STOREBOARD_ADMINS", "").split(",")
    if isinstance(configured, str):
        names += configured.split(",")
    elif configured:
        names += [str(c) for c in configured]
    return frozenset(n.strip().lower() for n in names if n.strip())


def role_for(email: str | None, rules: Mapping, admins: Iterable[str] = ()) -> str | None:
    """The role of a signed-in ``email`` under ``rules`` (validated) and the bootstrap ``admins``;
    None means refused."""
    if not email:
        return None
    email = email.strip().lower()
    if email in admins:
        return "admin"
    if email in rules["users"]:
        return rules["users"][email]
    domain = email.rpartition("@")[2]
    if "@" in email and domain in rules["domains"]:
        return rules["domains"][domain]
    return rules["unknown_role"]


# ------------------------------------------------------------------------------------ local mode

def is_loopback(address: str | None) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1). An empty address means every
    interface (Streamlit's default), so False."""
    if not address:
        return False
    address = address.strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


@dataclass(frozen=True)
class Exposure:
    """How the app is served: ``signin`` (sign-in configured, any address), ``local`` (no sign-in,
    loopback only), ``open`` (no sign-in on a network address, allowed by STOREBOARD_ALLOW_OPEN=1)
    or ``refused`` (no sign-in on a network address: nothing is served). ``message`` says it in words."""
    mode: str
    message: str

    @property
    def serves(self) -> bool:
        return self.mode != "refused"


def exposure(address: str | None, sign_in: bool, env: Mapping[str, str] | None = None) -> Exposure:
    """The local-mode guard: see :class:`Exposure`."""
    env = os.environ if env is None else env
    shown = address or "every interface (0.0.0.0)"
    if sign_in:
        return Exposure("signin", f"Sign-in required; served on {shown}.")
    if is_loopback(address):
        return Exposure("local", f"Local mode: no sign-in, served on {address} only (this machine).")
    if env.get("STOREBOARD_ALLOW_OPEN") == "1":
        return Exposure("open", f"OPEN MODE: no sign-in and served on {shown}: anyone who can reach this "
                                "address sees and changes everything. Configure sign-in ([auth] in "
                                ".streamlit/secrets.toml) or serve on 127.0.0.1.")
    return Exposure("refused", f"Storeboard refuses to serve on {shown} without sign-in: configure "
                               "[auth] in .streamlit/secrets.toml (README, Access), serve on 127.0.0.1, "
                               "or set STOREBOARD_ALLOW_OPEN=1 to accept an open dashboard.")
