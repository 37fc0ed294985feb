"""The core pages through AppTest (Overview, Traffic & conversion, Customers, NPS, Products, Settings)
on the demo warehouse and on an empty one: numbers equal to metrics/ (and, for the headline ones,
to plain SQL over the order lines), filters round-trip through the URL, settings are validated,
the demo can be swapped for an own warehouse, user text stays text, downloads are formula-safe."""
import io
import shutil
from datetime import date, timedelta

import duckdb
import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import ui
from data import settings_spec, warehouse
from metrics import analyses
from metrics.compute import kpis
from metrics.filters import Filters
from metrics.registry import KPIS
from tests.conftest import ROOT

PAGES = {"overview": "Overview", "traffic": "Traffic & conversion", "customers": "Customers", "nps": "NPS",
         "products": "Products", "settings": "Settings"}
SALE = "status in ('paid', 'partially_refunded', 'refunded')"


@pytest.fixture
def demo(demo_file, tmp_db):
    """A private copy of the demo warehouse; STOREBOARD_DB points at it."""
    shutil.copy(demo_file, tmp_db)
    return tmp_db


@pytest.fixture
def last_day(demo_file) -> date:
    with duckdb.connect(str(demo_file), read_only=True) as con:
        return con.execute("select cast(max(ordered_at) as date) from order_lines").fetchall()[0][0]


def app(params: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert not [e.value for e in at.error if "could not be drawn" in e.value]
    return at


def metrics_by_label(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def connect(path):
    return warehouse.connect(path)


# ------------------------------------------------------------------------------------ every page


@pytest.mark.parametrize("page", list(PAGES))
def test_page_draws_on_the_demo(demo, page):
    at = app(page=page)
    assert at.title[0].value == PAGES[page]
    assert any("Demo data" in i.value for i in at.info)
    if page != "settings":
        assert at.dataframe, "every dashboard shows tables"
        # every table has its download: one download button per dataframe at least
        assert len(at.get("download_button")) >= len(at.dataframe)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "settings"])
def test_page_on_an_empty_warehouse_says_what_to_upload(tmp_db, page):
    at = app(page=page)
    assert at.title[0].value == PAGES[page]
    empty = [i.value for i in at.info if "python -m data.ingest" in i.value]
    assert len(empty) == 1 and "Upload" in empty[0]
    assert not at.metric and not at.dataframe


def test_settings_on_an_empty_warehouse_shows_the_defaults(tmp_db):
    at = app(page="settings")
    assert at.text_input(key="set_currency").value == "EUR"
    assert at.number_input(key="set_t_rep").value == 25.0
    assert at.number_input(key="set_low_stock_days").value == 3


# ------------------------------------------------------------------------------------ numbers


def test_overview_cards_equal_the_metrics_for_a_url_range(demo, last_day):
    start, end = last_day - timedelta(days=13), last_day - timedelta(days=7)
    at = app({"range": "custom", "start": start.isoformat(), "end": end.isoformat(), "channel": ["web", "app"]})
    assert at.title[0].value == "Overview"
    cards = metrics_by_label(at)
    f = Filters(start, end, ("web", "app"))
    with connect(demo) as con:
        v = kpis(con, f)
        # the headline numbers once more, by hand from the order lines (DESIGN §3)
        gmv, orders, discounts = con.execute(f"""
            with o as (select order_id, sum(quantity * unit_price) g, sum(discount) d, bool_and(is_return) r
                       from order_lines where {SALE} and channel in ('web', 'app')
                       group by order_id having cast(min(ordered_at) as date) between ? and ?)
            select sum(g), count(*) filter (where not r), sum(d) from o""", [start, end]).fetchall()[0]
    assert v["gmv"].value == pytest.approx(gmv) and v["orders"].value == orders
    assert cards["GMV"][0] == f"{gmv:,.0f} EUR"  # 10,000 and more: no decimals
    assert cards["Orders"][0] == f"{orders:,}"
    assert cards["Average order value"][0] == f"{(gmv - discounts) / orders:,.2f} EUR"
    assert cards["Conversion rate"][0] == f"{v['conversion_rate'].value:.2%}"
    assert cards["Conversion rate"][1] == f"{100 * (v['conversion_rate'].value - v['conversion_rate'].previous):+.2f} pp"
    assert cards["GMV"][1] == f"{(v['gmv'].value - v['gmv'].previous) / v['gmv'].previous:+.1%}"
    assert cards["NPS"][0] == f"{v['nps'].value:.1f}"
    year_ago = [c.value for c in at.caption if c.value.startswith("year ago")]
    assert year_ago[0] == f"year ago {v['gmv'].year_ago:,.0f} EUR"
    assert "target 100–300" in year_ago[3]  # AOV's band from the default targets
    # each card's metric passport (in its popover): formula, convention, alternatives
    shown = [m.value for m in at.markdown]
    for key in ("gmv", "aov", "conversion_rate"):
        assert f"**Formula:** {ui.text_md(KPIS[key].formula)}" in shown
    assert f"**Alternatives:** {ui.text_md(KPIS['aov'].alternatives)}" in shown


