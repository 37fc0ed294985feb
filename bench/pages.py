"""Dashboard pages in a real browser on the benchmark warehouse: time until each page is fully drawn.

The warehouse is the metrics benchmark's (``bench.metrics``: the ingest benchmark's orders CSV
loaded through ``data.ingest``, orders only, so Traffic and NPS show their empty states). For each
core page we start a fresh ``streamlit run app.py`` over it (the server of the browser tests,
``tests/e2e/conftest.serve``) and open the page in Debian's headless Chromium (Playwright):
- ``cold``: the first visit after the server start (imports, every query, caches empty; the order
  facts are built beforehand, as after an ingest; the OS file cache is warm from earlier runs);
- ``warm``: the same URL again in a new browser context (``st.cache_data`` hot), median of the repeats.
"Drawn" is the browser tests' condition (``tests/e2e/helpers.wait_drawn``: script finished, the
page's heading shown, every chart's SVG and every table's canvas present, no skeleton).
Range: the last 28 days (``?range=28d``). Targets (issue 6): ≤ 2.5 s warm, ≤ 6 s cold at 5M lines.
"""
from __future__ import annotations

import statistics
import time

from bench import Config, gen, register
from bench.metrics import _warehouse
from metrics.compute import ensure_facts

SIZES = [5_000_000]
PAGES = {"overview": "Overview", "traffic": "Traffic & conversion", "customers": "Customers", "nps": "NPS",
         "products": "Products", "settings": "Settings"}
WARM_S, COLD_S = 2.5, 6.0


def _visit(browser, url: str, heading: str) -> float:
    from tests.e2e.helpers import wait_drawn
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        t = time.perf_counter()
        page.goto(url)
        wait_drawn(page, heading, timeout=300_000)
        return time.perf_counter() - t
    finally:
        context.close()


@register("pages", sizes=SIZES, summary=lambda rows, cfg: _summary(rows))
def pages(cfg: Config) -> list[dict]:
    """Core dashboard pages in Chromium, cold (fresh server) and warm, on the benchmark warehouse."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS, serve, stop
    rows = []
    for lines in cfg.sizes or SIZES:
        con = _warehouse(cfg, lines)
        ensure_facts(con)  # built once after an ingest (by the first reader); "cold" is a fresh server
        con.close()
        db = cfg.out / "db" / f"metrics-{lines}-v{gen.VERSION}.duckdb"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            for name, heading in PAGES.items():
                proc, base = serve(db, cfg.out / f"pages-{name}.log")
                try:
                    url = f"{base}/{'' if name == 'overview' else name}?range=28d"
                    cold = _visit(browser, url, heading)
                    warm = [_visit(browser, url, heading) for _ in range(cfg.repeats)]
                finally:
                    stop(proc)
                row = {"lines": lines, "page": name, "cold_s": round(cold, 2),
                       "warm_s": round(statistics.median(warm), 2),
                       "warm_runs": " / ".join(f"{w:.2f}" for w in warm)}
                cfg.log(f"pages {lines:,} {name}: cold {row['cold_s']} s, warm {row['warm_s']} s")
                rows.append(row)
            browser.close()
    return rows


def _summary(rows: list[dict]) -> str:
    bad = [r for r in rows if r["warm_s"] > WARM_S or r["cold_s"] > COLD_S]
    verdict = "every page meets both targets" if not bad else \
        "missed: " + ", ".join(f"{r['page']} (cold {r['cold_s']} s, warm {r['warm_s']} s)" for r in bad)
    floor = next((r for r in rows if r["page"] == "settings"), None)
    note = "" if floor is None else (
        f" The Settings page runs no warehouse query: its {floor['warm_s']} s warm / {floor['cold_s']} s cold are "
        "the floor of Streamlit and Chromium on this machine at the time (see the load average above); "
        "the other pages' excess over it is their own cost.")
    return f"Targets: ≤ {WARM_S} s warm, ≤ {COLD_S} s cold per page. {verdict[0].upper() + verdict[1:]}.{note}"
