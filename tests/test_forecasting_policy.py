"""Restock policy (forecasting/policy.py): textbook safety stock and reorder points, rounding,
order-by dates, every flag, edge SKUs, bad settings, storing a plan, and plan() on a warehouse."""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import norm

from data import warehouse
from forecasting import policy
from forecasting.policy import Settings, compute

T = date(2026, 3, 2)  # today: the first forecast day
H = 28


def skus(rows: list[dict]) -> pl.DataFrame:
    base = {"name": None, "abc": "B", "lead_time_days": None, "moq": None, "pack_size": None}
    return pl.DataFrame([{**base, **r} for r in rows], schema={
        "sku": pl.String, "name": pl.String, "abc": pl.String, "lead_time_days": pl.Int64, "moq": pl.Int64,
        "pack_size": pl.Int64})


def daily(rates: dict[str, float | list[float]], days: int = H, start: date = T) -> pl.DataFrame:
    rows = []
    for sku, r in rates.items():
        values = r if isinstance(r, list) else [r] * days
        rows += [{"sku": sku, "date": start + timedelta(days=i), "p50": float(v)} for i, v in enumerate(values)]
    return pl.DataFrame(rows, schema={"sku": pl.String, "date": pl.Date, "p50": pl.Float64})


def residuals(errors: dict[str, list[float]]) -> pl.DataFrame:
    rows = [{"sku": s, "date": T - timedelta(days=len(e) - i), "error": float(v)}
            for s, e in errors.items() for i, v in enumerate(e)]
    return pl.DataFrame(rows, schema={"sku": pl.String, "date": pl.Date, "error": pl.Float64})


def sigma_d(values: dict[str, tuple[float, int]]) -> pl.DataFrame:
    return pl.DataFrame([{"sku": s, "sigma_d": v[0], "in_stock_days": v[1]} for s, v in values.items()],
                        schema={"sku": pl.String, "sigma_d": pl.Float64, "in_stock_days": pl.Int64})


def stock(values: dict[str, tuple[float, float | None]]) -> pl.DataFrame:
    return pl.DataFrame([{"sku": s, "on_hand": v[0], "on_order": v[1]} for s, v in values.items()],
                        schema={"sku": pl.String, "on_hand": pl.Float64, "on_order": pl.Float64})


NO_PROMOS = pl.DataFrame(schema={"sku": pl.String, "start_date": pl.Date, "end_date": pl.Date})


def run(sk, dl, res=None, sd=None, st=None, promos=NO_PROMOS, settings=None, **kw) -> dict[str, dict]:
    res = res if res is not None else residuals({})
    sd = sd if sd is not None else sigma_d({})
    with warnings.catch_warnings():  # tests without stock: the warning has its own test
        warnings.simplefilter("ignore", policy.StockUnknownWarning)
        out = compute(sk, dl, res, sd, st if st is not None else stock({}), promos, settings or Settings(), T, **kw)
    assert out.columns == list(policy.COLUMNS)
    return {r["sku"]: r for r in out.to_dicts()}


def test_textbook_safety_stock_and_reorder_point():
    # d = 20/day, σ_d = 5, L = 9 days, 95% → z = 1.6449; SS = z·σ_d·√L = 1.6449·5·3 = 24.67;
    # ROP = d·L + SS = 180 + 24.67 = 204.67; order-up-to = d·(L + R) + SS = 20·16 + 24.67 = 344.67.
    assert norm.ppf(0.95) == pytest.approx(1.6449, abs=1e-4)
    p = run(skus([{"sku": "X", "lead_time_days": 9}]), daily({"X": 20}), sd=sigma_d({"X": (5.0, 200)}),
            st=stock({"X": (100, 50)}), service_level=0.95)["X"]
    z = 1.6448536269514722
    assert p["safety_stock"] == pytest.approx(z * 5 * 3)
    assert p["safety_stock"] == pytest.approx(24.67, abs=0.005)
    assert p["forecast_lead_time"] == pytest.approx(180)
    assert p["reorder_point"] == pytest.approx(180 + z * 15)
    assert p["order_up_to"] == pytest.approx(320 + z * 15)
    # position 150 → shortfall 344.67 − 150 = 194.67 → 195 units (pack 1)
    assert p["recommended_qty"] == 195
    assert p["forecast_daily"] == 20 and p["lead_time_days"] == 9 and p["service_level"] == 0.95


def test_second_textbook_example_class_a():
    # Class A → 98%: z = 2.0537; d = 50/day, σ_d = 12, L = 4 → SS = 2.0537·12·2 = 49.29,
    # ROP = 200 + 49.29 = 249.29.
    p = run(skus([{"sku": "A1", "abc": "A", "lead_time_days": 4}]), daily({"A1": 50}),
            sd=sigma_d({"A1": (12.0, 90)}))["A1"]
    assert p["service_level"] == 0.98
    assert p["safety_stock"] == pytest.approx(2.0537 * 24, abs=0.01)
    assert p["reorder_point"] == pytest.approx(200 + 49.29, abs=0.01)


def test_sigma_from_lead_time_errors():
    # L = 2: errors over 10 holdout days → 2-day sums of consecutive days:
    # 1+3=4, 3−2=1, −2+0=−2, 0+4=4, 4+1=5, 1−1=0, −1+2=1, 2+0=2, 0+3=3 → 9 windows (≥ 8).
    errors = [1, 3, -2, 0, 4, 1, -1, 2, 0, 3]
    sd_l = statistics.stdev([4, 1, -2, 4, 5, 0, 1, 2, 3])
    # With 9 days (8 windows) still used; with 8 days (7 windows) the √L fallback is used.
    out = run(skus([{"sku": "R", "lead_time_days": 2}, {"sku": "S", "lead_time_days": 2},
                    {"sku": "F", "lead_time_days": 2}]),
              daily({"R": 10, "S": 10, "F": 10}),
              res=residuals({"R": errors, "S": errors[:9], "F": errors[:8]}),
              sd=sigma_d({"R": (7.0, 50), "S": (7.0, 50), "F": (7.0, 50)}), service_level=0.9)
    z = norm.ppf(0.9)
    assert out["R"]["safety_stock"] == pytest.approx(z * sd_l)
    assert out["S"]["safety_stock"] == pytest.approx(z * statistics.stdev([4, 1, -2, 4, 5, 0, 1, 2]))
    assert out["F"]["safety_stock"] == pytest.approx(z * 7 * math.sqrt(2))


