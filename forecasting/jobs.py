"""Forecast runs the app starts in the background: snapshot → niced subprocess → one import.

The problem: the app process holds the warehouse open for writing, and DuckDB lets only one
process open a file for writing (a second gets ``data.warehouse.WarehouseBusy``), so
``python -m forecasting --db <warehouse>`` cannot run beside the app. Fitting inside the app
process (a thread) was rejected: model fitting is CPU-bound work that competes with page renders
for the GIL, a thread cannot be niced on its own, and a crash or memory blow-up would take the
app down with it.

Chosen design (one job per warehouse at a time):

1. :func:`start` inserts a ``forecast_runs`` row with status ``running`` (``kind`` 'plan',
   the horizon and the user) and returns its run_id at once; the rest runs in a daemon thread.
2. Snapshot: on its own cursor of the app's connection, the job copies :data:`INPUTS` (the
   tables a forecast reads) into a fresh warehouse file in a temporary directory, inside one
   read transaction — a consistent view, so an upload in flight is either wholly in or out.
3. The CLI ``python -m forecasting --horizon H --db <snapshot> --json`` runs on that copy as a
   subprocess, niced (+10) and with its thread pools bounded (OMP/OpenBLAS/MKL/Polars threads
   = env ``STOREBOARD_FORECAST_THREADS``, default 1), so it cannot starve the web server. It
   fits and stores its run in the snapshot only. Stopped after :data:`TIMEOUT_S`.
4. Import: the snapshot's last finished run (its forecast_runs fields and its rows of
   :data:`RUN_TABLES`: forecasts, forecast_accuracy, restock_plan, forecast_residuals) is
   copied into the app's warehouse under the job's run_id (re-keyed) in **one transaction**
   that also sets status ``done`` and prunes old runs' rows (forecasting.store.prune); readers
   see the previous run until the commit, then the whole new one (``warehouse.version`` moves,
   page caches refresh). On any failure the row gets status ``failed`` and a one-line message
   (the CLI's last stderr line).
   The temporary directory is removed either way.

A ``running`` row without a live job in this process (the app was restarted mid-run) is marked
``failed`` ("interrupted") by :func:`latest`. Known limit: a child whose app process died is not
stopped; it finishes on its snapshot, and that temporary directory is left behind.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data import warehouse
from forecasting.store import RUN_TABLES, prune  # a run's rows, and their retention

INPUTS = ("order_lines", "inventory", "products", "promotions", "settings")
RUN_FIELDS = ("finished_at", "kind", "horizon", "service_level", "params", "accuracy", "skus", "message")
TIMEOUT_S = float(os.environ.get("STOREBOARD_FORECAST_TIMEOUT", 1800))
ROOT = Path(__file__).resolve().parents[1]
INTERRUPTED = "interrupted: the app stopped before the run finished; start it again"

_lock = threading.Lock()
_jobs: dict[str, "Job"] = {}  # warehouse file → its live job


class JobRunning(RuntimeError):
    """A forecast job is already running for this warehouse."""


@dataclass
class Job:
    run_id: int
    thread: threading.Thread
    proc: subprocess.Popen | None = None


def _path(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select path from duckdb_databases() where database_name = current_database()").fetchall()[0][0]


def running(con: duckdb.DuckDBPyConnection) -> int | None:
    """The run_id of this warehouse's live job, or None."""
    job = _jobs.get(_path(con))
    return job.run_id if job and job.thread.is_alive() else None


def start(con: duckdb.DuckDBPyConnection, horizon: int = 28, user: str | None = None) -> int:
    """Start a forecast run in the background (module docstring) and return its run_id.
    Raises JobRunning when one is already running for this warehouse."""
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of days ≥ 1, not {horizon!r}")
    with _lock:
        cur = con.cursor()
        try:
            path = _path(cur)
            job = _jobs.get(path)
            if job and job.thread.is_alive():
                raise JobRunning(f"a forecast run (#{job.run_id}) is already running")
            run_id = cur.execute(
                """insert into forecast_runs (created_at, kind, horizon, status, user_name)
                   values (current_timestamp, 'plan', ?, 'running', ?) returning run_id""",
                [horizon, user]).fetchall()[0][0]
        finally:
            cur.close()
        job = Job(run_id, threading.Thread(target=_work, args=(con, path, run_id, horizon),
                                           name=f"forecast-run-{run_id}", daemon=True))
        _jobs[path] = job
        job.thread.start()
    return run_id


def wait(con: duckdb.DuckDBPyConnection, timeout: float | None = None) -> None:
    """Block until this warehouse's job (if any) has finished (tests, the CLI)."""
    job = _jobs.get(_path(con))
    if job:
        job.thread.join(timeout)


