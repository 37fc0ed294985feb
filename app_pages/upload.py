"""Upload (analyst): several exports at once; per file the detected kind and encoding, a preview,
an editable column mapping, the rejected rows, then a confirm step that loads it (data/upload.py
previews, data.ingest.ingest_file loads in one transaction); the ingest history underneath."""
import json
import logging

import duckdb
import streamlit as st

import auth
import ui
from data import ingest, upload
from data.mapping import UnmappedHeaders
from data.synonyms import KINDS

TYPES = ["csv", "tsv", "txt", "xlsx", "parquet"]
DETECT = "detect from the headers"
WHAT = """Orders (per line or per order: Shopify, WooCommerce, Taobao/Tmall, UCI Online Retail, …) ·
traffic (GA4, Universal Analytics, 生意参谋) · inventory snapshots · products · NPS answers ·
A/B experiment users or totals · promotions. The kind and the encoding are detected."""
LOG = {"success": st.success, "info": st.info, "error": st.error}


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:]


def _state(fid: str, name: str, default=None):
    return st.session_state.get(f"up_{name}_{fid}", default)


def _preview(f, kind, mapping, as_of, experiment) -> upload.Preview:
    """The file's preview, kept in the session per (file, choices) so reruns do not re-parse it."""
    key = (f.file_id, kind, json.dumps(mapping, sort_keys=True), str(as_of), experiment)
    cache = st.session_state.setdefault("up_previews", {})
    if key not in cache:
        with st.spinner(f"Checking {f.name}…"), ui.connection().cursor() as cur:
            cache[key] = upload.preview(cur, f.getvalue(), f.name, kind, mapping, as_of, experiment)
    return cache[key]


def _mapping_editor(f, p: upload.Preview, open_: bool) -> None:
    if not st.toggle("Edit the column mapping", value=open_, key=f"up_edit_{f.file_id}"):
        return
    st.caption("Each header of the file and the column it fills; blank = not used. Applied to this file "
               "and remembered for files with the same headers once it loads.")
    rows = upload.mapping_rows(p.kind, p.headers, p.mapping)
    edited = st.data_editor(
        rows, hide_index=True, key=f"up_editor_{f.file_id}_{p.kind}", disabled=["header"],
        column_config={"header": st.column_config.TextColumn("Header in the file"),
                       "column": st.column_config.SelectboxColumn(
                           f"Column ({p.kind})", options=[""] + upload.canonical_columns(p.kind))})
    if st.button("Apply mapping", key=f"up_apply_{f.file_id}", icon=":material/check:"):
        try:
            st.session_state[f"up_map_{f.file_id}"] = (p.kind, upload.user_mapping(edited))
            st.rerun()
        except UnmappedHeaders as e:
            st.error(str(e))


def _short(note: str, names: int = 10) -> str:
    """A note listing many columns, cut after ``names`` of them."""
    head, sep, tail = note.partition(": ")
    items = tail.split(", ")
    if not sep or len(items) <= names:
        return note
    return f"{head}: {', '.join(items[:names])} and {len(items) - names} more"


def _load(f, p: upload.Preview, mapping, as_of, experiment) -> None:
    """The confirm step: load the file in one transaction on its own cursor."""
    try:
        with st.spinner(f"Loading {f.name}…"), ui.connection().cursor() as cur:
            result = ingest.ingest_file(cur, f.getvalue(), f.name, p.kind, mapping, as_of, experiment,
                                        user=auth.current_user())
    except duckdb.TransactionException:
        result = ingest.Result(file=f.name, message="another upload was writing the same table at that moment; "
                                                    "load it again")
    except Exception as e:  # noqa: BLE001 - in words; the traceback goes to the log
        logging.getLogger("storeboard").exception("loading %s failed", f.name)
        result = ingest.Result(file=f.name, message=f"internal error ({type(e).__name__}: {e})")
    st.session_state[f"up_result_{f.file_id}"] = result
    st.session_state.pop("up_previews", None)