def test_selection_window_errors_scaled_to_the_holdout():
    # errors on days T−10 … T−3 (the selection windows) have mean |e| = 1, on the holdout from T−2
    # (3, 3) mean 3 → ρ = 3: the earlier errors ×3 → 6,0,6,0,6,0,6,0,3,3 → 2-day sums 6,6,6,6,6,6,6,3,6
    errors = [2, 0, 2, 0, 2, 0, 2, 0, 3, 3]
    res, held = residuals({"R": errors}), T - timedelta(days=2)
    assert policy.selection_scale(res, held) == pytest.approx(3.0)
    assert policy.selection_scale(res, None) == 1.0
    assert policy.selection_scale(residuals({"R": [3, 3, 3, 1, 1]}), held) == 1.0  # a better holdout: ρ stays 1
    args = (skus([{"sku": "R", "lead_time_days": 2}]), daily({"R": 10}), res, sigma_d({"R": (7.0, 50)}))
    z = norm.ppf(0.9)
    scaled = run(*args, service_level=0.9, holdout_start=held)["R"]
    assert scaled["safety_stock"] == pytest.approx(z * statistics.stdev([6, 6, 6, 6, 6, 6, 6, 3, 6]))
    as_is = run(*args, service_level=0.9)["R"]
    assert as_is["safety_stock"] == pytest.approx(z * statistics.stdev([2, 2, 2, 2, 2, 2, 2, 3, 6]))


def test_forecast_beyond_horizon_and_uneven_days():
    # horizon 5 days with P50 1,2,3,4,5 → forecast_daily 3; L = 3 → 1+2+3 = 6;
    # L + R = 10 → 15 + 5 days × 3 = 30; σ_d = 0 → SS 0.
    p = run(skus([{"sku": "U", "lead_time_days": 3}]), daily({"U": [1, 2, 3, 4, 5]}),
            sd=sigma_d({"U": (0.0, 30)}), st=stock({"U": (0, 0)}))["U"]
    assert p["forecast_daily"] == 3
    assert p["forecast_lead_time"] == 6 and p["reorder_point"] == 6
    assert p["order_up_to"] == 30 and p["recommended_qty"] == 30
    # forecast days before `today` are ignored: a forecast starting 2 days earlier, today = T
    q = run(skus([{"sku": "U", "lead_time_days": 3}]), daily({"U": [9, 9, 1, 2, 3, 4, 5]}, start=T - timedelta(2)),
            sd=sigma_d({"U": (0.0, 30)}))["U"]
    assert q["forecast_lead_time"] == 6


@pytest.mark.parametrize("on_hand,moq,pack,expected", [
    (0, None, None, 70),     # shortfall 70 → 70
    (65.5, None, None, 5),   # 4.5 → 5 (whole units)
    (46, None, 12, 24),      # 24 → 24 (already a whole number of packs)
    (45, None, 12, 36),      # 25 → 3 packs of 12
    (60, 50, 12, 60),        # 10 → MOQ 50 → ceil(50/12) = 5 packs = 60
    (0, 50, 12, 72),         # 70 → 6 packs = 72 (≥ MOQ already)
    (67, 10, 4, 12),         # 3 → MOQ 10 → 3 packs of 4 = 12
    (70, 50, 12, 0),         # nothing short → 0 (MOQ does not force an order)
    (90, 50, 12, 0),         # above order-up-to → 0
    (-10, None, 5, 80),      # backorders: 70 + 10 = 80 = 16 packs
])
def test_moq_and_pack_rounding(on_hand, moq, pack, expected):
    # d = 5/day, L = 7, R = 7, σ = 0 → order-up-to = 70; on_order 0
    p = run(skus([{"sku": "P", "lead_time_days": 7, "moq": moq, "pack_size": pack}]), daily({"P": 5}),
            sd=sigma_d({"P": (0.0, 60)}), st=stock({"P": (on_hand, 0)}))["P"]
    assert p["order_up_to"] == 70
    assert p["recommended_qty"] == expected


def test_order_by_dates():
    # d = 20, L = 9, σ_d = 5, 95% → ROP = 204.67
    sk = skus([{"sku": k, "lead_time_days": 9} for k in "ABCD"])
    out = run(sk, daily({"A": 20, "B": 20, "C": 20, "D": 0.01}), sd=sigma_d({k: (5.0, 99) for k in "ABC"} |
                                                                           {"D": (0.0, 99)}),
              st=stock({"A": (250, 50), "B": (150, 50), "C": (204, 0), "D": (100, 0)}), service_level=0.95)
    # A: position 300 → floor((300 − 204.67)/20) = floor(4.77) = 4 days → T + 4
    assert out["A"]["order_by"] == T + timedelta(days=4)
    # B: position 200 < 204.67 → order today
    assert out["B"]["order_by"] == T
    # C: 204 < 204.67 → today
    assert out["C"]["order_by"] == T
    # D: 0.01/day, σ 0 → ROP 0.09; floor((100 − 0.09)/0.01) = 9991 days → capped at 365
    assert out["D"]["order_by"] == T + timedelta(days=365)


