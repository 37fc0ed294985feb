"""Admin: who may sign in with which role (the e-mail/domain mapping), and the audit of uploads
and setting changes. Rules: data/access.py."""
import polars as pl
import streamlit as st

import auth
import ui
from data import access

RULES_HELP = """Roles: **viewer** reads every dashboard · **analyst** also uploads · **admin** also
changes settings and roles. Each row is an e-mail address, or a domain (`shop.com`) for everyone
signing in with an address at it; an e-mail's own row wins over its domain. Bootstrap admins
(`STOREBOARD_ADMINS`, or `admins` under `[storeboard]` in secrets.toml) are always admins."""


def mapping_editor() -> None:
    st.subheader("Who may sign in")
    st.markdown(RULES_HELP)
    if auth.exposure().mode != "signin":
        st.info("Local mode: nobody signs in, so this mapping takes effect once sign-in is configured "
                "(README, Access).", icon=":material/info:")
    with ui.connection().cursor() as cur:
        rules = access.load(cur)
    admins = auth.bootstrap_admins()
    if admins:
        st.caption("Bootstrap admins: " + ", ".join(ui.text_md(a) for a in sorted(admins)))
    rows = pl.DataFrame(access.to_rows(rules), schema={"who": pl.String, "role": pl.String})
    with st.form("access_rules", border=False):
        edited = st.data_editor(
            rows, num_rows="dynamic", hide_index=True, key="access_rows", width=560,
            column_config={
                "who": st.column_config.TextColumn("E-mail or domain", required=True, width="large"),
                "role": st.column_config.SelectboxColumn("Role", options=list(access.ROLES), required=True),
            })
        unknown = st.radio("Signed-in users matching no row", ["refused", "viewer"], horizontal=True,
                           index=0 if rules["unknown_role"] is None else 1, key="access_unknown")
        submitted = st.form_submit_button("Save roles", type="primary", icon=":material/save:")
    if submitted:
        try:
            new = access.from_rows(edited.to_dicts(), None if unknown == "refused" else "viewer")
            with ui.connection().cursor() as cur:
                access.save(cur, new, user=auth.current_user(), admins=admins)
        except ValueError as e:
            st.error(f"Not saved: {e}", icon=":material/error:")
        else:
            st.success(f"Saved: {len(new['users'])} e-mail(s), {len(new['domains'])} domain(s); unknown users "
                       f"{'refused' if new['unknown_role'] is None else 'are viewers'}.", icon=":material/check:")


def audit() -> None:
    with ui.connection().cursor() as cur:
        ingests, changes = access.ingest_audit(cur), access.settings_audit(cur)
    st.subheader("Uploads")
    st.caption("Who loaded which file, when (newest first). No user: local mode or the command line.")
    if ingests.is_empty():
        st.caption("No file has been loaded yet.")
    else:
        ui.table(ingests, "ingest_audit", key="ingest_audit", alt="Uploads: who loaded which file when")
    st.subheader("Setting changes")
    st.caption("Who changed which setting, when, from what to what (newest first).")
    if changes.is_empty():
        st.caption("No setting has been changed yet.")
    else:
        ui.table(changes, "settings_audit", key="settings_audit", alt="Setting changes: who changed what when")


def render() -> None:
    st.title("Audit")
    if not auth.may_use("admin"):  # app.py already refuses; this page never trusts that alone
        st.error("Admins only.", icon=":material/block:")
        return
    mapping_editor()
    audit()


render()
