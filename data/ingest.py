"""The ingestion pipeline — read → detect → map → validate → load — and its command line.

    python -m data.ingest FILE... [--kind K] [--db PATH] [--date D] [--mapping FILE]
                                  [--experiment NAME] [--rejected-out CSV] [--json]

One transaction per file: the same rows again update (upsert on the table key); the same file
again (sha256 in ingest_log) is a no-op reported as ``duplicate_file``; a refused file leaves the
warehouse exactly as it was. Exit 0 when every file loaded or was a duplicate, 2 when any was
refused, 1 on an internal error.
"""
from __future__ import annotations

import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date as Date
from pathlib import Path

import duckdb
import polars as pl

from data import kinds, mapping as maps, parse, validate, warehouse
from data.load import upsert
from data.read import ROW, RefusedFile, read
from data.cli import Parser
from data.export import safe_csv
from data.synonyms import KINDS
from data.warehouse import scalar

ERRORS_SHOWN = 50
NO_DEDUPE = {"nps"}  # identical NPS answers without an id are separate people


@dataclass
class Result:
    """What happened to one file (the JSON contract of ``--json``)."""
    file: str
    kind: str | None = None
    encoding: str | None = None
    status: str = "refused"          # loaded | duplicate_file | refused
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    message: str = ""
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    rejected_rows: pl.DataFrame | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("rejected_rows")
        return out


@dataclass
class Prepared:
    """A file read, mapped and validated, ready to load (or to preview in the upload page)."""
    format: str
    encoding: str
    headers: list[str]
    rows_read: int
    kind: str
    mapping: dict[str, str]
    frames: dict[str, pl.DataFrame]
    checked: validate.Checked
    user_mapping: dict[str, str] | None


def prepare(con: duckdb.DuckDBPyConnection, source: bytes | Path, name: str, kind: str | None = None,
            user_mapping: dict[str, str] | None = None, as_of: Date | None = None,
            experiment: str | None = None) -> Prepared:
    """Read, detect, map and validate; raise RefusedFile / UnmappedHeaders / NeedsInput."""
    raw = read(source, name)
    headers = [c for c in raw.frame.columns if c != ROW]
    if raw.frame.height == 0:
        raise RefusedFile("the file has a header row but no data rows")
    if user_mapping is None and (saved := maps.remembered(con, headers)) and kind in (None, saved[0]):
        kind, user_mapping = saved
    kind, mapping = _resolve(headers, kind, user_mapping)
    frame = raw.frame
    skipped = {}
    if kind not in NO_DEDUPE:
        frame, dropped = _drop_exact_duplicates(frame, headers)
        if dropped:
            skipped["exact duplicate line (counted once)"] = dropped
    tz = warehouse.get_setting(con, "timezone")
    checked = validate.coerce(frame, mapping, tz)
    checked.skipped |= skipped
    if kind == "experiments":
        _experiment_metrics(checked, frame, headers, mapping)
    ignored = [h for h in headers if h not in mapping.values() and not (kind == "experiments")]
    if ignored:
        checked.warnings.append(f"columns not used: {', '.join(ignored)}")
    layout = "uci" if {"stockcode"} <= {h.lower() for h in headers} and "order_id" in mapping and \
        mapping["order_id"].lower() in ("invoiceno", "invoice") else ""
    ctx = kinds.Context(file_name=name, layout=layout, as_of=as_of, experiment=experiment,
                        currency=warehouse.get_setting(con, "currency"))
    frames = kinds.RULES[kind](checked, ctx)
    checked.errors = _show_raw_values(checked.errors, frame)
    return Prepared(raw.format, raw.encoding, headers, raw.frame.height, kind, mapping, frames, checked, user_mapping)


def _show_raw_values(errors: pl.DataFrame, raw: pl.DataFrame) -> pl.DataFrame:
    """Report each rejected cell as written in the file, not as typed."""
    if errors.height == 0:
        return errors
    cells = (raw.filter(pl.col(ROW).is_in(errors["row"].implode()))
             .unpivot(index=ROW, variable_name="column", value_name="cell")
             .with_columns(pl.col(ROW).cast(pl.Int64).alias("row")).drop(ROW))
    return (errors.join(cells, on=["row", "column"], how="left")
            .with_columns(pl.coalesce("cell", "value").alias("value")).drop("cell"))