def test_order_by_a_whole_number_of_days_stays_whole():
    # 0.1/day, L = 9, σ 0 → ROP 0.9; (5 − 0.9)/0.1 = 41 days exactly, though 0.1 is not exact in
    # binary and the float quotient falls just under 41: float noise must not cost a day
    out = run(skus([{"sku": "E", "lead_time_days": 9}]), daily({"E": 0.1}), sd=sigma_d({"E": (0.0, 99)}),
              st=stock({"E": (5, 0)}), service_level=0.95)["E"]
    assert out["reorder_point"] == pytest.approx(0.9)
    assert (5 - out["reorder_point"]) / out["forecast_daily"] < 41  # the noise is really there
    assert out["order_by"] == T + timedelta(days=41)


def test_flags():
    sk = skus([{"sku": k, "lead_time_days": 7} for k in
               ["risk", "low", "three", "over", "dead", "promo", "late_promo", "sku_promo", "fine", "empty"]])
    rates = {k: 10 for k in sk["sku"]} | {"dead": 0}
    st = stock({"risk": (30, 30),       # 60 < 70 over L → stock-out risk; cover 3 → low
                "low": (25, 100),       # position 125 ≥ 70: no risk; cover 2.5 → low
                "three": (30, 45),      # cover exactly 3 → low (≤); 75 ≥ 70 → no risk
                "over": (905, 0),       # cover 90.5 > 90 → overstock
                "dead": (5, 0),         # stock, nothing forecast → overstock (dead stock)
                "promo": (140, 0),      # cover 14 < 15 and a store-wide promotion in the horizon
                "late_promo": (140, 0),  # its own promotion starts after the horizon
                "sku_promo": (149, 0),  # cover 14.9, own promotion on the last forecast day
                "fine": (150, 0),       # cover 15: not < 15 → no promo flag
                "empty": (0, 500)})     # out of stock now (plenty on order): risk, cover 0 → low
    promos = pl.DataFrame({"sku": [None, "late_promo", "sku_promo", "fine"],
                           "start_date": [T + timedelta(days=5), T + timedelta(days=H), T + timedelta(days=H - 1),
                                          T - timedelta(days=1)]},
                          schema={"sku": pl.String, "start_date": pl.Date}).with_columns(end_date="start_date")
    out = run(sk, daily(rates), sd=sigma_d({k: (0.0, 50) for k in sk["sku"]}), st=st, promos=promos)
    flags = {k: r["flags"] for k, r in out.items()}
    assert flags["risk"] == ["stockout_risk", "low_cover_3d", "promo_cover_15d"]
    assert flags["low"] == ["low_cover_3d", "promo_cover_15d"]
    assert flags["three"] == ["low_cover_3d", "promo_cover_15d"]
    assert flags["over"] == ["overstock_90d"] and out["over"]["days_of_cover"] == 90.5
    assert flags["dead"] == ["overstock_90d"] and out["dead"]["days_of_cover"] is None
    assert flags["promo"] == ["promo_cover_15d"]
    assert flags["sku_promo"] == ["promo_cover_15d"]
    assert flags["fine"] == []
    assert flags["empty"] == ["stockout_risk", "low_cover_3d", "promo_cover_15d"]
    # without the store-wide promotion, late_promo has no flag (its promotion starts after the horizon)
    out2 = run(sk, daily(rates), sd=sigma_d({k: (0.0, 50) for k in sk["sku"]}), st=st, promos=promos.slice(1))
    assert out2["late_promo"]["flags"] == [] and out2["sku_promo"]["flags"] == ["promo_cover_15d"]
    assert out2["promo"]["flags"] == [] and out2["empty"]["flags"] == ["stockout_risk", "low_cover_3d"]


def test_cover_caps_and_negative_stock():
    out = run(skus([{"sku": "neg"}, {"sku": "huge"}]), daily({"neg": 2, "huge": 0.5}),
              sd=sigma_d({"neg": (0.0, 9), "huge": (0.0, 9)}), st=stock({"neg": (-4, 0), "huge": (10_000, 0)}))
    assert out["neg"]["days_of_cover"] == 0 and "low_cover_3d" in out["neg"]["flags"]
    assert out["huge"]["days_of_cover"] == 365


def test_no_sales_single_sale_only_returns():
    # no sales: zero forecast, σ_d 0 → nothing to order, no cover, no order-by
    # single sale: one day of 6 units in 30 in-stock days → σ_d = stdev([6, 0 × 29]);
    #   forecast 0.2/day, L 7, 90% (class C) → SS = z·σ_d·√7
    # only returns: no demand series and no forecast rows → as no sales (σ_d: Poisson √0 = 0)
    # new SKU with 1 in-stock day: σ_d unknown → Poisson √(forecast_daily) = √4 = 2
    one = statistics.stdev([6] + [0] * 29)
    out = run(skus([{"sku": "none", "abc": "C"}, {"sku": "one", "abc": "C"}, {"sku": "ret", "abc": "U"},
                    {"sku": "new", "abc": "C"}]),
              daily({"none": 0, "one": 0.2, "new": 4}),
              sd=sigma_d({"none": (0.0, 40), "one": (one, 30), "new": (None, 1)}),
              st=stock({"none": (0, 0), "one": (1, 0), "ret": (0, None), "new": (0, 0)}))
    for k in ("none", "ret"):
        r = out[k]
        assert (r["forecast_daily"], r["safety_stock"], r["reorder_point"], r["recommended_qty"]) == (0, 0, 0, 0)
        assert r["order_by"] is None and r["days_of_cover"] is None and r["flags"] == []
    assert out["ret"]["service_level"] == 0.9  # class U uses class C's level
    z = norm.ppf(0.9)
    assert out["one"]["safety_stock"] == pytest.approx(z * one * math.sqrt(7))
    assert out["one"]["reorder_point"] == pytest.approx(1.4 + z * one * math.sqrt(7))
    assert out["new"]["safety_stock"] == pytest.approx(z * 2 * math.sqrt(7))


