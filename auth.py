"""Sign-in and roles for the app (Streamlit side of data/access.py; DESIGN §6).

Sign-in is Streamlit's own OpenID Connect (``st.login`` / ``st.user`` / ``st.logout``), configured
in the ``[auth]`` section of ``.streamlit/secrets.toml``. Without that section the app runs in
*local mode*: nobody signs in and :func:`current_user` is ``None``.
"""
from __future__ import annotations

import streamlit as st


def sign_in_configured() -> bool:
    """True when secrets.toml has an ``[auth]`` section (the app then requires sign-in)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def current_user() -> str | None:
    """The signed-in user's e-mail (lower-cased), or ``None`` in local mode / when signed out.

    Pages pass this as ``user=`` when they write (ingest_log, settings)."""
    if not sign_in_configured() or not st.user.get("is_logged_in"):
        return None
    email = st.user.get("email")
    return str(email).strip().lower() if email else None