def _drop_exact_duplicates(frame: pl.DataFrame, headers: list[str]) -> tuple[pl.DataFrame, int]:
    """Keep the first of identical lines; rows are compared in full only where their hashes collide."""
    hashes = frame.select(headers).hash_rows()
    if hashes.n_unique() == hashes.len():  # identical lines hash alike: no collision, no duplicate
        return frame, 0
    maybe = hashes.is_duplicated()
    suspects = frame.filter(maybe)
    repeat = suspects.filter(~pl.struct(headers).is_first_distinct())[ROW]
    return frame.filter(~pl.col(ROW).is_in(repeat.implode())), repeat.len()


def _resolve(headers: list[str], kind: str | None, user: dict[str, str] | None) -> tuple[str, dict[str, str]]:
    if user:
        candidates = [kind] if kind else list(KINDS)
        errors = []
        for k in candidates:
            try:
                m = maps.from_user(k, headers, user)
            except maps.UnmappedHeaders as e:
                errors.append(str(e))
                continue
            if not maps.missing(k, m):
                return k, m
            errors.append(maps.explain(k, headers, m))
        raise maps.UnmappedHeaders(errors[0] if kind else
                                   "the mapping does not give the columns of any kind: " + errors[0])
    if kind:
        m = maps.auto_map(kind, headers)
        if maps.missing(kind, m):
            raise maps.UnmappedHeaders(maps.explain(kind, headers, m))
        return kind, m
    return maps.detect(headers)


def _experiment_metrics(checked: validate.Checked, raw: pl.DataFrame, headers: list[str], mapping: dict) -> None:
    """Every other numeric or yes/no column of a per-user experiment file is a metric."""
    others = [h for h in headers if h not in mapping.values()]
    if not others:
        return
    cols = raw.select(ROW, *[pl.col(h).str.strip_chars().alias(h) for h in others])
    typed = cols.select(ROW, *[parse.metric(pl.col(h)).alias(f"metric:{h}") for h in others])
    metrics = [h for h in others if typed[f"metric:{h}"].null_count() == cols[h].null_count()
               and cols[h].null_count() < cols.height]
    if metrics:
        checked.frame = checked.frame.join(typed.select(ROW, *[f"metric:{h}" for h in metrics]), on=ROW, how="left")
    ignored = [h for h in others if h not in metrics]
    if ignored:
        checked.warnings.append(f"columns ignored (neither variant, user, experiment, time nor numeric): "
                                f"{', '.join(ignored)}")


def ingest_file(con: duckdb.DuckDBPyConnection, source: bytes | Path, name: str | None = None, kind: str | None = None,
                user_mapping: dict[str, str] | None = None, as_of: Date | None = None,
                experiment: str | None = None, user: str | None = None) -> Result:
    """Run the whole pipeline on one file (its bytes or its path) and load it in one transaction."""
    name = name or Path(source).name
    result = Result(file=name)
    started = scalar(con, "select current_timestamp::timestamp")
    # A big file is hashed in a thread while it is parsed; a small one first (a duplicate costs nothing).
    with ThreadPoolExecutor(1) as pool:
        sha = pool.submit(_sha256, source)
        if _size(source) < 1 << 26 and _loaded_before(con, sha.result()):
            return _duplicate(result)
        try:
            p = prepare(con, source, name, kind, user_mapping, as_of, experiment)
        except (RefusedFile, maps.UnmappedHeaders, kinds.NeedsInput) as e:
            result.message = str(e)
            return result
        sha = sha.result()
    if _loaded_before(con, sha):
        return _duplicate(result)
    result.kind, result.encoding, result.mapping = p.kind, p.encoding, p.mapping
    result.rows_read = p.rows_read
    result.skipped, result.warnings = p.checked.skipped, p.checked.warnings
    # One problem per cell: a value that failed to parse is not also reported as missing.
    errors = p.checked.errors.unique(subset=["row", "column"], keep="first", maintain_order=True).sort("row")
    result.rejected = errors["row"].n_unique()
    result.rejected_rows = errors
    result.errors = errors.head(ERRORS_SHOWN).to_dicts()
    share = warehouse.get_setting(con, "max_bad_row_share")
    if result.rejected > share * max(result.rows_read, 1):
        result.message = (f"refused: {result.rejected} of {result.rows_read} rows are invalid "
                          f"(more than {share:.0%}); first: row {errors['row'][0]}, {errors['column'][0]}: "
                          f"{errors['reason'][0]}")
        return result
    con.execute("begin transaction")
    try:
        ingest_id = scalar(con, "select nextval('ingest_id_seq')")
        for i, (table, frame) in enumerate(p.frames.items()):
            ins, upd = upsert(con, table, frame, ingest_id)
            if i == 0:  # counts are of the file's rows (the first table); others hold details
                result.inserted, result.updated = ins, upd
        if p.user_mapping:
            maps.remember(con, p.headers, p.kind, p.user_mapping)
        con.execute(
            "insert into ingest_log (id, file_name, sha256, kind, encoding, mapping, status, message, rows_read, "
            "inserted, updated, rejected, started_at, finished_at, user_name) "
            "values (?, ?, ?, ?, ?, ?, 'loaded', ?, ?, ?, ?, ?, ?, current_timestamp, ?)",
            [ingest_id, name, sha, p.kind, p.encoding, json.dumps(p.mapping, ensure_ascii=False),
             _summary(result), result.rows_read, result.inserted, result.updated, result.rejected, started, user])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    result.status = "loaded"
    result.message = _summary(result)
    return result