def test_unknown_stock_warns_and_raises_no_stock_flag():
    with pytest.warns(policy.StockUnknownWarning, match="stock levels unknown"):
        out = compute(skus([{"sku": "X"}]), daily({"X": 3}), residuals({}), sigma_d({"X": (1.0, 50)}), None,
                      NO_PROMOS, Settings(), T)
    r = out.to_dicts()[0]
    assert r["on_hand"] is None and r["on_order"] is None and r["recommended_qty"] is None
    assert r["order_by"] is None and r["days_of_cover"] is None and r["flags"] == []
    assert r["reorder_point"] == pytest.approx(21 + norm.ppf(0.95) * math.sqrt(7))


def test_overrides_lead_time_and_service_level():
    sk = skus([{"sku": "X", "abc": "A", "lead_time_days": 9}])
    base = run(sk, daily({"X": 20}), sd=sigma_d({"X": (5.0, 99)}))["X"]
    assert base["service_level"] == 0.98 and base["lead_time_days"] == 9
    what_if = run(sk, daily({"X": 20}), sd=sigma_d({"X": (5.0, 99)}), lead_time_days=4, service_level=0.95)["X"]
    assert what_if["lead_time_days"] == 4 and what_if["service_level"] == 0.95
    assert what_if["reorder_point"] == pytest.approx(80 + norm.ppf(0.95) * 5 * 2)
    s = Settings(default_lead_time_days=12, review_period_days=0, service_levels={"A": 0.99, "C": 0.8})
    r = run(skus([{"sku": "Y", "abc": "B"}]), daily({"Y": 1}), sd=sigma_d({"Y": (0.0, 9)}), settings=s)["Y"]
    assert r["lead_time_days"] == 12 and r["service_level"] == 0.8 and r["order_up_to"] == 12


@pytest.mark.parametrize("kwargs,match", [
    ({"default_lead_time_days": -1}, "default_lead_time_days must be a number of days, 0 or more"),
    ({"review_period_days": -7}, "review_period_days must be a number of days, 0 or more"),
    ({"service_levels": {"A": 0.98, "C": 1.0}}, r"strictly between 0 and 1 \(e.g. 0.95"),
    ({"service_levels": {"C": 0}}, "strictly between 0 and 1"),
    ({"service_levels": {"A": 0.9}}, "must map ABC classes"),
    ({"low_stock_days": -1}, "low_stock_days"),
])
def test_bad_settings_rejected(kwargs, match):
    with pytest.raises(policy.BadSettings, match=match):
        Settings(**kwargs)


@pytest.mark.parametrize("row,kw,match", [
    ({"pack_size": 0}, {}, "products.pack_size must be 1 or more units; SKU\\(s\\) X .*upload it again"),
    ({"pack_size": -6}, {}, "pack_size must be 1 or more"),
    ({"moq": -1}, {}, "products.moq must be 0 or more units"),
    ({"lead_time_days": -3}, {}, "products.lead_time_days must be 0 or more days"),
    ({}, {"lead_time_days": -1}, "lead time must be a number of days, 0 or more"),
    ({}, {"service_level": 1.0}, "service level must be a fraction strictly between 0 and 1"),
    ({}, {"service_level": 0}, "strictly between 0 and 1"),
    ({}, {"service_level": (0.9, 1.5)}, "strictly between 0 and 1"),
])
def test_bad_inputs_rejected(row, kw, match):
    with pytest.raises(policy.BadSettings, match=match):
        run(skus([{"sku": "X", **row}]), daily({"X": 1}), **kw)


def test_settings_from_warehouse(tmp_db):
    con = warehouse.connect(tmp_db)
    assert Settings.from_warehouse(con) == Settings()
    warehouse.set_setting(con, "review_period_days", 14)
    warehouse.set_setting(con, "service_levels", {"A": 0.99, "B": 0.97, "C": 0.9})
    s = Settings.from_warehouse(con)
    assert s.review_period_days == 14 and s.service_levels["B"] == 0.97
    warehouse.set_setting(con, "default_lead_time_days", -2)
    with pytest.raises(policy.BadSettings, match="default_lead_time_days"):
        Settings.from_warehouse(con)
    con.close()


@dataclass
class FakeRun:  # the Forecast interface plan() reads: .daily, .skus, .residuals
    daily: pl.DataFrame
    skus: pl.DataFrame
    residuals: pl.DataFrame


def _shop(con, with_stock: bool = True) -> None:
    """History 2026-02-01 … 2026-03-01: SKU K sells 2, 4, 2, 4, … a day (σ_d of those days),
    SKU S sold once (5 units), SKU RET has only a return line, SKU Z is in products only."""
    lines = []
    for i in range(29):
        day = date(2026, 2, 1) + timedelta(days=i)
        lines.append((f"o{i}", 1, day, "paid", "K", "Kettle", 2.0 if i % 2 == 0 else 4.0, False))
    lines.append(("s1", 1, date(2026, 2, 10), "paid", "S", "Spoon", 5.0, False))
    lines.append(("c1", 1, date(2026, 2, 11), "cancelled", "K", "Kettle", 50.0, False))
    lines.append(("r1", 1, date(2026, 2, 12), "refunded", "RET", "Returned", 0.0, True))
    for o, n, d, st, sku, name, q, ret in lines:
        con.execute("insert into order_lines (order_id, line_no, ordered_at, status, sku, product_name, quantity, "
                    "unit_price, is_return) values (?, ?, ?, ?, ?, ?, ?, 10, ?)", [o, n, d, st, sku, name, q, ret])
    con.execute("insert into products (sku, name, lead_time_days, moq, pack_size) values "
                "('K', 'Kettle (products)', 4, 10, 6), ('Z', 'Zebra', null, null, null)")
    if with_stock:
        con.execute("insert into inventory (snapshot_date, sku, location, on_hand, on_order) values "
                    "('2026-02-27', 'K', 'north', 99, 0), ('2026-03-01', 'K', 'north', 5, 2), "
                    "('2026-03-01', 'K', 'south', 3, 0), ('2026-03-01', 'S', '', 40, null), "
                    "('2026-03-05', 'K', 'north', 1000, 0)")  # after today: ignored
    con.execute("insert into promotions (name, start_date, end_date, sku) values ('spring', '2026-03-10', "
                "'2026-03-12', 'K')")