def test_overview_trend_and_alerts_follow_the_metrics(demo, last_day):
    at = app({"range": "7d"})
    f = Filters(last_day - timedelta(days=6), last_day)
    with connect(demo) as con:
        trend = analyses.trend(con, f, "gmv", "day")
        from metrics.alerts import alerts
        found = alerts(con, f)
    shown = at.dataframe[0].value
    assert list(shown["bucket"].astype(str)) == [str(d) for d in trend["bucket"]]
    assert list(shown["GMV"]) == pytest.approx(trend["value"].to_list())
    texts = [e.value for e in [*at.error, *at.warning, *at.info]]
    for a in found:
        assert ui.text_md(a["message"]) in texts


def test_traffic_page_numbers(demo, last_day):
    at = app({"range": "28d"}, page="traffic")
    f = Filters(last_day - timedelta(days=27), last_day)
    with connect(demo) as con:
        mix, fun = analyses.channel_mix(con, f), analyses.funnel(con, f)
        uv = con.execute("select sum(visitors) from traffic where page = '' and date between ? and ?",
                         [f.start, f.end]).fetchall()[0][0]
    assert metrics_by_label(at)["Visitors (UV)"][0] == f"{uv:,}"
    frames = [d.value for d in at.dataframe]
    shown_mix = next(d for d in frames if "share_of_gmv" in d.columns)
    assert list(shown_mix["channel"]) == mix["channel"].to_list()
    assert list(shown_mix["gmv"]) == pytest.approx(mix["gmv"].to_list())
    shown_funnel = next(d for d in frames if "step" in d.columns)
    assert list(shown_funnel["users"]) == fun["users"].to_list()
    assert shown_funnel["users"][0] == uv


def test_customers_page_numbers(demo, last_day):
    at = app({"range": "90d"}, page="customers")
    f = Filters(last_day - timedelta(days=89), last_day)
    with connect(demo) as con:
        v = kpis(con, f, ["repurchase_rate"])["repurchase_rate"]
        seg = analyses.rfm_summary(con, f)
        n_customers = analyses.rfm(con, f).height
        # repurchase by hand: identified customers with ≥ 2 sales orders in the range / with ≥ 1
        n1, n2 = con.execute(f"""
            with o as (select order_id, any_value(customer_id) c from order_lines
                       where {SALE} and not is_return and customer_id is not null
                       group by order_id having cast(min(ordered_at) as date) between ? and ?),
            c as (select c, count(*) n from o group by c)
            select count(*), count(*) filter (where n >= 2) from c""", [f.start, f.end]).fetchall()[0]
    assert metrics_by_label(at)["Repurchase rate (复购率)"][0] == f"{n2 / n1:.2%}" == f"{v.value:.2%}"
    shown = next(d.value for d in at.dataframe if {"segment", "share"} <= set(d.value.columns))
    assert list(shown["segment"]) == list(analyses.SEGMENTS)
    assert list(shown["customers"]) == seg["customers"].to_list()
    per_customer = next(d.value for d in at.dataframe if "recency_days" in d.value.columns)
    assert n_customers > 1_000 and len(per_customer) == 1_000  # the grid shows 1,000; the download has all
    assert f"The first 1,000 of {n_customers:,} rows; the download has them all." in [c.value for c in at.caption]
    cohort = next(d.value for d in at.dataframe if "month_index" in d.value.columns)
    assert (cohort[cohort["month_index"] == 0]["retention"] == 1.0).all()
    assert cohort["cohort"].nunique() == 12  # the 12 months up to the range's end


