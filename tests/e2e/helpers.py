"""Waiting until a Streamlit page is really drawn, and full-page screenshots (BROWSER-TESTING.md)."""
from pathlib import Path

from playwright.sync_api import Page

# All four conditions of the recipe, checked together so a rerun in between cannot fool us:
# 1. connected and the script not running; 2. the text that marks the new state is shown;
# 3. lazily drawn widgets are drawn (every dataframe has its canvas, every chart its SVG) and at
#    least the expected number of them exist; 4. no status widget and no skeleton.
_DRAWN = """({text, dataframes, charts}) => {
  const app = document.querySelector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
                                      + '[data-test-script-state="notRunning"]');
  if (!app || !app.innerText.includes(text)) return false;
  const frames = [...document.querySelectorAll('[data-testid="stDataFrame"]')];
  const plots = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  if (frames.length < dataframes || !frames.every(f => f.querySelector('canvas'))) return false;
  if (plots.length < charts || !plots.every(p => p.querySelector('.main-svg'))) return false;
  return !document.querySelector('[data-testid="stStatusWidget"], [data-testid="stAppSkeleton"]');
}"""


def wait_drawn(page: Page, text: str, *, dataframes: int = 0, charts: int = 0, timeout: float = 30_000) -> None:
    """Wait until the page shows ``text`` and is fully drawn (see _DRAWN)."""
    page.wait_for_function(_DRAWN, arg={"text": text, "dataframes": dataframes, "charts": charts},
                           timeout=timeout, polling=100)


def screenshot(page: Page, path: Path) -> Path:
    """Save the whole page: Streamlit scrolls inside stMain, so grow the viewport to its height first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.locator('[data-testid="stMain"]').evaluate("e => e.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def grid_rows(dataframe) -> list[list[str]]:
    """The cells of an st.dataframe (a canvas grid) as text, rows under the header.

    The grid writes an accessible <table role="grid"> inside its canvas once it has focus;
    only the rows in view are written."""
    dataframe.locator("canvas[data-testid='data-grid-canvas']").focus()
    table = dataframe.locator("table[role='grid']")
    table.wait_for(state="attached")
    return table.evaluate("""t => [...t.querySelectorAll('tbody tr')]
        .map(r => [...r.querySelectorAll('td')].map(c => c.textContent))""")