def _run() -> FakeRun:
    sk = pl.DataFrame({"sku": ["K", "S", "RET", "Z"], "abc": ["A", "C", "U", "U"]})
    return FakeRun(daily({"K": 3, "S": 0.1, "RET": 0, "Z": 0}), sk, residuals({}))


def test_plan_on_a_warehouse(tmp_db):
    con = warehouse.connect(tmp_db)
    _shop(con)
    out = {r["sku"]: r for r in policy.plan(_run(), con).to_dicts()}
    k = out["K"]
    # K: σ_d over its 29 in-stock days (alternating 2, 4; the cancelled line is not demand); no residuals
    # → fallback σ_d·√L, L = 4 (products), class A 98%
    sd_k = statistics.stdev([2.0 if i % 2 == 0 else 4.0 for i in range(29)])
    ss = norm.ppf(0.98) * sd_k * 2
    assert k["name"] == "Kettle (products)" and k["lead_time_days"] == 4 and k["service_level"] == 0.98
    assert k["safety_stock"] == pytest.approx(ss)
    assert k["reorder_point"] == pytest.approx(12 + ss) and k["order_up_to"] == pytest.approx(33 + ss)
    # latest snapshot per location on or before today, summed: north 5 (on order 2) + south 3
    assert (k["on_hand"], k["on_order"]) == (8, 2)
    # shortfall 33 + 2.33 − 10 = 25.3 → ≥ MOQ 10 → ceil(25.3/6) = 5 packs = 30
    assert k["recommended_qty"] == 30
    assert k["days_of_cover"] == pytest.approx(8 / 3)
    # stock 8 + 2 < 12 over L → risk; cover 2.67 ≤ 3; own promotion on 10 March, cover < 15
    assert k["flags"] == ["stockout_risk", "low_cover_3d", "promo_cover_15d"]
    assert k["order_by"] == T
    s = out["S"]
    # S: one sale of 5 on 10 Feb, series from then to 1 Mar = 20 days → σ_d = stdev([5, 0 × 19])
    assert s["safety_stock"] == pytest.approx(norm.ppf(0.9) * statistics.stdev([5] + [0] * 19) * math.sqrt(7))
    assert s["on_hand"] == 40 and s["on_order"] is None and s["days_of_cover"] == 365
    assert s["name"] == "Spoon"
    for sku in ("RET", "Z"):  # only a return / never sold: no series, nothing forecast
        assert out[sku]["safety_stock"] == 0 and out[sku]["forecast_daily"] == 0
        assert out[sku]["on_hand"] is None and out[sku]["recommended_qty"] is None
    assert out["Z"]["name"] == "Zebra" and out["RET"]["name"] == "Returned"
    what_if = {r["sku"]: r for r in policy.plan(_run(), con, service_level=0.95, lead_time_days=10).to_dicts()}
    assert what_if["K"]["lead_time_days"] == 10 and what_if["K"]["forecast_lead_time"] == 30
    assert what_if["K"]["safety_stock"] == pytest.approx(norm.ppf(0.95) * sd_k * math.sqrt(10))

    # a run with as_of: today = the day after; stock as of then (north's 27 Feb snapshot only)
    earlier = _run()
    earlier.as_of = date(2026, 2, 26)
    k2 = policy.plan(earlier, con).filter(pl.col("sku") == "K").to_dicts()[0]
    assert (k2["on_hand"], k2["on_order"]) == (99, 0) and k2["order_by"] is not None
    assert k2["order_by"] > date(2026, 2, 27)

    run_id = 7
    n = policy.store_plan(con, run_id, policy.plan(_run(), con))
    stored = con.execute("select sku, flags, recommended_qty, order_by from restock_plan where run_id = 7 "
                         "order by sku").fetchall()
    assert n == 4 and stored[0] == ("K", "stockout_risk,low_cover_3d,promo_cover_15d", 30.0, T)
    assert stored[1][0] == "RET" and stored[1][1] == ""
    con.close()


def test_plan_without_inventory_says_stock_unknown(tmp_db):
    con = warehouse.connect(tmp_db)
    _shop(con, with_stock=False)
    with pytest.warns(policy.StockUnknownWarning, match="stock levels unknown"):
        out = policy.plan(_run(), con)
    assert out["on_hand"].null_count() == out.height and out["flags"].list.len().sum() == 0
    assert out.filter(pl.col("sku") == "K")["reorder_point"][0] > 12
    con.close()


def history(units: dict[str, list[float]]) -> pl.DataFrame:
    """The demand series of the days before T (the last value = the day before T), all in stock."""
    rows = [{"sku": s, "date": T - timedelta(days=len(u) - i), "units": float(v), "in_stock": True}
            for s, u in units.items() for i, v in enumerate(u)]
    return pl.DataFrame(rows, schema={"sku": pl.String, "date": pl.Date, "units": pl.Float64, "in_stock": pl.Boolean})


