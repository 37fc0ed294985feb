"""Preview-then-confirm for the Upload page: everything ``data.ingest.ingest_file`` would decide
about a file, without writing (no Streamlit here; the page only draws what this returns).

:func:`preview` reads, detects, maps and validates (``data.ingest.prepare``) and reports the same
rejected rows and the same refusal rule as ``ingest_file`` (one problem per cell; refused when
more than the ``max_bad_row_share`` setting of rows are bad). The confirm step is
``ingest_file`` itself with the same kind, mapping and date, in one transaction; it reads the
file again, so a preview is never trusted as the load. A mapping the user gives is
``{header: canonical column}`` as for ``python -m data.ingest --mapping`` and is remembered for the
header set when the file loads (``data.mapping.remember``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import polars as pl

from data import ingest, kinds, mapping as maps, validate, warehouse
from data.read import ROW, RefusedFile, read
from data.synonyms import KINDS, REQUIRED, SYNONYMS

PREVIEW_ROWS = 10
STATUSES = ("ready", "needs_mapping", "needs_date", "refused", "duplicate_file")


@dataclass
class Preview:
    """What loading ``name`` would do. ``status``: ready | needs_mapping | needs_date | refused |
    duplicate_file; ``message`` says why in one sentence."""
    name: str
    status: str
    message: str = ""
    format: str | None = None
    encoding: str | None = None
    headers: list[str] = field(default_factory=list)
    head: pl.DataFrame | None = None            # the first rows as written in the file (text)
    kind: str | None = None                     # detected or given; for needs_mapping the best guess
    mapping: dict[str, str] = field(default_factory=dict)   # canonical -> header
    rows_read: int = 0
    rows_to_load: dict[str, int] = field(default_factory=dict)  # table -> rows
    rejected: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=validate.ERROR_SCHEMA))
    rejected_rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _guess(headers: list[str], kind: str | None) -> tuple[str, dict[str, str]]:
    """The kind the headers look most like (or ``kind``) and its synonym mapping."""
    if kind:
        return kind, maps.auto_map(kind, headers)
    scored = [(len(maps.missing(k, m)) == 0, len(m), k, m) for k in KINDS for m in [maps.auto_map(k, headers)]]
    _, _, k, m = max(scored, key=lambda s: (s[0], s[1]))
    return k, m


def rejected_cells(errors: pl.DataFrame) -> pl.DataFrame:
    """One problem per cell (a value that failed to parse is not also reported as missing), by row
    — the rule of ``ingest_file``."""
    return errors.unique(subset=["row", "column"], keep="first", maintain_order=True).sort("row")


def preview(con: duckdb.DuckDBPyConnection, data: bytes, name: str, kind: str | None = None,
            user_mapping: dict[str, str] | None = None, as_of: date | None = None,
            experiment: str | None = None, rows: int = PREVIEW_ROWS) -> Preview:
    """Read, detect, map and validate ``data`` (a file's bytes) without writing anything."""
    if ingest._loaded_before(con, ingest._sha256(data)):
        return Preview(name, "duplicate_file", "this exact file was loaded before: nothing to do")
    try:
        raw = read(data, name)
    except RefusedFile as e:
        return Preview(name, "refused", str(e))
    headers = [c for c in raw.frame.columns if c != ROW]
    out = Preview(name, "ready", format=raw.format, encoding=raw.encoding, headers=headers,
                  head=raw.frame.drop(ROW).head(rows), rows_read=raw.frame.height)
    try:
        p = ingest.prepare(con, data, name, kind, user_mapping, as_of, experiment)
    except maps.UnmappedHeaders as e:
        out.kind, out.mapping = _guess(headers, kind)
        out.status, out.message = "needs_mapping", str(e)
        return out
    except kinds.NeedsInput as e:
        out.kind, out.mapping = _guess(headers, kind)
        out.status, out.message = "needs_date", str(e).split(" (--date")[0]
        return out
    except RefusedFile as e:
        out.status, out.message = "refused", str(e)
        return out
    out.kind, out.mapping = p.kind, p.mapping
    out.skipped, out.warnings = p.checked.skipped, p.checked.warnings
    out.rows_to_load = {table: frame.height for table, frame in p.frames.items()}
    out.rejected = rejected_cells(p.checked.errors)
    out.rejected_rows = out.rejected["row"].n_unique()
    share = warehouse.get_setting(con, "max_bad_row_share")
    if out.rejected_rows > share * max(out.rows_read, 1):
        out.status = "refused"
        out.message = (f"{out.rejected_rows} of {out.rows_read} rows are invalid (more than {share:.0%}): "
                       f"the file would be refused whole; fix the rows listed below and upload it again")
    return out


# ------------------------------------------------------------------------------------ mapping editor

def canonical_columns(kind: str) -> list[str]:
    """The columns a header of ``kind`` can be mapped to (required ones first)."""
    required = [c for group in REQUIRED[kind] for c in group]
    return list(dict.fromkeys(required + list(SYNONYMS[kind])))


def mapping_rows(kind: str, headers: list[str], mapping: dict[str, str]) -> pl.DataFrame:
    """One row per file header with the canonical column it maps to ("" = not used)."""
    by_header = {h: c for c, h in mapping.items()}
    known = set(SYNONYMS[kind])
    return pl.DataFrame({"header": headers,
                         "column": [by_header.get(h) if by_header.get(h) in known else "" for h in headers]},
                        schema={"header": pl.String, "column": pl.String})


def user_mapping(rows: pl.DataFrame) -> dict[str, str]:
    """``{header: canonical}`` from edited mapping rows; a blank column maps the header to ``""``
    (not used, even where a synonym would match). A canonical column chosen for two headers is an
    error in words."""
    chosen = rows.filter(pl.col("column").is_not_null() & (pl.col("column") != ""))
    twice = chosen.filter(pl.col("column").is_duplicated())
    if twice.height:
        col = twice["column"][0]
        raise maps.UnmappedHeaders(f"“{col}” is chosen for more than one header "
                                   f"({', '.join(twice.filter(pl.col('column') == col)['header'])}): pick one")
    return {h: c or "" for h, c in zip(rows["header"], rows["column"])}


# ------------------------------------------------------------------------------------ results

def describe(result: ingest.Result) -> tuple[str, str]:
    """(level, sentence) of a load: success | info | error."""
    if result.status == "loaded":
        return "success", f"{result.file} loaded — {result.message}."
    if result.status == "duplicate_file":
        return "info", f"{result.file}: {result.message}."
    return "error", f"{result.file} was refused, nothing was written: {result.message}."


HISTORY_SQL = """
    select id, file_name, kind, status, message, rows_read, inserted, updated, rejected,
           finished_at, user_name
    from ingest_log order by id desc limit ?"""


def history(con: duckdb.DuckDBPyConnection, limit: int = 100) -> pl.DataFrame:
    """The latest loads from ingest_log, newest first."""
    return con.sql(HISTORY_SQL, params=[limit]).pl()