def test_nps_page_numbers_and_comment_search(demo, last_day):
    at = app({"range": "90d"}, page="nps")
    f = Filters(last_day - timedelta(days=89), last_day)
    with connect(demo) as con:
        p, d, n = con.execute("""select count(*) filter (where score >= 9), count(*) filter (where score <= 6),
                                        count(*) from nps_responses where cast(responded_at as date) between ? and ?""",
                              [f.start, f.end]).fetchall()[0]
        with_word = con.execute("""select count(*) from nps_responses where cast(responded_at as date) between ? and ?
                                   and lower(comment) like '%delivery%'""", [f.start, f.end]).fetchall()[0][0]
    assert metrics_by_label(at)["NPS"][0] == f"{100 * (p - d) / n:.1f}"
    assert metrics_by_label(at)["NPS responses"][0] == f"{n:,}"
    dist = next(x.value for x in at.dataframe if list(x.value.columns) == ["score", "responses", "share"])
    assert dist["responses"].sum() == n
    at.text_input(key="nps_search").input("DELIVERY").run()
    comments = next(x.value for x in at.dataframe if "comment" in x.value.columns)
    assert 0 < len(comments) == with_word
    assert comments["comment"].str.lower().str.contains("delivery").all()


def test_products_page_matches_abc(demo, last_day):
    at = app({"range": "28d"}, page="products")
    f = Filters(last_day - timedelta(days=27), last_day)
    with connect(demo) as con:
        t = analyses.abc(con, f)
    shown = next(d.value for d in at.dataframe if "cum_share" in d.value.columns)
    assert list(shown["sku"]) == t["sku"].to_list() and list(shown["abc"]) == t["abc"].to_list()
    assert metrics_by_label(at)["Class A"][0] == f"{(t['abc'] == 'A').sum():,} SKUs"
    at.multiselect(key="pr_class").set_value(["A"]).run()
    shown = next(d.value for d in at.dataframe if "cum_share" in d.value.columns)
    assert set(shown["abc"]) == {"A"} and len(shown) == (t["abc"] == "A").sum()


def test_cached_pages_see_a_new_ingest(demo, last_day):
    at = app({"range": "7d"})
    before = metrics_by_label(at)["Orders"][0]
    with connect(demo) as con:
        con.execute("""insert into order_lines (order_id, line_no, ordered_at, channel, status, quantity, unit_price)
                       values ('NEW-1', 1, ?, 'web', 'paid', 1, 50)""", [f"{last_day} 12:00"])
        con.execute("insert into ingest_log (file_name, kind, status) values ('late.csv', 'orders', 'loaded')")
    at.run()
    assert metrics_by_label(at)["Orders"][0] == f"{int(before.replace(',', '')) + 1:,}"


# ------------------------------------------------------------------------------------ filters and URL