def _file(f) -> None:
    fid = f.file_id
    with st.container(border=True):
        st.markdown(f"#### {ui.text_md(f.name)}")
        result = _state(fid, "result")
        if result is not None:
            level, text = upload.describe(result)
            LOG[level](ui.text_md(text))
            return
        c1, c2, c3 = st.columns([1, 1, 1])
        chosen = c1.selectbox("Kind", [DETECT, *KINDS], key=f"up_kind_{fid}")
        kind = None if chosen == DETECT else chosen
        mapping = None
        if (given := _state(fid, "map")) and kind in (None, given[0]):  # a mapping is for its kind
            kind, mapping = given
        # The date and experiment inputs are drawn only when the file needs them (or one is given);
        # their values are read first, from the previous run, for the preview.
        as_of = st.session_state.get(f"up_date_{fid}")
        experiment = st.session_state.get(f"up_exp_{fid}") or None
        p = _preview(f, kind, mapping, as_of, experiment)
        if p.status == "needs_date" or as_of is not None:
            c2.date_input("Survey / snapshot date", value=None, key=f"up_date_{fid}", format="YYYY-MM-DD",
                          help="For NPS or inventory files without a date column.")
        if p.kind == "experiments" or experiment:
            c3.text_input("Experiment name", key=f"up_exp_{fid}",
                          help="For experiment files without an experiment column.")
        facts = [f"{f.size / 1e6:,.1f} MB" if f.size >= 1e5 else f"{f.size:,} bytes"]
        if p.format:
            facts += [f"format **{p.format}**", f"encoding **{ui.text_md(p.encoding)}**", f"{p.rows_read:,} rows"]
        if p.kind:
            facts.insert(0, f"kind **{p.kind}**" + (" (detected)" if chosen == DETECT and p.status == "ready" else ""))
        st.markdown(" · ".join(facts))
        if p.status == "duplicate_file":
            st.info(ui.text_md(_sentence(p.message)) + ".", icon=":material/content_copy:")
            return
        if p.head is not None:
            st.dataframe(p.head, hide_index=True, height="content", alt=f"First rows of {f.name}")
        if p.status == "refused" and p.head is None:
            st.error(f"Cannot read this file: {ui.text_md(p.message)}.", icon=":material/block:")
            return
        if p.status == "needs_mapping":
            st.warning("Some columns need mapping before this file can load: "
                       f"{ui.text_md(p.message.split(' — ')[0])}.", icon=":material/rule:")
        if p.status == "needs_date":
            st.warning(f"{ui.text_md(_sentence(p.message))}: pick it above.", icon=":material/event:")
        if p.kind:
            _mapping_editor(f, p, open_=p.status == "needs_mapping")
        for w in p.warnings:
            st.caption(f"Note: {ui.text_md(_short(w))}")
        for why, n in p.skipped.items():
            st.caption(f"{n:,} rows skipped: {ui.text_md(why)}")
        if p.rejected_rows:
            st.warning(f"**{p.rejected_rows:,} of {p.rows_read:,} rows rejected** (left out of the load): "
                       f"row numbers are the file's spreadsheet rows.", icon=":material/report:")
            ui.table(p.rejected, f"{f.name.rsplit('.', 1)[0]}_rejected", key=f"up_rej_{fid}",
                     alt=f"Rejected rows of {f.name}")
        if p.status == "refused":
            st.error(ui.text_md(p.message) + ".", icon=":material/block:")
            return
        if p.status == "ready":
            rows = ", ".join(f"{n:,} rows into {t}" for t, n in p.rows_to_load.items())
            st.success(f"Ready: {rows}.", icon=":material/task_alt:")
            if st.button(f"Load {f.name}", type="primary", key=f"up_load_{fid}", icon=":material/upload:"):
                _load(f, p, mapping, as_of, experiment)
                st.rerun()


@ui.cached
def _history(con):
    return upload.history(con)


def render() -> None:
    st.title("Upload")
    limit = st.get_option("server.maxUploadSize")
    st.caption(f"{WHAT} Up to **{limit} MB per file** (`server.maxUploadSize` in `.streamlit/config.toml`); "
               "for larger files use `python -m data.ingest FILE…` on the server.")
    files = st.file_uploader("Exports: CSV, TSV, TXT, Excel (.xlsx) or Parquet", type=TYPES,
                             accept_multiple_files=True, key="up_files")
    if not files:
        st.info("**Choose one or more exports** (or drop them above). Each is previewed and checked first; "
                "nothing is written until you press *Load*.", icon=":material/upload_file:")
    for f in files or []:
        try:
            _file(f)
        except Exception as e:  # noqa: BLE001 - one bad file must not hide the others
            logging.getLogger("storeboard").exception("preview of %s failed", f.name)
            st.error(f"{ui.text_md(f.name)} could not be checked: {type(e).__name__}: {ui.text_md(e)}")

    st.subheader("Ingest history")
    log = _history()
    if log.is_empty():
        st.caption("No file has been loaded yet.")
    else:
        st.dataframe(log, hide_index=True, alt="Ingest history", column_config={
            # the result sentence holds rows read, inserted, updated and skipped
            "id": None, "file_name": "File", "kind": "Kind", "status": "Status", "message": "Result",
            "rows_read": None, "inserted": None, "updated": None, "rejected": "Rejected",
            "finished_at": st.column_config.DatetimeColumn("Finished", format="YYYY-MM-DD HH:mm"),
            "user_name": "User"})


render()
