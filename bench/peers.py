"""What runs inside a benchmark's child process: the raw engine, the naive peer, a traced Storeboard.

    python -m bench.peers duckdb FILE DB     # CREATE TABLE t AS SELECT * FROM read_csv(FILE)
    python -m bench.peers pandas FILE DB     # pandas read_csv + to_datetime/to_numeric + DuckDB
    python -m bench.peers stages FILE DB     # data.ingest's CLI with its stages timed

Each prints one JSON object on its last stdout line. Imports are done inside the functions, so a
child loads only the libraries its contender needs (that is part of its time and memory).
"""
from __future__ import annotations

import json
import resource
import sys
import time

NUMERIC = ["quantity", "unit_price", "discount", "refund_amount", "shipping", "unit_cost"]


def duckdb_raw(file: str, db: str) -> dict:
    """The raw engine: DuckDB's own CSV reader with type sniffing, straight into a table."""
    import duckdb

    con = duckdb.connect(db)
    con.execute("set enable_progress_bar = false")
    con.execute("create table t as select * from read_csv(?)", [file])
    rows = con.execute("select count(*) from t").fetchone()[0]
    con.close()
    return {"rows": rows}


def pandas_naive(file: str, db: str) -> dict:
    """The naive peer: what an analyst writes with pandas, then a DuckDB table from the frame."""
    import duckdb
    import pandas as pd

    df = pd.read_csv(file)
    df["ordered_at"] = pd.to_datetime(df["ordered_at"])
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    con = duckdb.connect(db)
    con.execute("set enable_progress_bar = false")
    con.register("df", df)
    con.execute("create table t as select * from df")
    rows = con.execute("select count(*) from t").fetchone()[0]
    con.close()
    return {"rows": rows}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def storeboard_stages(file: str, db: str) -> dict:
    """Run ``python -m data.ingest FILE --db DB --json`` with its stages wrapped in timers.

    The wrappers replace module attributes the pipeline looks up at call time, so the pipeline
    runs unchanged. Per stage: calls, wall seconds, the process's RSS after it and how much the
    process's peak RSS rose during it (a stage that raises the peak is where memory goes).
    """
    import contextlib
    import importlib
    import io
    import threading

    t_import = time.perf_counter()
    from data import ingest
    imports = time.perf_counter() - t_import

    stages: dict[str, dict] = {}
    local = threading.local()
    missing: list[str] = []

    def wrap(module: str, attr: str, label: str) -> None:
        """Time ``module.attr`` (``module.Class.method``, or ``module.DICT[key]`` with attr "DICT[key]")."""
        owner = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        key = name[name.index("[") + 1:-1] if "[" in name else None
        if key is not None:
            owner, name = getattr(owner, name[:name.index("[")], None), key
        fn = (owner.get(name) if isinstance(owner, dict) else getattr(owner, name, None)) if owner is not None else None
        if not callable(fn):
            missing.append(f"{module}.{attr}")
            return

        def traced(*args, **kwargs):
            stack = local.__dict__.setdefault("stack", [])
            background = threading.current_thread() is not threading.main_thread()
            rec = stages.setdefault(label, {"stage": label + (" [background thread]" if background else ""),
                                            "depth": 1 if background else len(stack), "background": background,
                                            "calls": 0, "seconds": 0.0, "peak_rise_mb": 0.0, "rss_after_mb": 0.0})
            stack.append(label)
            peak0, t0 = _maxrss_mb(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                rec["seconds"] += time.perf_counter() - t0
                rec["calls"] += 1
                rec["peak_rise_mb"] += _maxrss_mb() - peak0
                rec["rss_after_mb"] = _rss_mb()
                stack.pop()
        if isinstance(owner, dict):
            owner[name] = traced
        else:
            setattr(owner, name, traced)

    # The pipeline's stages as of this writing; any that no longer exist are skipped (and listed).
    for module, attr, label in [
        ("data.warehouse", "connect", "warehouse.connect (open + migrate)"),
        ("data.ingest", "ingest_file", "ingest_file"),
        ("data.ingest", "_sha256", "sha256 of the file"),
        ("data.ingest", "prepare", "prepare"),
        ("data.ingest", "read", "read (data.read.read)"),
        ("data.read", "_check_quotes", "quote check (scan the file)"),
        ("data.read", "_parse", "polars read_csv, all text"),
        ("data.read", "_tidy", "tidy (headers, blank rows, row numbers)"),
        ("data.ingest", "_drop_exact_duplicates", "exact-duplicate lines (hash_rows)"),
        ("data.validate", "coerce", "validate.coerce (typing)"),
        ("data.parse", "decimal_comma", "decimal-comma detection"),
        ("data.parse", "date_formats", "date-format detection"),
        ("data.kinds", "RULES[orders]", "kinds.rules_orders"),
        ("data.validate", "Checked.reject", "Checked.reject"),
        ("data.validate", "Checked.skip", "Checked.skip"),
        ("data.kinds", "_refund_status", "refund status"),
        ("data.kinds", "_number_lines", "line numbers"),
        ("data.validate", "Checked.good", "Checked.good (drop rejected rows)"),
        ("data.ingest", "upsert", "load.upsert (Arrow → DuckDB insert)"),
    ]:
        wrap(module, attr, label)

    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = ingest.main([file, "--db", db, "--json"])
    total = time.perf_counter() - t0
    result = json.loads(out.getvalue())[0] if out.getvalue().strip() else {}
    return {"code": code, "imports_s": imports, "main_s": total, "peak_mb": _maxrss_mb(),
            "status": result.get("status"), "inserted": result.get("inserted"),
            "stages": list(stages.values()), "not_found": missing}


PEERS = {"duckdb": duckdb_raw, "pandas": pandas_naive, "stages": storeboard_stages}

if __name__ == "__main__":
    which, file, db = sys.argv[1:4]
    print(json.dumps(PEERS[which](file, db)))
