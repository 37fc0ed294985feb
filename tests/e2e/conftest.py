"""Real-browser fixtures (BROWSER-TESTING.md): a Streamlit server on a free loopback port over a
throw-away warehouse, Debian's headless Chromium driven by Playwright, and a page that fails the
test on any request leaving the machine."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from data import warehouse
from tests.conftest import ROOT, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Resolve nothing but loopback, so a stray request to the internet fails fast.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(path: Path) -> None:
    """A small demo-flagged warehouse: a few order lines and one ingest."""
    con = warehouse.connect(path)
    con.execute("""insert into order_lines (order_id, line_no, ordered_at, customer_id, channel, status,
                       sku, product_name, quantity, unit_price, currency)
                   values ('1001', 1, '2026-01-05 10:00', 'C1', 'web', 'paid', 'SKU-1', 'Mug', 2, 9.5, 'EUR'),
                          ('1001', 2, '2026-01-05 10:00', 'C1', 'web', 'paid', 'SKU-2', 'Tea', 1, 4.0, 'EUR'),
                          ('1002', 1, '2026-01-06 11:00', NULL, 'app', 'refunded', 'SKU-1', 'Mug', 1, 9.5, 'EUR')""")
    con.execute("""insert into ingest_log (file_name, kind, status, rows_read, inserted, updated, rejected,
                       started_at, finished_at)
                   values ('orders_jan.csv', 'orders', 'loaded', 3, 3, 0, 0, now(), now())""")
    warehouse.set_setting(con, "is_demo", True)
    con.close()


def serve(db: Path, log_path: Path, env: dict | None = None):
    """Start `streamlit run app.py` over ``db`` on a free loopback port; return (process, base URL)
    once /_stcore/health answers. The caller stops it with :func:`stop`."""
    port = _free_port()
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--client.toolbarMode", "viewer"],
        cwd=ROOT, env={**os.environ, "STOREBOARD_DB": str(db), **(env or {})},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            stop(proc)
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return proc, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"streamlit not healthy after 60 s:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Base URL of `streamlit run app.py` over a seeded temporary warehouse; stopped after the session."""
    tmp = tmp_path_factory.mktemp("e2e")
    db = tmp / "warehouse.duckdb"
    _seed(db)
    proc, url = serve(db, tmp / "streamlit.log")
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def demo_db(demo_file, tmp_path_factory) -> Path:
    """A copy of the session's demo warehouse for the browser tests' shared server."""
    db = tmp_path_factory.mktemp("demo-e2e") / "warehouse.duckdb"
    shutil.copy(demo_file, db)
    return db


@pytest.fixture(scope="session")
def demo_server(demo_db, tmp_path_factory):
    """Base URL of the app over the demo warehouse (shared by every browser test of the session:
    tests that write to it must leave what other tests read unchanged)."""
    proc, url = serve(demo_db, tmp_path_factory.mktemp("demo-log") / "streamlit.log")
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium (never `playwright install`); skips without it unless CI=true."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} missing (run `make chromium` as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser page; the test fails if the app asks for anything beyond loopback."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    outside: list[str] = []
    p.on("request", lambda r: urlparse(r.url).scheme in ("http", "https", "ws", "wss")
         and urlparse(r.url).hostname not in LOOPBACK and outside.append(r.url))
    yield p
    context.close()
    assert not outside, f"the app requested non-loopback URLs: {outside}"
