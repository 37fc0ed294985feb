"""Every KPI on random warehouses, against an independent pandas recomputation of DESIGN §3.

Hypothesis draws a shop (up to 150 orders with 1–3 lines, every status, return documents, customers
including none, two channels, ~60 days of 2024 around 29 February and optionally the same days of
2023 so that year-ago comparisons exist; daily traffic with or without sessions/add-to-cart/
bounces columns, page rows that are not channel traffic; NPS answers 0–10) and a query (range,
channels, SKUs, categories). The rows go into a fresh warehouse by SQL inserts;
tests/metrics_helpers.py recomputes every KPI with its previous-period and year-ago values, delta
and delta % straight from the rows (it never calls metrics/).

The KPIs are checked in groups (one test each), so that a defect in one group does not stop the
others being checked.

Hypothesis runs a fixed, derandomized set of examples without shrinking (shrinking DuckDB
warehouses takes minutes); a failure prints make_shop's arguments (``make_shop(**args)`` rebuilds
the shop), the query and every disagreement as (kpi, field, expected, actual).
"""
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from metrics.compute import kpis
from metrics.filters import Filters
from tests import metrics_helpers as h

BASE, DAYS = date(2024, 2, 1), 60          # 2024-02-01 .. 2024-03-31, with 29 February
STATUSES = ["paid", "paid", "partially_refunded", "refunded", "cancelled", "pending"]
CUSTOMERS = [None, None, None] + [f"c{i}" for i in range(1, 16)]
PRODUCTS = [h.product("A", "x", 2.0), h.product("B", "y", None), h.product("C", "x", 5.0)]  # D: no product row
PROPS = settings(max_examples=12, derandomize=True, deadline=None, database=None,
                 phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GROUPS = {
    "sales": ["gmv", "net_sales", "orders", "buyers", "aov", "sales_per_buyer", "units", "refund_rate"],
    "skus": ["active_skus"],
    "margin": ["gross_margin"],
    "customers": ["repurchase_rate", "returning_customer_rate", "new_customer_share"],
    "traffic": h.TRAFFIC_KPIS + h.BOTH_KPIS,
    "nps": h.NPS_KPIS,
}
assert sorted(k for g in GROUPS.values() for k in g) == sorted(h.KEYS)


def make_shop(seed: int, n_orders: int, n_traffic: int, n_answers: int, last_year: bool,
              has: tuple[bool, bool, bool]) -> dict[str, list[dict]]:
    """A random shop. Hypothesis draws the seed and the sizes; the rows come from random.Random(seed),
    which keeps big, dense shops cheap to draw and every example reproducible from its arguments."""
    rnd = random.Random(seed)

    def day() -> date:
        d = BASE + timedelta(days=rnd.randrange(DAYS))
        return h.year_back(d) if last_year and rnd.random() < 0.35 else d

    lines = []
    for i in range(n_orders):
        at = datetime.combine(day(), datetime.min.time()) + timedelta(hours=rnd.randrange(24),
                                                                      minutes=rnd.choice([0, 59]))
        customer, channel = rnd.choice(CUSTOMERS), rnd.choice(["web", "app"])
        is_return = rnd.random() < 0.12                        # a return document (UCI C invoice)
        status = "refunded" if is_return else rnd.choice(STATUSES)
        for j in range(rnd.randint(1, 3)):
            price, qty = rnd.choice([0.5, 3.0, 12.5, 40.0, 99.99]), rnd.randint(1, 4)
            lines.append(h.line(
                f"{'R' if is_return else 'O'}{i}", j + 1, at, customer, channel, status,
                rnd.choice(["A", "B", "C", "D", None]), 0 if is_return else qty, price,
                discount=rnd.choice([0.0, 0.0, 1.0, 5.5]),
                refund=price * qty if is_return else rnd.choice([0.0, 0.0, 0.0, 2.0, 30.0]),
                shipping=rnd.choice([0.0, 4.9]), unit_cost=rnd.choice([None, None, 1.0, 6.0]), is_return=is_return))
    traffic, seen = [], set()
    for _ in range(n_traffic):
        d, channel, page = day(), rnd.choice(["web", "app"]), rnd.choice(["", "", "", "/a"])
        if (d, channel, page) in seen:
            continue
        seen.add((d, channel, page))
        visitors = rnd.randint(0, 60)
        sessions = visitors + rnd.randint(0, 20)
        traffic.append(h.visit(d, channel, visitors, sessions if has[0] else None, visitors * rnd.randint(1, 4),
                               rnd.randint(0, visitors) if has[1] else None,
                               rnd.randint(0, sessions) if has[2] else None, page=page))
    nps = [h.answer(f"n{i}", datetime.combine(day(), datetime.min.time()) + timedelta(hours=rnd.randrange(24)),
                    rnd.randint(0, 10), rnd.choice(["web", "app", None])) for i in range(n_answers)]
    return {"lines": lines, "traffic": traffic, "nps": nps, "products": PRODUCTS}


# The arguments of make_shop (a failing example prints these, not 100 kB of rows).
shop_args = st.fixed_dictionaries(dict(seed=st.integers(0, 2 ** 32 - 1), n_orders=st.integers(0, 150),
                  n_traffic=st.integers(0, 120), n_answers=st.integers(0, 60), last_year=st.booleans(),
                  has=st.tuples(st.booleans(), st.booleans(), st.booleans())))


@st.composite
def queries(draw):
    start = BASE + timedelta(days=draw(st.integers(0, DAYS - 1)))
    end = start + timedelta(days=draw(st.integers(0, 45)))
    channels = draw(st.sampled_from([(), (), ("web",), ("app",), ("web", "app")]))
    skus, categories = draw(st.sampled_from([((), ())] * 3 + [(("A",), ()), (("A", "D"), ()), ((), ("x",)),
                                                              (("A", "B"), ("x",))]))
    return Filters(start, end, channels, skus, categories)


@pytest.mark.parametrize("group", list(GROUPS))
@PROPS
@given(args=shop_args, f=queries())
def test_kpis_match_the_recomputation(group, args, f):
    shop = make_shop(**args)
    con = h.warehouse_with(**shop)
    try:
        got = kpis(con, f, GROUPS[group])
    finally:
        con.close()
    exp = h.expected(h.frames(**shop), f.start, f.end, f.channels, f.skus, f.categories)
    # Traffic is channel-level: a product slice has no traffic of its own (helpers' docstring), so
    # traffic-based KPIs are compared on queries without a product filter only.
    keys = [k for k in GROUPS[group] if not (f.by_product and "traffic" in h.SOURCES[k])]
    assert h.mismatches(exp, got, keys) == []


@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(scores=st.lists(st.integers(0, 10), max_size=60), channel=st.sampled_from([(), ("web",)]))
def test_nps_and_its_interval_match_scipy(scores, channel):
    """NPS = %promoters − %detractors; 95% interval = NPS ± z(0.975)·sd(+1/0/−1)/√n, z from scipy."""
    from scipy.stats import norm
    answers = [h.answer(f"r{i}", datetime(2024, 3, 1 + i % 7, 12), s, "web" if i % 3 else "app")
               for i, s in enumerate(scores)]
    con = h.warehouse_with(nps=answers)
    try:
        got = kpis(con, Filters(date(2024, 3, 1), date(2024, 3, 7), channel),
                   ["nps", "nps_responses", "nps_ci_low", "nps_ci_high"])
    finally:
        con.close()
    kept = [a["score"] for a in answers if not channel or a["channel"] in channel]
    n = len(kept)
    assert got["nps_responses"].value == n
    if n == 0:
        assert [got[k].value for k in ("nps", "nps_ci_low", "nps_ci_high")] == [None, None, None]
        return
    p = sum(s >= 9 for s in kept) / n
    d = sum(s <= 6 for s in kept) / n
    score = [1.0 if s >= 9 else -1.0 if s <= 6 else 0.0 for s in kept]
    mean = sum(score) / n
    var = sum((x - mean) ** 2 for x in score) / n
    half = norm.ppf(0.975) * (var / n) ** 0.5
    assert got["nps"].value == pytest.approx(100 * (p - d), abs=1e-9)
    assert got["nps_ci_low"].value == pytest.approx(100 * (mean - half), abs=1e-9)
    assert got["nps_ci_high"].value == pytest.approx(100 * (mean + half), abs=1e-9)
    assert got["nps_ci_low"].value <= got["nps"].value <= got["nps_ci_high"].value