def _size(source: bytes | Path) -> int:
    return len(source) if isinstance(source, bytes) else Path(source).stat().st_size


def _loaded_before(con: duckdb.DuckDBPyConnection, sha: str) -> bool:
    return bool(scalar(con, "select count(*) from ingest_log where sha256 = ? and status = 'loaded'", [sha]))


def _duplicate(result: Result) -> Result:
    result.status, result.message = "duplicate_file", "this exact file was loaded before: nothing to do"
    return result


def _sha256(source: bytes | Path) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    with open(source, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _summary(r: Result) -> str:
    parts = [f"{r.inserted} inserted", f"{r.updated} updated"]
    if r.rejected:
        parts.append(f"{r.rejected} rejected")
    parts += [f"{n} skipped ({why})" for why, n in r.skipped.items()]
    return f"{r.kind}: {r.rows_read} rows read; " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m data.ingest", description="Load exports into the warehouse.")
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--kind", choices=KINDS)
    ap.add_argument("--db")
    ap.add_argument("--date", type=Date.fromisoformat, help="survey date (NPS) or snapshot date (inventory)")
    ap.add_argument("--mapping", type=Path, help="JSON file {header: canonical column}")
    ap.add_argument("--experiment", help="experiment name for files without an experiment column")
    ap.add_argument("--rejected-out", type=Path, help="write every rejected row (row, column, value, reason) as CSV")
    ap.add_argument("--user", help="who runs the load (recorded in ingest_log)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        user_mapping = json.loads(args.mapping.read_text(encoding="utf-8")) if args.mapping else None
        if user_mapping is not None and not isinstance(user_mapping, dict):
            raise ValueError("the mapping file must hold one JSON object {header: canonical column}")
        con = warehouse.connect(args.db)
    except (OSError, ValueError, warehouse.WarehouseBusy) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = []
    try:
        for path in args.files:
            if not path.is_file():
                results.append(Result(file=str(path), message="cannot read the file: no such file"))
                continue
            results.append(ingest_file(con, path, path.name, args.kind, user_mapping, args.date,
                                       args.experiment, args.user))
    except Exception as e:  # noqa: BLE001 - an internal error: say it in one line, exit 1
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        con.close()
    if args.rejected_out:
        frames = [r.rejected_rows.with_columns(pl.lit(r.file).alias("file")) for r in results
                  if r.rejected_rows is not None and r.rejected_rows.height]
        args.rejected_out.write_text(safe_csv(pl.concat(frames) if frames else
                                              pl.DataFrame(schema=validate.ERROR_SCHEMA | {"file": pl.String})))
    if args.json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, default=str, indent=1))
    else:
        for r in results:
            print(f"{r.file}: {r.status} — {r.message}")
            for e in r.errors[:10]:
                print(f"  row {e['row']}, {e['column']}: {e['reason']} ({e['value']!r})")
    return 2 if any(r.status == "refused" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