def test_filters_round_trip_through_the_url(demo, last_day):
    at = app({"range": "custom", "start": "2026-01-05", "end": "2026-01-11", "channel": ["web"]}, page="traffic")
    assert dict(at.query_params) == {"range": "custom", "start": "2026-01-05", "end": "2026-01-11", "channel": "web"}
    assert at.sidebar.selectbox(key="f_range").value == "custom"
    assert at.sidebar.date_input(key="f_start").value == date(2026, 1, 5)
    assert at.sidebar.multiselect(key="f_channel").value == ["web"]
    with connect(demo) as con:
        uv = kpis(con, Filters(date(2026, 1, 5), date(2026, 1, 11), ("web",)), ["visitors"])["visitors"].value
    assert metrics_by_label(at)["Visitors (UV)"][0] == f"{uv:,.0f}"
    # widgets write the URL
    at.sidebar.selectbox(key="f_range").set_value("last_month").run()
    at.sidebar.multiselect(key="f_channel").set_value(["web", "app"]).run()
    assert at.query_params["range"] == "last_month" and at.query_params["channel"] == ["web", "app"]
    first = last_day.replace(day=1)
    lm_end = first - timedelta(days=1)
    assert f"{lm_end.replace(day=1):%d %b %Y} – {lm_end:%d %b %Y}" in [c.value.split(" · ")[0] for c in at.sidebar.caption]
    # a page without filters, then back: the filters are still there
    at.switch_page("app_pages/settings.py").run()
    at.switch_page("app_pages/overview.py").run()
    assert at.query_params["range"] == "last_month" and at.sidebar.multiselect(key="f_channel").value == ["web", "app"]


def test_data_date_anchors_the_presets(demo, last_day):
    at = app({"range": "this_month"})
    assert f"Data up to **{last_day:%a %d %b %Y}**" in [c.value for c in at.sidebar.caption]
    assert f"{last_day.replace(day=1):%d %b %Y} – {last_day:%d %b %Y} · {last_day.day} days" in \
        [c.value for c in at.sidebar.caption]


