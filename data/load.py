"""Load typed rows into the warehouse: upsert on the table key, inside the caller's transaction.

Upsert = delete the rows whose key arrives again, then insert the new rows (so a re-upload
updates, never duplicates). Identifiers come from our own table declarations; values travel as
Arrow data, never as SQL text.
"""
from __future__ import annotations

import duckdb
import polars as pl

from data.read import ROW
from data.warehouse import KEYS, scalar


def upsert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, ingest_id: int) -> tuple[int, int]:
    """Write ``frame`` into ``table``; return (inserted, updated) row counts."""
    rows = frame.drop(ROW, strict=False).with_columns(pl.lit(ingest_id, pl.Int32).alias("ingest_id"))
    if rows.height == 0:
        return 0, 0
    columns = ", ".join(f'"{c}"' for c in rows.columns)
    match = " and ".join(f't."{k}" is not distinct from i."{k}"' for k in KEYS[table])
    con.register("incoming", rows.to_arrow(compat_level=pl.CompatLevel.newest()))  # string views: no copy
    try:
        updated = 0
        if scalar(con, f"select exists (select 1 from {table})"):
            updated = scalar(con, f"select count(*) from incoming i where exists (select 1 from {table} t where {match})")
            if updated:
                con.execute(f"delete from {table} t using incoming i where {match}")
        con.execute(f"insert into {table} ({columns}) select {columns} from incoming")
    finally:
        con.unregister("incoming")
    return rows.height - updated, updated