def test_pooled_tail_by_hand():
    """L = 1, R = 1: P sells 2 a day and once 12, on day 5 of 10 (forecast 2 a day, so one error of
    −10); Q sells 1 a day, forecast exactly. Windows of 2 days start on days 2–9 of each (day 1 has
    no earlier day, so no rate r_s). A window's level is S = ⌈(f_lr + 2·r_s)/2 + k·r_s⌉; for P's
    windows on days 2–5 r_s = 2, f_lr = 4, so S = ⌈4 + 2k⌉; Q's S = ⌈2 + k⌉. Units lost in the
    review period (day s + 1): (demand − max(S − x_l, order placed on s))⁺, the order = the day
    before s's units less what the window ending then lost. P's window on day 4 (x_l = 2, then 12,
    order 2) loses 14 − S; its window on day 5 (x_l = 12, then 2, order 2) loses nothing — the
    order placed on the big day arrives for the next; no other window loses. Review periods' demand:
    P's days 3–10 = 26, Q's 8, 34 in all; at 95% the budget is 1.7 units.
    Spikiness = the largest day before s / r_s: 1 for P's days 2–5 and all of Q's, 12/r_s ≥ 3 for
    P's days 6–9. Terciles of the 16 windows in (sku, day) order: P 2–5 and Q 2–3 (group 0), Q 4–8
    (1), Q 9 and P 6–9 (2); the cut points are 1 and 1. Only group 0 loses: its cheapest k on the grid
    is the first with 14 − ⌈4 + 2k⌉ ≤ 1.7, k = 4.25 (⌈12.5⌉ = 13); groups 1 and 2 need k = 0.
    Today r_P = 30/10 = 3 and P's spikiness 12/3 = 4 > 1 (group 2: k = 0, its rate already holds
    the big day); Q's is 1 (group 0). Planned demand over n days = (forecast + n·r)/2."""
    p = [2.0] * 10
    p[4] = 12.0
    errors = [0.0] * 10
    errors[4] = -10.0
    sk = skus([{"sku": "P", "lead_time_days": 1}, {"sku": "Q", "lead_time_days": 1}])
    dl = daily({"P": 2.0, "Q": 1.0})
    res = residuals({"P": errors, "Q": [0.0] * 10})
    hist = history({"P": p, "Q": [1.0] * 10})
    settings = Settings(review_period_days=1)
    out = run(sk, dl, res, sigma_d({"P": (3.0, 10), "Q": (0.0, 10)}), settings=settings, service_level=0.95,
              history=hist)
    assert 14 - math.ceil(4 + 2 * 4.0) > 0.05 * 34 >= 14 - math.ceil(4 + 2 * 4.25)
    assert out["P"]["safety_stock"] == 0
    assert out["Q"]["safety_stock"] == pytest.approx(4.25 * 1)
    assert out["P"]["order_up_to"] == pytest.approx((2 * 2 + 2 * 3) / 2)
    assert out["P"]["reorder_point"] == pytest.approx((2 + 1 * 3) / 2)
    assert out["P"]["forecast_lead_time"] == pytest.approx(2)  # the forecast's own, not the blend
    assert out["Q"]["order_up_to"] == pytest.approx((2 + 2) / 2 + 4.25)
    # without the history (the tail's input), the plan is the error-based one
    plain = run(sk, dl, res, sigma_d({"P": (3.0, 10), "Q": (0.0, 10)}), settings=settings, service_level=0.95)
    assert plain["P"]["safety_stock"] == pytest.approx(norm.ppf(0.95) * statistics.stdev(errors))
    assert plain["Q"]["safety_stock"] == 0
    # at 99% the budget is 0.34 units: 14 − ⌈4 + 2k⌉ = 0 first at k = 4.75 (⌈13.5⌉ = 14)
    hi = run(sk, dl, res, sigma_d({"P": (3.0, 10), "Q": (0.0, 10)}), settings=settings, service_level=0.99,
             history=hist)
    assert hi["Q"]["safety_stock"] == pytest.approx(4.75) and hi["P"]["safety_stock"] == 0
    # a forecast that never falls short needs no tail; R = 0 has no review period to protect
    exact = run(sk, dl, residuals({"P": [0.0] * 10, "Q": [0.0] * 10}), settings=settings, service_level=0.95,
                history=history({"P": [2.0] * 10, "Q": [1.0] * 10}))
    assert exact["P"]["safety_stock"] == 0 and exact["Q"]["safety_stock"] == 0
    none = run(sk, dl, res, sigma_d({"P": (3.0, 10), "Q": (0.0, 10)}), settings=Settings(review_period_days=0),
               service_level=0.95, history=hist)
    assert none["P"]["safety_stock"] == pytest.approx(norm.ppf(0.95) * statistics.stdev(errors))  # z·σ_1 again
    assert none["Q"]["safety_stock"] == 0


def test_pooled_tail_position_carries_an_earlier_level_by_hand():
    """L = 1, R = 1: V sells 2, 2, 6, 2, 2, 2, 2, 2, 4, 2 on days 1–10 and the backtest forecast is
    exact but for +6 on day 7 and −4 on day 9. Windows of 2 days start on days 2–9 (r_s = the mean
    of the days before s). Levels S = ⌈(f_lr + 2·r_s)/2 + k·r_s⌉: at k = 0, S_6 = ⌈(10 + 5.6)/2⌉ = 8,
    S_7 = ⌈(10 + 5.33)/2⌉ = 8, S_8 = ⌈(2 + 5.14)/2⌉ = 4. Window 8's review day 9 asks 4 units.
    Its own level leaves max(S_8 − x_l, the order placed on day 8 = day 7's 2 units) = 2 → 2 lost;
    but the level fell: the position after day 8's review is at least window 7's 8 less day 7's 2
    sold since = 6 (stock is not given back), so 6 − 2 = 4 on day 9: nothing lost.
    The only other loss is window 2 (day 3 asks 6; S_2 = 6 + 2k, x_l = 2, order 2): 2 at k = 0,
    1 at k = 0.25 (S_2 = 7). Review days' demand 22, budget at 95% 1.1 units. Spikiness (the peak
    before s / r_s): 1, 1, 1.8 for windows 2–4 (group 0), 2, 2.14, 2.25 for 5–7 (group 1), 2.33, 2.4
    for 8–9 (group 2); cut points 1.8 and 2.25. The cheapest choice: k_0 = 0.25 and, as window 8
    loses nothing, k_2 = 0 (judged on its own level alone, window 8 would need k_2 = 0.75: S_8 = 6;
    safety stock 0.75 · 2.6 = 1.95). Today r = 26/10 = 2.6 and the spikiness 6/2.6 = 2.31 > 2.25:
    group 2, no safety stock; order-up-to = (4 + 2 · 2.6)/2 = 4.6."""
    units = [2.0, 2, 6, 2, 2, 2, 2, 2, 4, 2]
    errors = [0.0, 0, 0, 0, 0, 0, 6, 0, -4, 0]
    assert math.ceil((2 + 2 * 18 / 7) / 2 + 0.5 * 18 / 7) == 5 and math.ceil((2 + 2 * 18 / 7) / 2 + 0.75 * 18 / 7) == 6
    out = run(skus([{"sku": "V", "lead_time_days": 1}]), daily({"V": 2.0}), residuals({"V": errors}),
              sigma_d({"V": (1.0, 10)}), settings=Settings(review_period_days=1), service_level=0.95,
              history=history({"V": units}))["V"]
    assert out["safety_stock"] == 0
    assert out["order_up_to"] == pytest.approx((4 + 2 * 2.6) / 2)