@pytest.mark.parametrize("params, problem", [
    ({"range": "fortnight"}, "Unknown range “fortnight”"),
    ({"range": "custom", "start": "2026-02-10", "end": "2026-02-01"}, "start ≤ end"),
    ({"range": "custom", "start": "yesterday"}, "start ≤ end"),
    ({"range": "7d", "channel": ["web", "fax"]}, "No data for channel fax"),
])
def test_bad_links_fall_back_with_a_warning(demo, params, problem):
    at = app(params)
    assert any(problem in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.query_params["range"] in ui.PRESETS


def test_parse_params_presets():
    anchor = date(2024, 3, 10)
    assert ui.preset_range("7d", anchor) == (date(2024, 3, 4), anchor)  # 4…10 March: 7 days
    assert ui.preset_range("this_month", anchor) == (date(2024, 3, 1), anchor)
    assert ui.preset_range("last_month", anchor) == (date(2024, 2, 1), date(2024, 2, 29))  # leap year
    f, preset, problems = ui.parse_params({"channel": ["a", "a", "b"]}, anchor, ["a", "b"])
    assert (f.start, f.end, f.channels, preset, problems) == (date(2024, 2, 12), anchor, ("a", "b"), "28d", [])
    assert ui.to_params(Filters(date(2024, 1, 1), date(2024, 1, 2), ("a",)), "custom") == \
        {"range": ["custom"], "start": ["2024-01-01"], "end": ["2024-01-02"], "channel": ["a"]}


# ------------------------------------------------------------------------------------ settings


def valid_raw(**over):
    raw = {"currency": "usd", "timezone": "Europe/Berlin",
           "targets": {"repurchase_rate": 0.3, "new_customer_share": None, "gross_margin": 0.4,
                       "conversion_rate": 0.02, "aov_min": 80, "aov_max": None},
           "service_levels": {"A": 0.99, "B": 0.95, "C": 0.9}, "conversion_alert_drop": 0.2,
           "default_lead_time_days": 10, "review_period_days": 14, "low_stock_days": 2.5, "promo_cover_days": 20}
    return raw | over


def test_settings_spec_accepts_good_values():
    values, problems = settings_spec.validate(valid_raw())
    assert problems == []
    assert values["currency"] == "USD" and values["timezone"] == "Europe/Berlin"
    assert values["targets"] == {"repurchase_rate": 0.3, "gross_margin": 0.4, "conversion_rate": 0.02, "aov_min": 80}
    assert values["low_stock_days"] == 2.5 and values["default_lead_time_days"] == 10


@pytest.mark.parametrize("over, problem", [
    ({"currency": "EURO"}, "three-letter ISO 4217"),
    ({"timezone": "Mars/Olympus"}, "Time zone “Mars/Olympus” is unknown"),
    ({"targets": {"repurchase_rate": 1.5}}, "between 0% and 100%, not 150%"),
    ({"targets": {"aov_min": 300, "aov_max": 100}}, "minimum 300 is above maximum 100"),
    ({"service_levels": {"A": 1.0, "B": 0.95, "C": 0.9}}, "below 100%"),
    ({"default_lead_time_days": 0}, "Default lead time days must be a whole number from 1 to 365"),
    ({"review_period_days": 7.5}, "whole number"),
    ({"low_stock_days": None}, "Low stock days"),
    ({"conversion_alert_drop": 0}, "conversion alert drop"),
])
def test_settings_spec_refuses_bad_values(over, problem):
    values, problems = settings_spec.validate(valid_raw(**over))
    assert values == {} and len(problems) == 1 and problem in problems[0], problems


def test_settings_page_refuses_bad_values_and_stores_good_ones(demo):
    at = app(page="settings")
    at.text_input(key="set_currency").input("EURO")
    at.number_input(key="set_t_rep").set_value(150.0)
    submit = next(b for b in at.button if b.label == "Save settings")
    submit.click().run()
    assert len(at.error) == 1 and "Nothing was saved" in at.error[0].value
    assert "ISO 4217" in at.error[0].value and "150%" in at.error[0].value
    with connect(demo) as con:
        assert warehouse.get_setting(con, "currency") == "EUR"

    at.text_input(key="set_currency").input("gbp")
    at.number_input(key="set_t_rep").set_value(20.0)
    at.number_input(key="set_low_stock_days").set_value(5)
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.error
    assert at.success[0].value == "Saved: currency, targets, low_stock_days."
    with connect(demo) as con:
        assert warehouse.get_setting(con, "currency") == "GBP"
        assert warehouse.get_setting(con, "targets")["repurchase_rate"] == pytest.approx(0.20)
        assert warehouse.get_setting(con, "targets")["aov_max"] == 300  # untouched values kept
        assert warehouse.get_setting(con, "low_stock_days") == 5
        log = con.execute("select key, user_name from settings_log where key in ('currency', 'targets', "
                          "'low_stock_days') order by key").fetchall()
    assert log == [("currency", None), ("low_stock_days", None), ("targets", None)]  # local mode: no user
    # the dashboards use the new currency and target at once
    at.switch_page("app_pages/overview.py").run()
    assert metrics_by_label(at)["GMV"][0].endswith(" GBP")
    assert any("target ≥ 20%" in c.value for c in at.caption)


# ------------------------------------------------------------------------------------ demo → own warehouse


def test_start_own_warehouse_keeps_the_demo_aside(demo):
    at = app()
    assert any("Demo data" in i.value for i in at.info)
    at.button(key="own_warehouse_confirm").click().run()
    assert not at.exception
    assert "Your own warehouse is ready" in at.success[0].value
    assert not any("Demo data" in i.value for i in at.info)
    assert any("No orders, traffic or NPS answers yet" in i.value for i in at.info)
    kept = [p for p in demo.parent.glob("warehouse.demo-*.duckdb")]
    assert len(kept) == 1
    ui.connection().close()  # release the new file for the checks below
    ui._connection.clear()
    with duckdb.connect(str(kept[0]), read_only=True) as con:
        assert con.execute("select count(*) from order_lines").fetchall()[0][0] > 10_000
    with connect(demo) as con:
        assert warehouse.table_counts(con)[0] == ("order_lines", 0) and not warehouse.get_setting(con, "is_demo")


def test_own_warehouse_button_only_on_the_demo(tmp_db):
    at = app()
    assert not at.button and not at.get("popover")


# ------------------------------------------------------------------------------------ user text and downloads


def test_user_text_is_shown_as_text(demo):
    evil = "<script>alert(1)</script> **bold** :red[x] [link](http://evil.example)"
    with connect(demo) as con:
        last = warehouse.data_span(con)[1]  # the app's today: the 7-day range ends there
        con.execute("""insert into nps_responses (response_id, responded_at, score, channel, comment)
                       values ('EVIL', ?, 0, 'web', ?)""", [last, evil])
        con.execute("insert into ingest_log (file_name, kind, status) values ('evil.csv', 'nps', 'loaded')")
    at = app({"range": "7d"}, page="nps")
    at.text_input(key="nps_search").input("script").run()
    comments = next(x.value for x in at.dataframe if "comment" in x.value.columns)
    assert list(comments["comment"]) == [evil]  # a dataframe cell: plain text
    escaped = ui.text_md(evil)
    assert "<" not in escaped.replace("\\<", "") and "**" not in escaped and "[x]" not in escaped
    assert "\\*\\*bold\\*\\*" in escaped and "\\:red\\[x\\]" in escaped


def test_downloads_are_formula_safe():
    frame = pl.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "+1", "plain", "-2"], "amount": [-1.5, 2.0, 3.0, 4.0]})
    wb = openpyxl.load_workbook(io.BytesIO(ui.xlsx_bytes(frame)))
    cells = [[c.value for c in row] for row in wb.active.iter_rows()]
    assert cells[0] == ["name", "amount"]
    assert [r[0] for r in cells[1:]] == ["'=HYPERLINK(\"http://x\")", "'+1", "plain", "'-2"]
    assert [r[1] for r in cells[1:]] == [-1.5, 2.0, 3.0, 4.0]  # numbers stay numbers
    assert all(c.data_type != "f" for row in wb.active.iter_rows() for c in row)


