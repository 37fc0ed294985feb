"""Sign-in and roles for the app: the Streamlit side of data/access.py (DESIGN §6).

Sign-in is Streamlit's own OpenID Connect (``st.login`` / ``st.user`` / ``st.logout``), configured
in the ``[auth]`` section of ``.streamlit/secrets.toml`` (README, Access; secrets.example.toml).
Without that section the app runs in *local mode*: nobody signs in, :func:`current_user` is
``None`` and the one local user is an admin, but only on a loopback address
(:func:`data.access.exposure`).

app.py keeps every guard inside the ``st.navigation`` page list: :func:`gate_page` replaces the
whole app by the sign-in / no-access page, :func:`may_use` keeps the declared pages the role
reaches (app.py's ``allowed``), and :func:`refusal_pages` puts a hidden refusal at the URL of
every other page, so reaching one by URL shows the refusal, never the page.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import streamlit as st

import ui
from data import access

log = logging.getLogger("storeboard.auth")
GATE_URL = "signin"  # url path of app_pages/signin.py


class Declared(Protocol):
    """What app.py declares per page (its PageDecl): file path, title, icon and minimum role."""
    path: str
    title: str
    icon: str
    role: str


# ------------------------------------------------------------------------------------ who is here

def _secrets_section(name: str) -> dict:
    try:
        section = st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml at all
        return {}
    return section.to_dict() if hasattr(section, "to_dict") else dict(section or {})


def sign_in_configured() -> bool:
    """True when secrets.toml has an ``[auth]`` section (the app then requires sign-in)."""
    return bool(_secrets_section("auth"))


def providers() -> list[str | None]:
    """The configured identity providers: named ``[auth.NAME]`` sections, else ``[None]`` for the
    single provider written directly under ``[auth]`` (``st.login()`` without a name)."""
    section = _secrets_section("auth")
    named = [k for k, v in section.items() if isinstance(v, dict) and ("client_id" in v or "server_metadata_url" in v)]
    return named or [None]


def exposure() -> access.Exposure:
    """How this server is exposed (sign-in / local / open / refused) for its ``server.address``."""
    return access.exposure(st.get_option("server.address"), sign_in_configured())


def signed_in() -> bool:
    return sign_in_configured() and bool(st.user.get("is_logged_in"))


def current_user() -> str | None:
    """The signed-in user's e-mail (lower-cased), or ``None`` in local mode / when signed out.

    Pages pass this as ``user=`` when they write (ingest_log, settings)."""
    if not signed_in():
        return None
    email = st.user.get("email")
    return str(email).strip().lower() if email else None


def _rules(con) -> dict:
    return access.load(con)


_cached_rules = ui.cached(_rules)


def current_role() -> str | None:
    """The role of this session: ``admin`` in local/open mode (one operator who has the files),
    the mapped role when signed in (data/access.py rules), None when signed out, refused, or
    the server refuses to serve. An e-mail the provider marks unverified (``email_verified``
    false) gets no role: anyone could have typed it."""
    mode = exposure().mode
    if mode == "refused":
        return None
    if mode in ("local", "open"):
        return "admin"
    user = current_user()
    if user is None or st.user.get("email_verified") is False:
        return None
    try:
        rules = _cached_rules()
    except Exception:  # noqa: BLE001 - an unreadable mapping leaves the bootstrap admins only
        log.exception("could not read the access rules; only bootstrap admins get in")
        rules = access.validate(access.EMPTY_RULES)
    return access.role_for(user, rules, bootstrap_admins())


def bootstrap_admins() -> frozenset[str]:
    """Admins from env STOREBOARD_ADMINS and ``[storeboard] admins`` in secrets.toml."""
    return access.bootstrap_admins(configured=_secrets_section("storeboard").get("admins"))


def may_use(min_role: str) -> bool:
    """Whether this session's role reaches ``min_role``."""
    return access.allowed(current_role(), min_role)


# ------------------------------------------------------------------------------------ navigation

def url_path(p: Declared) -> str:
    """The URL path Streamlit gives a file page (its file name without .py)."""
    return Path(p.path).stem


def no_access_message() -> str:
    """What a signed-in user without a role reads (their e-mail shown as text)."""
    return (f"**{ui.text_md(current_user() or 'This account')}** has no access to Storeboard. "
            "Ask an admin to add your e-mail or your company's domain.")


def _refusal() -> None:
    role = current_role()
    if not exposure().serves:
        st.error(exposure().message, icon=":material/gpp_bad:")
    elif role is None and signed_in():
        st.error(no_access_message(), icon=":material/block:")
        if st.button("Sign out", icon=":material/logout:", key="logout_refused"):
            st.logout()
    elif role is None:
        st.warning("Sign in to see this page.", icon=":material/login:")
        sign_in_buttons()
    else:
        st.error("This page is not available to your role "
                 f"(**{role}**). Ask an admin if you need it.", icon=":material/block:")


def refusal_pages(role: str | None, declared: Iterable[Declared]) -> list[st.Page]:
    """A hidden page (absent from the menu) at the URL of every declared page ``role`` may not use,
    showing a refusal instead of the page. Empty while the server refuses to serve at all."""
    if not exposure().serves:
        return []
    return [st.Page(_refusal, title=p.title, icon=p.icon, url_path=url_path(p), visibility="hidden")
            for p in declared if not access.allowed(role, p.role)]


def gate_page(signin_path: str) -> st.Page | None:
    """The page shown instead of the whole app (``signin_path``: app_pages/signin.py) when this
    session may use nothing: the server refuses to serve, nobody is signed in, or the signed-in
    user has no role. None when the app is open to this session."""
    if exposure().serves and current_role() is not None:
        return None
    title = "Sign in" if exposure().serves and not signed_in() else "No access"
    return st.Page(signin_path, title=title, icon=":material/login:", default=True)


def is_gate(page: st.Page) -> bool:
    """Whether ``page`` (what st.navigation returned) is the gate or a refusal: app.py then draws
    nothing of the warehouse around it."""
    return page.url_path == GATE_URL or page.visibility == "hidden"


# ------------------------------------------------------------------------------------ widgets

def sign_in_buttons() -> None:
    """One "Sign in" button per configured provider (st.login redirects to it)."""
    for provider in providers():
        label = "Sign in" if provider is None else f"Sign in with {provider.replace('-', ' ').title()}"
        if st.button(label, type="primary", icon=":material/login:", key=f"login_{provider}"):
            st.login(provider) if provider else st.login()


def sidebar_status() -> None:
    """Who is signed in (and a sign-out button), or the local-mode note; open mode warns loudly on
    every page."""
    exp = exposure()
    if exp.mode == "local":
        st.sidebar.caption(f":material/lock: {exp.message}")
    elif exp.mode == "open":
        st.error(exp.message, icon=":material/warning:")
    elif signed_in() and (role := current_role()):  # (a refused user signs out on the gate page)
        st.sidebar.caption(f":material/person: {ui.text_md(current_user() or '?')} · {role}")
        if st.sidebar.button("Sign out", icon=":material/logout:", key="logout"):
            st.logout()