def latest(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest forecast_runs row (any status) as a dict, after marking an orphaned
    ``running`` row ``failed`` (interrupted); None when nothing was ever run."""
    cur = con.cursor()
    try:
        with _lock:
            live = running(cur)
            cur.execute("""update forecast_runs set status = 'failed', message = ?, finished_at = current_timestamp
                           where status = 'running' and run_id is distinct from ?""", [INTERRUPTED, live])
        rows = cur.execute("select * from forecast_runs order by run_id desc limit 1")
        cols = [d[0] for d in rows.description]
        row = rows.fetchall()
    finally:
        cur.close()
    return dict(zip(cols, row[0])) if row else None


def last_done(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest finished plan run (status 'done', kind 'plan': a backtest-only run has no
    forecasts or plan) as a dict, or None."""
    rows = con.execute("select * from forecast_runs where status = 'done' and kind = 'plan' "
                       "order by run_id desc limit 1")
    cols = [d[0] for d in rows.description]
    row = rows.fetchall()
    return dict(zip(cols, row[0])) if row else None


def _env() -> dict[str, str]:
    n = os.environ.get("STOREBOARD_FORECAST_THREADS", "1")
    bounded = {k: n for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS",
                              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
    return {**os.environ, **bounded}


def command(db: Path, horizon: int) -> list[str]:
    """The niced CLI invocation of a run over ``db``."""
    cli = [sys.executable, "-m", "forecasting", "--horizon", str(horizon), "--db", str(db), "--json"]
    nice = shutil.which("nice")
    return [nice, "-n", "10", *cli] if nice else cli


def _quoted(p: Path) -> str:
    return str(p).replace("'", "''")


def _snapshot(con: duckdb.DuckDBPyConnection, snap: Path, alias: str) -> None:
    warehouse.connect(snap).close()  # the full, migrated schema
    cur = con.cursor()
    try:
        cur.execute(f"attach '{_quoted(snap)}' as {alias}")
        try:
            cur.execute("begin transaction")
            for t in INPUTS:
                cur.execute(f"insert into {alias}.{t} select * from main.{t}")
            cur.execute("commit")
        finally:
            cur.execute(f"detach {alias}")
    finally:
        cur.close()


def _import(con: duckdb.DuckDBPyConnection, snap: Path, alias: str, run_id: int) -> None:
    cur = con.cursor()
    try:
        cur.execute(f"attach '{_quoted(snap)}' as {alias} (read_only)")
        try:
            src = cur.execute(f"select max(run_id) from {alias}.forecast_runs where status = 'done' and kind = 'plan'"
                              ).fetchall()[0][0]
            if src is None:
                raise RuntimeError("the forecast finished without storing a run")
            cur.execute("begin transaction")
            try:
                sets = ", ".join(f"{c} = s.{c}" for c in RUN_FIELDS)
                cur.execute(f"""update forecast_runs set {sets}, status = 'done' from {alias}.forecast_runs s
                                where forecast_runs.run_id = ? and s.run_id = ?""", [run_id, src])
                for t in RUN_TABLES:
                    cols = [r[0] for r in cur.execute(f"select * from {alias}.{t} limit 0").description if r[0] != "run_id"]
                    names = ", ".join(cols)
                    cur.execute(f"insert into main.{t} (run_id, {names}) select ?, {names} from {alias}.{t} "
                                "where run_id = ?", [run_id, src])
                prune(cur)
                cur.execute("commit")
            except Exception:
                cur.execute("rollback")
                raise
        finally:
            cur.execute(f"detach {alias}")
    finally:
        cur.close()


def _fail(con: duckdb.DuckDBPyConnection, run_id: int, message: str) -> None:
    cur = con.cursor()
    try:
        cur.execute("update forecast_runs set status = 'failed', message = ?, finished_at = current_timestamp "
                    "where run_id = ?", [message[:500], run_id])
    finally:
        cur.close()


def _work(con: duckdb.DuckDBPyConnection, path: str, run_id: int, horizon: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="storeboard-forecast-"))
    alias = f"forecast_snapshot_{run_id}"
    snap = tmp / "snapshot.duckdb"
    try:
        _snapshot(con, snap, alias)
        with (tmp / "stdout").open("wb") as out, (tmp / "stderr").open("wb") as err:
            proc = subprocess.Popen(command(snap, horizon), cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
            _jobs[path].proc = proc
            try:
                code = proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"the forecast took longer than {TIMEOUT_S:.0f} s and was stopped")
        if code != 0:
            lines = (tmp / "stderr").read_text(errors="replace").strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"the forecast exited with code {code}")
        _import(con, snap, alias, run_id)
    except Exception as e:  # noqa: BLE001 - the failure is stored on the run and shown in words
        _fail(con, run_id, str(e) or type(e).__name__)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