def test_format_rules():
    assert ui.fmt(1234.5, "money", "EUR") == "1,234.50 EUR"
    assert ui.fmt(12345.678, "money", "EUR") == "12,346 EUR"
    assert ui.fmt(0.03456, "ratio") == "3.46%"
    assert ui.fmt(12345.0, "count") == "12,345"
    assert ui.fmt(31.25, "score") == "31.2"
    assert ui.fmt(None, "money", "EUR") == "—"


def test_unreadable_settings_are_named_and_the_settings_page_replaces_them(demo):
    """Settings edited outside the app — text that is not JSON, a value of the wrong kind — make a
    dashboard say which setting and where to fix it; the Settings page opens with the defaults, says
    which values it could not read, and Save stores readable ones (a broken setting not on the form
    goes back to its default)."""
    with connect(demo) as con:
        con.execute("insert or replace into settings (key, value) values ('service_levels', '{A: 0.98'), "
                    "('max_bad_row_share', '\"lots\"'), ('targets', 'gross margin 35%')")
        with pytest.raises(warehouse.BadSetting, match="service_levels .* not valid JSON"):
            warehouse.get_setting(con, "service_levels")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()  # Overview: its KPI cards read the targets
    assert not at.exception
    assert [e.value for e in at.error] == ["This page could not be drawn: BadSetting: setting targets in the "
                                           "warehouse is not valid JSON (Expecting value, character 0): set it "
                                           "again on the Settings page"]
    at = app(page="settings")
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "max_bad_row_share, service_levels, targets" in at.warning[0].value
    assert at.number_input(key="set_sl_A").value == pytest.approx(98.0)  # the default
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.error
    assert all(k in at.success[0].value for k in ("service_levels", "max_bad_row_share", "targets"))
    with connect(demo) as con:
        assert warehouse.get_setting(con, "service_levels") == {"A": 0.98, "B": 0.95, "C": 0.9}
        assert warehouse.get_setting(con, "targets") == {"repurchase_rate": 0.25, "new_customer_share": 0.30,
                                                         "gross_margin": 0.35, "aov_min": 100, "aov_max": 300}
        assert warehouse.get_setting(con, "max_bad_row_share") == 0.20
    at = app(page="settings")
    assert not at.warning