def test_pooled_tail_promotion_windows_by_hand():
    """The hand case above with promotions. A store-wide sale on days 3–5 (of the 10) touches the
    2-day windows starting on days 2–5 of each SKU: 8 windows, enough to judge on their own. Their
    review periods' demand: P's days 3–6 = 2 + 2 + 12 + 2, Q's 4 × 1, 22 in all; at 95% their
    budget is 1.1 units. Only P's window on day 4 loses (14 − ⌈4 + 2k⌉), so k_p = 4.25 (a loss of
    1; k = 4 loses 2). P has its own deal today: max(k_p, its tercile's 0) = 4.25 days of its rate
    3; Q has no promotion ahead and keeps its tercile's 4.25 days of its rate 1. A sale on days 3–4
    only touches 6 windows: too few, and P's deal today changes nothing."""
    p = [2.0] * 10
    p[4] = 12.0
    errors = [0.0] * 10
    errors[4] = -10.0
    day = lambda d: T - timedelta(days=11 - d)  # day d of the 10 (day 10 = the day before T)
    promos = lambda last: pl.DataFrame({"sku": [None, "P"], "start_date": [day(3), T], "end_date": [day(last), T]},
                                       schema={"sku": pl.String, "start_date": pl.Date, "end_date": pl.Date})
    sk = skus([{"sku": "P", "lead_time_days": 1}, {"sku": "Q", "lead_time_days": 1}])
    args = (sk, daily({"P": 2.0, "Q": 1.0}), residuals({"P": errors, "Q": [0.0] * 10}),
            sigma_d({"P": (3.0, 10), "Q": (0.0, 10)}))
    kw = dict(settings=Settings(review_period_days=1), service_level=0.95, history=history({"P": p, "Q": [1.0] * 10}))
    assert 14 - math.ceil(4 + 2 * 4.0) > 0.05 * 22 >= 14 - math.ceil(4 + 2 * 4.25)
    out = run(*args, promos=promos(5), **kw)
    assert out["P"]["safety_stock"] == pytest.approx(4.25 * 3)
    assert out["P"]["order_up_to"] == pytest.approx((2 * 2 + 2 * 3) / 2 + 4.25 * 3)
    assert out["Q"]["safety_stock"] == pytest.approx(4.25 * 1)
    few = run(*args, promos=promos(4), **kw)
    assert few["P"]["safety_stock"] == 0 and few["Q"]["safety_stock"] == pytest.approx(4.25)


def test_several_service_levels_at_once_equal_one_at_a_time():
    """compute with a tuple of levels (what the replay uses): one row per SKU and level, the same
    numbers as a call per level — here on the hand case's pooled tail and a SKU without one."""
    p = [2.0] * 10
    p[4] = 12.0
    sk = skus([{"sku": "P", "lead_time_days": 1}, {"sku": "Q", "lead_time_days": 1}, {"sku": "N"}])
    args = (sk, daily({"P": 2.0, "Q": 1.0, "N": 0.5}),
            residuals({"P": [0.0] * 4 + [-10.0] + [0.0] * 5, "Q": [0.0] * 10, "N": [0.3, -0.2] * 8}),
            sigma_d({"P": (3.0, 10), "Q": (0.0, 10), "N": (0.4, 16)}), stock({"P": (3, 0), "Q": (1, 1), "N": (0, 0)}),
            NO_PROMOS, Settings(review_period_days=1), T)
    hist = history({"P": p, "Q": [1.0] * 10})
    both = compute(*args, (0.95, 0.99), None, hist)
    assert both.height == 6 and both.columns == list(policy.COLUMNS)
    for level in (0.95, 0.99):
        one = compute(*args, level, None, hist).sort("sku")
        got = both.filter(pl.col("service_level") == level).sort("sku")
        assert got.equals(one)
    hi = dict(both.filter(pl.col("service_level") == 0.99).select("sku", "safety_stock").iter_rows())
    lo = dict(both.filter(pl.col("service_level") == 0.95).select("sku", "safety_stock").iter_rows())
    assert hi["Q"] > lo["Q"] and hi["N"] > lo["N"] and hi["P"] == lo["P"] == 0


def test_robust_rate_keeps_the_long_window_and_skips_stock_out_days():
    """r = max(28-day mean, 365-day mean) of in-stock days: a SKU whose big orders came months ago
    keeps them in its rate; censored days count neither as zero nor as demand; a new SKU's days
    before its first sale count as days without sales."""
    days = [T - timedelta(days=i) for i in range(1, 201)]
    units = [0.0 if i < 100 else 5.0 for i in range(1, 201)]      # quiet for 100 days, 5/day before
    h = pl.DataFrame({"sku": "A", "date": days, "units": units, "in_stock": [True] * 200})
    h = pl.concat([h, pl.DataFrame({"sku": "B", "date": days[:30], "units": [4.0] * 30,
                                    "in_stock": [i % 2 == 0 for i in range(30)]})])
    h = pl.concat([h, pl.DataFrame({"sku": "C", "date": days[:10], "units": [6.0] * 10, "in_stock": [True] * 10})])
    h = h.with_columns(pl.col("units").cast(pl.Float64))
    rate = dict(policy.robust_rate(h, T).iter_rows())
    assert rate["A"] == pytest.approx(5.0 * 101 / 200)   # the 365-day mean (200 days of data) beats the 28-day 0
    assert rate["B"] == pytest.approx(4.0 * 14 / 14)     # 14 in-stock days of the last 28, 4 units each
    assert rate["C"] == pytest.approx(6.0 * 10 / 28)     # launched 10 days ago: 18 days without sales before
    assert policy.robust_rate(h.clear(), T).height == 0  # no history (no sales yet): no rate, no tail


def test_window_rates_are_the_robust_rate_of_each_day():
    """window_rates' rolling sums give, on every day d, the robust rate a plan made on d would use:
    the pandas recomputation from the days before d (stock-out days skipped), over 400 days."""
    import numpy as np

    from tests.forecast_helpers import robust_rate as by_hand
    rng = np.random.default_rng(7)
    n = 400
    days = [T - timedelta(days=n - i) for i in range(n)]
    h = pl.DataFrame({"sku": ["A"] * n + ["B"] * n, "date": days * 2,
                      "units": rng.poisson(2.0, 2 * n) * (1 + 9 * (rng.random(2 * n) < 0.03)),
                      "in_stock": rng.random(2 * n) > 0.15}).with_columns(pl.col("units").cast(pl.Float64))
    h = pl.concat([h, pl.DataFrame({"sku": "C", "date": days[300:], "units": [3.0] * 100,  # launched on day 300
                                    "in_stock": [True] * 100})])
    got = {(r["sku"], r["date"]): r["rate"] for r in policy.window_rates(h, h["date"].min()).iter_rows(named=True)}
    for d in [days[0], days[1], days[20], days[27], days[28], days[29], days[200], days[364], days[365], days[399]]:
        for sku in ("A", "B"):
            assert got[(sku, d)] == pytest.approx(by_hand(h, sku, d), abs=1e-12), (sku, d)
    for d in [days[300], days[301], days[320], days[399]]:
        assert got[("C", d)] == pytest.approx(by_hand(h, "C", d), abs=1e-12), d
    assert got[("C", days[320])] == pytest.approx(3.0 * 20 / 28)
    assert got[("A", days[0])] == 0  # nothing before the first day


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.9, 0.95, 0.98]), st.integers(1, 5), st.integers(1, 7))
def test_pooled_tail_matches_an_independent_recomputation(seed, level, L, R):
    """Random lumpy demand and forecast errors for a few SKUs, some days missing (censored), a few
    promotions (store-wide or one SKU's, in the backtest and ahead, sometimes none) and a holdout start
    (sometimes none): the plan's pooled tail and order-up-to level equal the pandas window-by-window
    recomputation (each window's rate from the days before it, each window's position from the earlier
    windows of its chain, the errors scaled by ρ), its groups' days found by trying every combination."""
    import numpy as np

    from tests.forecast_helpers import (pooled_windows, promo_ahead, robust_rate, selection_scaled, sku_days,
                                        tail_days)
    rng = np.random.default_rng(seed)
    names = [f"S{i}" for i in range(4)]
    units = {s: (rng.poisson(1.5, 60) * (1 + 20 * (rng.random(60) < 0.05))).astype(float).tolist() for s in names}
    hist = history(units)
    fc = {s: rng.gamma(2.0, 1.0, 40) for s in names}
    errors = {s: (fc[s] - np.array(units[s][-40:])).tolist() for s in names}
    res = residuals(errors)
    res = res.filter(pl.Series(rng.random(res.height) > 0.1))  # censored days: no residual
    first = [T + timedelta(days=int(d)) for d in rng.integers(-45, 8, 4)]
    who = [None if rng.random() < 0.4 else str(rng.choice(names)) for _ in first]  # None: store-wide
    last = [d + timedelta(days=int(rng.integers(0, 10))) for d in first]
    promos = pl.DataFrame({"sku": who, "start_date": first, "end_date": last},
                          schema={"sku": pl.String, "start_date": pl.Date, "end_date": pl.Date})
    promos = promos.head(int(rng.integers(0, 5)))  # sometimes none
    sk = skus([{"sku": s, "lead_time_days": L} for s in names])
    held = None if rng.random() < 0.3 else T - timedelta(days=int(rng.integers(5, 35)))  # the run's holdout
    args = (sk, daily({s: 1.0 for s in names}), res, sigma_d({s: (0.0, 60) for s in names}))
    out = run(*args, promos=promos, settings=Settings(review_period_days=R), service_level=level, history=hist,
              holdout_start=held)
    plain = run(*args, promos=promos, settings=Settings(review_period_days=R), service_level=level,
                holdout_start=held)  # z·σ_L alone
    w = pooled_windows(selection_scaled(res, held), hist, {s: L for s in names}, R, T, promos)
    tail = len(w) >= policy.MIN_WINDOWS and (w["x_lr"] - w["x_l"]).sum() > 0
    pick, cuts, k_promo = tail_days(w, level, policy.K_GRID) if tail else (None, None, None)
    for s in names:
        r = robust_rate(hist, s, T)
        has = tail and r > 0
        k = sku_days(pick, cuts, hist, s, T, k_promo, promo_ahead(promos, s, T, L + R)) if has else None
        want = k * r if has else plain[s]["safety_stock"]  # replaces z·σ_L
        assert out[s]["safety_stock"] == pytest.approx(want, rel=1e-6, abs=1e-9)
        d_lr = plain[s]["order_up_to"] - plain[s]["safety_stock"]  # the forecast over L + R
        planned = (d_lr + (L + R) * r) / 2 if has else d_lr
        assert out[s]["order_up_to"] == pytest.approx(planned + want, rel=1e-6, abs=1e-9)
