"""A realistic demo shop, loaded through the same ingestion pipeline users use (DESIGN §2).

    python -m data.demo [--db PATH] [--seed N] [--scale S] [--json]

"Storeboard Demo Shop" sells homeware, textiles, outdoor, beauty and small electronics in EUR
over four channels (web, app, marketplace, social). Two years of history end yesterday, so the
dashboards always show recent data. Everything is generated in bulk with NumPy/Polars (the only
Python loop steps through the days of the stock simulation, every SKU at once), written as export
files into a temporary folder and loaded with :func:`data.ingest.ingest_file` — kinds detected
from the headers, as for an upload — and the warehouse is then flagged with the setting
``is_demo`` (plus ``demo``: seed, scale, first and last day). The same ``--seed`` on the same day
gives byte-identical files, hence the same warehouse; ``--scale`` multiplies SKUs, customers,
orders, traffic and NPS answers (the experiments keep their size, so their verdicts do not
depend on it).

What the data shows (each property is a choice documented here, and tested in tests/test_demo.py):

- products.csv: ≈300 SKUs at scale 1 in five categories, lognormal prices around each product
  line's base price, unit costs at 35–68% of price (gross margin ≈ 45% after discounts and
  refunds), lead times 5–20 days by supplier, MOQ and pack sizes; 10% of SKUs launch during the
  second year (short histories);
- demand: traffic grows ≈ 18% a year with weekly (per channel) and yearly seasonality (Christmas
  peak; outdoor in summer, textiles in winter); SKU popularity is heavy-tailed and 35% of SKUs
  are slow movers selling on a few days a month (intermittent demand);
- promotions.csv: store-wide sales (winter, spring, summer, Black Friday; a flash sale when none
  is coming up) and per-SKU deals, some starting in the coming weeks; uplift in traffic,
  conversion and SKU demand while they run, and their discount on the order lines;
- inventory.csv: a daily replenishment simulation (reorder point from the last 28 days of demand,
  order-up-to, MOQ, pack size, supplier lead time, occasional late deliveries); some SKUs run out
  for stretches and sell nothing then (lost sales); end-of-day on_hand and on_order per SKU;
- orders_<year>.csv: 1–8 lines, conversion 0.9–3.6% of visitors by channel, free shipping over
  a threshold, promotion and welcome-code discounts, statuses mostly paid with refunded /
  partially refunded (with refund amounts), cancelled and pending (mostly in the last days);
  AOV ≈ 120;
- customers: a pool with repeat behaviour (heavy-tailed loyalty plus a recency effect): the
  two-year repurchase rate is ≈ 30%; marketplace orders mostly come without a customer id;
- traffic_ga4.csv (web, app) is a GA4 Explore download (``#`` preamble, YYYYMMDD dates, bounce
  rate as a share, columns the pipeline does not use); traffic_marketplaces.csv (marketplace,
  social) is canonical; both give visitors, sessions, pageviews, add-to-carts and bounces;
- nps_survey.csv: ≈3,000 answers with a survey tool's headers, scores skewed to NPS ≈ +30,
  refunded customers scoring lower, English comments on about 40% of them;
- experiments: per-user wide files ``checkout_redesign.csv`` (32k cart visitors, +10% relative
  conversion in treatment, so revenue per user rises too) and ``homepage_banner.csv`` (38k
  visitors, no effect, with ``added_to_cart`` as a secondary metric), both with ``pre_revenue``
  as the CUPED pre-period metric; ``email_test_results.csv`` gives per-variant totals of a
  three-arm e-mail test (control and two treatments, for Holm's correction).

Exit 0 on success; 2 with a one-line reason on bad arguments, or when ``--db`` is not a
Storeboard demo: a warehouse without ``is_demo`` that holds any data rows is never overwritten;
1 on an internal error. A demo (or empty) warehouse is rebuilt from scratch: the new one is
built beside it and replaces it only when every file has loaded.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from datetime import date as Date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from data import warehouse
from data.ingest import Result, ingest_file

DAY_NS = 86_400_000_000  # microseconds per day (timestamps are built as µs since the epoch)
HISTORY_DAYS = 730
MAX_SCALE = 10  # memory grows ≈ 250 MB per unit of scale (scale 5: 1.2 M order lines, 15 s)
EXPERIMENT_USERS = {"checkout_redesign": 32_000, "homepage_banner": 38_000}
META_TABLES = {"settings", "schema_migrations", "ingest_log", "column_mappings"}

# name, traffic share, conversion, sessions/visitor, pages/session, bounce rate, add-to-cart rate,
# extra lines per order (Poisson mean), guest share (no customer id), weekly pattern Mon..Sun
CHANNELS = [
    ("web", 0.45, 0.024, 1.30, 4.6, 0.41, 0.085, 1.20, 0.05, [1.06, 1.02, 0.99, 0.97, 0.93, 0.92, 1.11]),
    ("app", 0.20, 0.036, 1.45, 6.2, 0.24, 0.110, 1.30, 0.00, [0.93, 0.92, 0.93, 0.96, 1.00, 1.12, 1.14]),
    ("marketplace", 0.25, 0.018, 1.15, 3.1, 0.48, 0.060, 0.40, 0.62, [1.02, 1.01, 1.00, 0.99, 0.98, 0.99, 1.01]),
    ("social", 0.10, 0.009, 1.10, 2.3, 0.61, 0.040, 0.60, 0.10, [0.90, 0.92, 0.95, 1.00, 1.06, 1.09, 1.08]),
]
VISITORS_PER_DAY = 7_800  # all channels, at the end of the history, scale 1, before seasonality

# category, SKU prefix, share of SKUs, cost ratio range, summer/winter amplitude, peak day of year,
# Christmas bump, supplier names with lead-time base, product lines (name, base price)
CATEGORIES = [
    ("Kitchen & Dining", "KIT", 0.28, (0.42, 0.55), 0.05, 200, 0.45,
     [("Nordic Ceramics GmbH", 9), ("Porto Kitchenware Lda", 12)],
     [("Ceramic Mug 350ml", 16), ("Stoneware Bowl", 19), ("Oak Cutting Board", 45), ("Cast Iron Skillet 26cm", 69),
      ("Espresso Cups, set of 2", 24), ("Glass Storage Jar 1l", 12), ("Chef's Knife 20cm", 89),
      ("Pour-Over Coffee Set", 54), ("Linen Napkins, set of 4", 29), ("Teapot 1.2l", 39), ("Salad Servers", 22),
      ("Stainless Water Bottle", 27)]),
    ("Home Textiles", "TEX", 0.20, (0.40, 0.52), 0.35, 15, 0.30,
     [("Lisbon Linen Co.", 14), ("Baltic Wool Works", 18)],
     [("Merino Throw Blanket", 129), ("Linen Duvet Cover", 119), ("Cotton Bath Towel", 24), ("Wool Cushion Cover", 39),
      ("Waffle Bathrobe", 79), ("Jute Rug 120x180", 149), ("Linen Tablecloth", 59), ("Knitted Pouf", 89)]),
    ("Outdoor & Garden", "OUT", 0.17, (0.45, 0.58), 0.60, 175, 0.05,
     [("Alpine Outdoor Supply", 11), ("Verde Garden BV", 7)],
     [("Folding Garden Chair", 89), ("Ceramic Planter 30cm", 34), ("Picnic Blanket", 49), ("Solar Lantern", 29),
      ("Watering Can 5l", 32), ("Hammock", 119), ("Insulated Cooler Bag", 44), ("Herb Garden Kit", 26)]),
    ("Beauty & Care", "BEA", 0.20, (0.35, 0.50), 0.05, 100, 0.35,
     [("Verde Botanicals", 6), ("Atelier Savon SARL", 10)],
     [("Olive Oil Soap", 7), ("Hand Cream 75ml", 14), ("Soy Candle 200g", 24), ("Lip Balm", 6),
      ("Body Oil 100ml", 29), ("Bath Salts 500g", 18), ("Face Serum 30ml", 39), ("Shampoo Bar", 12)]),
    ("Electronics", "ELE", 0.15, (0.55, 0.68), 0.05, 100, 0.60,
     [("Brightway Electronics Ltd", 16), ("Lumen Design AB", 12)],
     [("Wireless Speaker", 79), ("LED Desk Lamp", 59), ("Power Bank 10000mAh", 35), ("Wireless Charger", 29),
      ("Smart Plug, 2-pack", 25), ("Noise-Cancelling Earbuds", 119), ("Alarm Clock Radio", 45)]),
]
VARIANTS = ["White", "Black", "Sage", "Sand", "Navy", "Terracotta", "Slate", "Ochre", "Rose", "Forest"]

COMMENTS = {  # score band: (openers, details); a comment is an opener, sometimes followed by a detail
    "promoter": (["Fast delivery and lovely packaging.", "Great quality, exactly as pictured.",
                  "Second order this year, never disappointed.", "The mug is even nicer than in the photos!",
                  "Customer service answered within an hour, thank you.", "Beautiful products at fair prices.",
                  "Easy checkout in the app and quick shipping.", "Bought it as a gift, my sister loved it.",
                  "Sustainable materials and no plastic in the parcel - love that.",
                  "Best online shop for homeware I know.", "Arrived the next day, well packed."],
                 [" Will order again.", " Keep it up!", " Already recommended you to friends."]),
    "passive": (["Good products but delivery took a while.", "Nice quality, a bit pricey.",
                 "OK overall, the colour was slightly different from the website.", "Fine, nothing special.",
                 "Would like more payment options.", "Product is good, shipping costs are high for small orders.",
                 "The app keeps logging me out.", "Decent, but I found it cheaper elsewhere."],
                [" Please add more colours.", " Packaging could be smaller.", " The discount code did not work at first."]),
    "detractor": (["Parcel arrived two weeks late and nobody answered my emails.", "Item arrived broken.",
                   "Refund took more than a month.", "The product I wanted was out of stock for weeks.",
                   "Wrong size delivered and the return was a hassle.", "Quality is not what I expected for the price.",
                   "Tracking never updated, very frustrating.", "Was charged twice, still waiting for the refund.",
                   "The blanket started pilling after one wash."],
                  [" Very disappointed.", " I will not order again.", " Shipping to Austria was a nightmare."]),
}


class BadArgument(ValueError):
    """A reason to exit 2: bad arguments, or a warehouse the demo must not overwrite."""


def _rng(seed: int, part: str) -> np.random.Generator:
    """An independent, stable random stream per part, so changing one part leaves the others alone."""
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


class Calendar:
    """The demo's days (index t = 0 … n-1, ending yesterday) and their calendar features."""

    def __init__(self, end: Date, n: int = HISTORY_DAYS):
        self.end = end
        self.start = end - timedelta(days=n - 1)
        self.days = np.arange(np.datetime64(self.start), np.datetime64(end) + 1)
        self.n = n
        epoch = self.days.astype(np.int64)
        self.dow = (epoch + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        self.doy = (self.days - self.days.astype("datetime64[Y]")).astype(np.int64) + 1
        self.epoch_day = epoch

    def season(self, amplitude: float, peak_doy: float, xmas: float) -> np.ndarray:
        """Yearly multiplier: a cosine peaking on ``peak_doy`` plus a pre-Christmas bump."""
        wave = 1 + amplitude * np.cos(2 * np.pi * (self.doy - peak_doy) / 365.25)
        return wave + xmas * np.exp(-(((self.doy - 343) / 16.0) ** 2))


# ---------------------------------------------------------------- products and promotions


def products(seed: int, scale: float, cal: Calendar) -> pl.DataFrame:
    """The catalogue: one row per SKU, with the generator's own columns (popularity, slow, launch day)."""
    rng = _rng(seed, "products")
    n_sku = max(20, round(300 * scale))
    counts = np.maximum(2, np.round(np.array([c[2] for c in CATEGORIES]) * n_sku).astype(int))
    frames = []
    for ci, (cat, prefix, _, cost, _, _, _, suppliers, lines) in enumerate(CATEGORIES):
        k = int(counts[ci])
        combo = rng.permutation(len(lines) * len(VARIANTS) * (k // (len(lines) * len(VARIANTS)) + 1))[:k]
        line, variant, edition = combo % len(lines), (combo // len(lines)) % len(VARIANTS), \
            combo // (len(lines) * len(VARIANTS))
        names = np.array([n for n, _ in lines])[line]
        base = np.array([p for _, p in lines], dtype=float)[line]
        price = base * np.exp(rng.normal(0, 0.18, k))
        price = np.where(price < 100, np.floor(price) + 0.99, np.round(price / 5) * 5 - 0.01)
        sup = rng.integers(0, len(suppliers), k)
        moq_pack = rng.choice([1, 2, 4, 6, 12], size=k, p=[0.3, 0.2, 0.2, 0.2, 0.1])
        moq_pack = np.where(price > 60, np.minimum(moq_pack, 2), moq_pack)
        frames.append(pl.DataFrame({
            "category": cat, "code": prefix, "line": line, "name": names, "variant": np.array(VARIANTS)[variant],
            "edition": edition, "unit_price": price, "unit_cost": np.round(price * rng.uniform(*cost, k), 2),
            "lead_time_days": np.clip(np.array([s[1] for s in suppliers])[sup] + rng.integers(-2, 3, k), 5, 20),
            "pack_size": moq_pack, "moq": moq_pack * rng.choice([1, 2, 5], size=k, p=[0.5, 0.3, 0.2]),
            "supplier": np.array([s[0] for s in suppliers])[sup], "cat_index": ci,
        }))
    p = pl.concat(frames).with_row_index("i")
    n = p.height
    slow = rng.random(n) < 0.35
    popularity = rng.lognormal(0, 1.0, n) * (p["unit_price"].to_numpy() / 40) ** 0.2 * np.where(slow, 0.04, 1.0)
    launch = np.where(rng.random(n) < 0.10, rng.integers(cal.n // 2, cal.n - 45, n), 0)
    return p.with_columns(
        (pl.col("code") + "-" + (pl.col("i") + 1001).cast(pl.String)).alias("sku"),
        (pl.col("name") + " – " + pl.col("variant")
         + pl.when(pl.col("edition") > 0).then(" Mk " + (pl.col("edition") + 1).cast(pl.String)).otherwise(pl.lit("")))
        .alias("name"),
        pl.Series("popularity", popularity), pl.Series("slow", slow), pl.Series("launch", launch))


def promotions(seed: int, cal: Calendar, prods: pl.DataFrame) -> pl.DataFrame:
    """Store-wide sales from the retail calendar plus per-SKU deals; a few start in the coming weeks."""
    rng = _rng(seed, "promotions")
    rows = []
    for y in range(cal.start.year, cal.end.year + 2):
        nov1 = Date(y, 11, 1)
        black_friday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7 + 22)
        calendar = [(f"Winter Sale {y}", Date(y, 1, 2), 14, 15), (f"Spring Sale {y}", Date(y, 4, 10), 7, 10),
                    (f"Summer Sale {y}", Date(y, 7, 1), 14, 20),
                    (f"Black Friday {y}", black_friday - timedelta(days=1), 5, 25)]
        for name, start, days, pct in calendar:
            end = start + timedelta(days=days - 1)
            if end >= cal.start and start <= cal.end + timedelta(days=60):
                rows.append((name, start, end, None, float(pct)))
    if not any(s > cal.end for _, s, _, _, _ in rows):
        s = cal.end + timedelta(days=12)
        rows.append((f"Flash Sale {s:%B %Y}", s, s + timedelta(days=2), None, 15.0))
    store = pl.DataFrame(rows, schema={"name": pl.String, "start_date": pl.Date, "end_date": pl.Date,
                                       "sku": pl.String, "discount_pct": pl.Float64}, orient="row")
    n = max(6, round(prods.height * 0.3))
    sku = prods["sku"].to_numpy()[rng.integers(0, prods.height, n)]
    start = np.datetime64(cal.start) + rng.integers(0, cal.n + 20, n)
    start[:3] = np.datetime64(cal.end) + rng.integers(8, 20, 3)  # upcoming deals: cover checks have work
    length = rng.choice([7, 10, 14], n)
    deals = pl.DataFrame({"sku": sku, "start_date": start, "end_date": start + length - 1,
                          "discount_pct": rng.choice([15.0, 20.0, 25.0, 30.0], n)}).with_columns(
        pl.col("start_date").cast(pl.Date), pl.col("end_date").cast(pl.Date))
    deals = deals.with_columns((pl.lit("Deal of the week ") + pl.col("sku") + " " +
                                pl.col("start_date").dt.strftime("%Y-%m-%d")).alias("name"))
    return pl.concat([store, deals.select(store.columns)]).unique(["name"], keep="first", maintain_order=True)


def _promo_matrices(cal: Calendar, prods: pl.DataFrame, promos: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Store-wide discount per day (n) and per-SKU discount per day and SKU (n × skus), as shares."""
    days = promos.join(prods.select("sku", pl.col("i").alias("j")), on="sku", how="left").select(
        pl.date_ranges("start_date", "end_date").alias("d"), "j", pl.col("discount_pct") / 100).explode("d") \
        .with_columns((pl.col("d") - pl.lit(cal.start)).dt.total_days().alias("t")) \
        .filter(pl.col("t").is_between(0, cal.n - 1))
    store, sku = np.zeros(cal.n), np.zeros((cal.n, prods.height))
    wide, one = days.filter(pl.col("j").is_null()), days.filter(pl.col("j").is_not_null())
    np.maximum.at(store, wide["t"].to_numpy(), wide["discount_pct"].to_numpy())
    np.maximum.at(sku, (one["t"].to_numpy(), one["j"].to_numpy()), one["discount_pct"].to_numpy())
    return store, sku


# ---------------------------------------------------------------- traffic and orders


def traffic(seed: int, scale: float, cal: Calendar, store_promo: np.ndarray) -> pl.DataFrame:
    """Daily traffic per channel and the expected orders (visitors × conversion) behind it."""
    rng = _rng(seed, "traffic")
    trend = 0.72 ** (1 - np.arange(cal.n) / (cal.n - 1))
    season = cal.season(0.10, 350, 0.40)
    frames = []
    for name, share, conv, spv, pps, bounce, atc, _, _, weekly in CHANNELS:
        level = VISITORS_PER_DAY * scale * share * trend * season * np.array(weekly)[cal.dow]
        visitors = rng.poisson(level * (1 + 1.6 * store_promo) * rng.lognormal(0, 0.08, cal.n)) + 1
        rate = conv * (1 + 1.4 * store_promo) * rng.lognormal(0, 0.07, cal.n)
        sessions = np.round(visitors * spv * rng.lognormal(0, 0.03, cal.n)).astype(np.int64)
        frames.append(pl.DataFrame({
            "date": cal.days, "channel": name, "visitors": visitors, "sessions": sessions,
            "pageviews": np.round(sessions * pps * rng.lognormal(0, 0.04, cal.n)).astype(np.int64),
            "add_to_cart": rng.binomial(visitors, min(atc, 0.99)), "bounces": rng.binomial(sessions, bounce),
            "expected_orders": visitors * rate}))
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))


def draw_orders(seed: int, cal: Calendar, prods: pl.DataFrame, traf: pl.DataFrame, store_promo: np.ndarray,
                sku_promo: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders (day, time, channel, status, welcome code) and their lines (SKU, quantity), before stock."""
    rng = _rng(seed, "orders")
    n_ch = len(CHANNELS)
    counts = rng.poisson(traf["expected_orders"].to_numpy())
    ch_of_row = np.repeat(np.arange(n_ch), cal.n)
    day_of_row = np.tile(np.arange(cal.n), n_ch)
    day = np.repeat(day_of_row, counts)
    channel = np.repeat(ch_of_row, counts)
    hour_w = np.array([2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 11, 12, 11, 10, 10, 11, 13, 15, 17, 17, 14, 9, 5], float)
    seconds = rng.choice(24, day.size, p=hour_w / hour_w.sum()) * 3600 + rng.integers(0, 3600, day.size)
    ts = (cal.epoch_day[day] * DAY_NS + seconds * 1_000_000).astype(np.int64)
    order = np.argsort(ts, kind="stable")
    day, channel, ts = day[order], channel[order], ts[order]
    n = day.size
    recent = day >= cal.n - 5
    u = rng.random(n)
    status = np.select([u < np.where(recent, 0.06, 0.003), u < 0.03, u < 0.055, u < 0.075],
                       ["pending", "cancelled", "refunded", "partially_refunded"], "paid")
    orders = pl.DataFrame({"o": np.arange(n), "day": day, "channel_i": channel, "ts": ts, "status": status})
    # Lines: SKUs drawn from each day's demand weights (popularity × category season × deals).
    extra = np.array([c[7] for c in CHANNELS])[channel]
    n_lines = 1 + np.minimum(rng.poisson(extra), 7)
    line_order = np.repeat(np.arange(n), n_lines)
    line_day = day[line_order]
    seasons = np.stack([cal.season(c[4], c[5], c[6]) for c in CATEGORIES])      # categories × days
    launched = np.arange(cal.n)[:, None] >= prods["launch"].to_numpy()[None, :]
    weights = (prods["popularity"].to_numpy()[None, :] * seasons[prods["cat_index"].to_numpy()].T
               * (1 + 7 * sku_promo) * launched)
    cum = np.cumsum(weights, axis=1)
    cum = cum / cum[:, -1:] + np.arange(cal.n)[:, None]  # rows stacked on one increasing scale
    sku = np.searchsorted(cum.ravel(), line_day + rng.random(line_day.size)) - line_day * prods.height
    sku = np.clip(sku, 0, prods.height - 1)
    price = prods["unit_price"].to_numpy()[sku]
    qty = 1 + rng.poisson(np.where(price < 15, 0.6, np.where(price < 40, 0.25, 0.06)))
    lines = pl.DataFrame({"o": line_order, "sku_i": sku, "quantity": qty.astype(np.float64)}) \
        .unique(["o", "sku_i"], keep="first", maintain_order=True).with_row_index("l")
    return orders, lines


def stock(seed: int, cal: Calendar, prods: pl.DataFrame, orders: pl.DataFrame,
          lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Simulate replenishment day by day (vectorised over SKUs); keep only the units in stock.

    Returns the lines that sold (quantities cut where stock ran out, lines of sold-out SKUs
    dropped: lost sales) and the daily inventory snapshots (end of day, with units on order).
    """
    rng = _rng(seed, "stock")
    m = prods.height
    joined = lines.join(orders.select("o", "day", "ts", "status"), on="o")
    live = joined.filter(pl.col("status") != "cancelled")
    demand = np.bincount(live["day"].to_numpy() * m + live["sku_i"].to_numpy(), weights=live["quantity"].to_numpy(),
                         minlength=cal.n * m).reshape(cal.n, m)
    csum = np.vstack([np.zeros(m), np.cumsum(demand, axis=0)])
    t = np.arange(cal.n)
    lo = np.maximum(t - 27, 0)
    launch = prods["launch"].to_numpy()
    active_days = np.maximum(cal.n - launch, 1)
    prior = demand.sum(axis=0) / active_days
    trailing = (csum[t + 1] - csum[lo]) / (t + 1 - lo)[:, None]
    forecast = np.maximum(trailing, 0.5 * prior)
    lead = prods["lead_time_days"].to_numpy()
    pack, moq = prods["pack_size"].to_numpy(), prods["moq"].to_numpy()
    tight = rng.random(m) < 0.2
    safety = np.where(tight, rng.uniform(0.4, 0.8, m), rng.uniform(1.1, 1.6, m))
    cover = rng.uniform(14, 40, m)
    floor_units = np.where(prods["slow"].to_numpy(), 1, 2)
    late = rng.random((cal.n, m)) < 0.08
    delay = lead + np.where(late, rng.integers(6, 28, (cal.n, m)), 0)
    arrivals = np.zeros((cal.n + 60, m))
    on_hand = np.zeros(m)
    on_order = np.zeros(m)
    start_stock, end_stock, ordered = (np.zeros((cal.n, m)) for _ in range(3))
    initial = np.ceil(forecast[np.minimum(launch, cal.n - 1), np.arange(m)] * (lead + cover) * rng.uniform(0.6, 1.1, m))
    idx = np.arange(m)
    for d in range(cal.n):  # one step per day, every SKU at once
        on_hand += np.where(launch == d, initial, 0) + arrivals[d]
        on_order -= arrivals[d]
        start_stock[d] = on_hand
        on_hand -= np.minimum(demand[d], on_hand)
        rop = np.ceil(forecast[d] * lead * safety) + floor_units
        up_to = rop + forecast[d] * cover
        need = (launch <= d) & (on_hand + on_order <= rop)
        qty = np.maximum(np.ceil((up_to - on_hand - on_order) / pack) * pack, moq) * need
        np.add.at(arrivals, (d + delay[d], idx), qty)
        on_order += qty
        end_stock[d], ordered[d] = on_hand, on_order
    # Lost sales: within each SKU-day, lines in time order take the stock until it runs out.
    live = live.sort("day", "sku_i", "ts", "l")
    key = live["day"].to_numpy() * m + live["sku_i"].to_numpy()
    q = live["quantity"].to_numpy()
    first = np.r_[True, key[1:] != key[:-1]]
    before = np.cumsum(q) - q
    before = before - before[first][np.cumsum(first) - 1]
    kept = np.clip(start_stock.ravel()[key] - before, 0, q)
    sold = pl.concat([live.with_columns(pl.Series("quantity", kept)),
                      joined.filter(pl.col("status") == "cancelled")]).filter(pl.col("quantity") > 0).sort("l")
    listed = np.repeat(t, m) >= np.tile(launch, cal.n)  # snapshots start on a SKU's launch day
    snaps = pl.DataFrame({"day": np.repeat(t, m)[listed], "sku_i": np.tile(idx, cal.n)[listed],
                          "on_hand": end_stock.ravel()[listed], "on_order": ordered.ravel()[listed]})
    return sold.select("l", "o", "sku_i", "quantity"), snaps


def customers(seed: int, orders: pl.DataFrame) -> np.ndarray:
    """A customer index per order (-1 = no customer id), orders in time order.

    An identified order is a repeat with a channel-dependent probability; a repeat picks either a
    recently acquired customer (recency) or any earlier one weighted by a heavy-tailed loyalty
    propensity. A pool of customers acquired before the history makes early repeats possible.
    """
    rng = _rng(seed, "customers")
    ch = orders["channel_i"].to_numpy()
    n = ch.size
    guest = rng.random(n) < np.array([c[8] for c in CHANNELS])[ch]
    known = np.flatnonzero(~guest)
    ids = np.full(n, -1)
    if known.size == 0:
        return ids
    repeat = rng.random(known.size) < np.array([0.30, 0.42, 0.22, 0.18])[ch[known]]
    n_pre = max(10, round(0.08 * known.size))
    new_count = np.cumsum(~repeat)
    before = n_pre + new_count - (~repeat)              # customers known before each order
    total = n_pre + int(new_count[-1])
    propensity = np.cumsum(rng.lognormal(0, 1.2, total))
    window = max(5, round(new_count[-1] / (orders["day"].max() + 1) * 45))  # customers won in ≈45 days
    recent = before - 1 - rng.integers(0, window, known.size)
    loyal = np.searchsorted(propensity, rng.random(known.size) * propensity[before - 1], side="right")
    pick = np.where(rng.random(known.size) < 0.5, np.maximum(recent, 0), np.minimum(loyal, before - 1))
    who = np.where(repeat, pick, before)
    ids[known] = rng.permutation(total)[who] + 100_000
    return ids


def order_lines(seed: int, cal: Calendar, prods: pl.DataFrame, orders: pl.DataFrame, sold: pl.DataFrame,
                store_promo: np.ndarray, sku_promo: np.ndarray) -> pl.DataFrame:
    """The canonical order lines: ids, customers, discounts, shipping, refunds."""
    rng = _rng(seed, "order_lines")
    orders = orders.filter(pl.col("o").is_in(sold["o"].unique().implode())).sort("o")  # o is in time order
    cust = customers(seed, orders)
    orders = orders.with_columns(
        (pl.lit("SB") + (pl.int_range(pl.len()) + 100_001).cast(pl.String)).alias("order_id"),
        pl.Series("customer_i", cust),
        # a customer's first order in the window may use the welcome code (10%)
        (pl.Series(cust >= 0) & pl.Series(cust).is_first_distinct() & pl.Series(rng.random(len(cust)) < 0.3))
        .alias("welcome"))
    p = prods.select(pl.col("i").alias("sku_i"), "sku", pl.col("name").alias("product_name"), "unit_price", "unit_cost")
    lines = sold.join(orders, on="o").join(p, on="sku_i").sort("o", "l")
    day, sku_i = lines["day"].to_numpy(), lines["sku_i"].to_numpy()
    pct = np.maximum(np.maximum(store_promo[day], sku_promo[day, sku_i]), np.where(lines["welcome"].to_numpy(), 0.10, 0))
    lines = lines.with_columns(
        (pl.int_range(pl.len()).over("o") + 1).alias("line_no"), pl.len().over("o").alias("n_lines"),
        (pl.col("quantity") * pl.col("unit_price") * pl.Series(pct)).round(2).alias("discount"),
        pl.Series("u", rng.random(lines.height)), pl.Series("pick", rng.random(lines.height)))
    net = pl.col("quantity") * pl.col("unit_price") - pl.col("discount")
    free_over = pl.when(pl.col("channel_i") == 2).then(25.0).otherwise(49.0)
    fee = pl.when(pl.col("channel_i") == 2).then(3.99).otherwise(4.95)
    refund_line = (pl.col("pick").first().over("o") * pl.col("n_lines")).floor() + 1 == pl.col("line_no")
    partial = pl.when(pl.col("quantity") >= 2).then(net / pl.col("quantity")) \
        .otherwise(net * (0.2 + 0.3 * pl.col("u"))).round(2)
    lines = lines.with_columns(
        pl.when(pl.col("line_no") == 1).then(pl.when(net.sum().over("o") < free_over).then(fee).otherwise(0.0))
        .otherwise(0.0).alias("shipping"),
        pl.when(pl.col("status") == "refunded").then(net.round(2))
        .when((pl.col("status") == "partially_refunded") & refund_line).then(partial)
        .otherwise(0.0).alias("refund_amount"))
    names = pl.Series([c[0] for c in CHANNELS])
    return lines.select(
        "order_id", "line_no", pl.from_epoch("ts", time_unit="us").alias("ordered_at"),
        pl.when(pl.col("customer_i") >= 0).then(pl.lit("C") + pl.col("customer_i").cast(pl.String)).alias("customer_id"),
        pl.col("channel_i").replace_strict(list(range(len(CHANNELS))), names).alias("channel"), "status", "sku",
        "product_name", pl.col("quantity").cast(pl.Int64), "unit_price", "discount", "refund_amount", "shipping",
        "unit_cost", pl.lit("EUR").alias("currency"))


# ---------------------------------------------------------------- NPS and experiments


def nps(seed: int, scale: float, cal: Calendar, lines: pl.DataFrame) -> pl.DataFrame:
    """Survey answers 5–20 days after a sale; refunded orders score lower."""
    rng = _rng(seed, "nps")
    cutoff = np.datetime64(cal.end) - 21
    sales = lines.filter((pl.col("line_no") == 1) & pl.col("status").is_in(["paid", "partially_refunded", "refunded"])
                         & (pl.col("ordered_at") < pl.lit(cutoff.astype(object))))
    n = min(max(40, round(3000 * scale)), sales.height)
    s = sales[np.sort(rng.choice(sales.height, n, replace=False))]
    happy = np.array([2, 1, 1, 2, 2, 3, 6, 12, 18, 23, 30], float)
    unhappy = np.array([14, 8, 10, 10, 10, 10, 10, 10, 8, 5, 5], float)
    refunded = s["status"].is_in(["refunded", "partially_refunded"]).to_numpy()
    score = np.where(refunded, rng.choice(11, n, p=unhappy / unhappy.sum()), rng.choice(11, n, p=happy / happy.sum()))
    band = np.where(score >= 9, "promoter", np.where(score >= 7, "passive", "detractor"))
    text = np.full(n, "", dtype=object)
    for b, share in (("promoter", 0.35), ("passive", 0.40), ("detractor", 0.60)):
        openers, details = (np.array(x, dtype=object) for x in COMMENTS[b])
        said = (band == b) & (rng.random(n) < share)
        more = rng.random(n) < 0.3
        text = np.where(said, openers[rng.integers(0, len(openers), n)], text)
        text = np.where(said & more, text + details[rng.integers(0, len(details), n)], text)
    delay = (rng.integers(5, 21, n) * 86_400 + rng.integers(0, 86_400, n)) * 1_000_000
    keep_id = rng.random(n) < 0.85  # some answer the survey anonymously
    return s.select(
        pl.Series("Response ID", np.char.add("R", np.arange(1_000_001, 1_000_001 + n).astype(str))),
        pl.from_epoch(pl.col("ordered_at").dt.epoch("us") + pl.Series(delay), time_unit="us").alias("Submitted At"),
        pl.Series("How likely are you to recommend us to a friend or colleague?", score),
        pl.when(pl.Series(keep_id)).then(pl.col("customer_id")).alias("Customer ID"), pl.col("channel").alias("Channel"),
        pl.Series("Feedback", text, dtype=pl.String).replace("", None))


def experiment(seed: int, name: str, cal: Calendar) -> pl.DataFrame:
    """Per-user rows of one A/B test: 50/50 split, pre-period revenue correlated with the outcome."""
    rng = _rng(seed, f"experiment:{name}")
    n = EXPERIMENT_USERS[name]
    base, lift, first_day, days = (0.20, 0.10, 70, 21) if name == "checkout_redesign" else (0.032, 0.0, 35, 28)
    treated = rng.random(n) < 0.5
    engagement = rng.gamma(0.8, 1 / 0.8, n)                     # mean 1: how active a user is
    value = rng.lognormal(np.log(120), 0.5, n)                   # what they spend per order
    pre_orders = rng.poisson(0.8 * engagement)
    p = np.clip(base * (0.2 + 0.8 * engagement) * np.where(treated, 1 + lift, 1.0), 0, 0.95)
    converted = rng.random(n) < p
    start = (np.datetime64(cal.end) - first_day).astype("datetime64[s]").astype(np.int64)
    assigned = (start + rng.integers(0, days * 86_400, n)) * 1_000_000
    order = np.argsort(assigned, kind="stable")
    extra = {"added_to_cart": np.maximum(converted, rng.random(n) < 2.5 * p).astype(np.int8)} \
        if name == "homepage_banner" else {}  # a secondary metric (experiment_metrics)
    return pl.DataFrame({
        "user_id": np.char.add("v", (rng.permutation(n) + 5_000_000).astype(str)),
        "variant": np.where(treated, "treatment", "control"), "converted": converted.astype(np.int8),
        "revenue": np.round(converted * value * rng.lognormal(0, 0.35, n), 2),
        "pre_revenue": np.round(pre_orders * value * rng.lognormal(0, 0.3, n), 2),
        "assigned_at": assigned, **extra}).with_columns(pl.col("assigned_at").cast(pl.Datetime("us")))[order]


def experiment_totals(seed: int) -> pl.DataFrame:
    """A three-arm e-mail test as an e-mail tool reports it: per-variant totals (experiment_summary)."""
    rng = _rng(seed, "experiment:welcome_email_subject")
    arms = {"control": 1.0, "personalised": 1.08, "urgency": 0.98}
    arm = rng.integers(0, len(arms), 60_000)
    converted = rng.random(arm.size) < 0.045 * np.array(list(arms.values()))[arm]
    revenue = np.round(converted * rng.lognormal(np.log(95), 0.55, arm.size), 2)
    return pl.DataFrame({"variant": np.array(list(arms))[arm], "converted": converted, "revenue": revenue}) \
        .group_by("variant").agg(pl.len().alias("users"), pl.col("converted").sum().alias("conversions"),
                                 pl.col("revenue").sum().round(2).alias("revenue_sum"),
                                 (pl.col("revenue") ** 2).sum().round(4).alias("revenue_sum_sq")) \
        .sort(pl.col("variant").replace_strict(list(arms), range(len(arms)))) \
        .select(pl.lit("welcome_email_subject").alias("experiment"), pl.all())


# ---------------------------------------------------------------- export files


def _ga4(traf: pl.DataFrame, purchases: pl.DataFrame, cal: Calendar) -> str:
    """Web and app traffic as a GA4 Explore (free form) download: preamble, YYYYMMDD dates, rates."""
    ga = traf.filter(pl.col("channel").is_in(["web", "app"])).join(purchases, on=["date", "channel"], how="left") \
        .sort(["date", "sessions", "channel"], descending=[False, True, False]).select(
            pl.col("date").dt.strftime("%Y%m%d").alias("Date"), pl.col("channel").alias("Session default channel group"),
            pl.col("sessions").alias("Sessions"), pl.col("visitors").alias("Total users"),
            pl.col("pageviews").alias("Views"),
            pl.col("add_to_cart").alias("Add to carts"), (pl.col("sessions") - pl.col("bounces")).alias("Engaged sessions"),
            (pl.col("bounces") / pl.col("sessions")).round(6).alias("Bounce rate"),
            pl.col("purchases").fill_null(0).alias("Ecommerce purchases"))
    preamble = ["# ----------------------------------------", "# Traffic by channel",
                "# ----------------------------------------", "# Account: Storeboard Demo Shop",
                "# Property: shop.storeboard.example - GA4", "# ", "# All Users",
                f"# Start date: {cal.start:%Y%m%d}", f"# End date: {cal.end:%Y%m%d}"]
    return "\n".join(preamble) + "\n" + ga.write_csv()


def export_files(seed: int, scale: float, end: Date, folder: Path) -> list[Path]:
    """Generate the shop and write its exports into ``folder``; return the files in load order."""
    cal = Calendar(end)
    prods = products(seed, scale, cal)
    promos = promotions(seed, cal, prods)
    store_promo, sku_promo = _promo_matrices(cal, prods, promos)
    traf = traffic(seed, scale, cal, store_promo)
    orders, lines = draw_orders(seed, cal, prods, traf, store_promo, sku_promo)
    sold, snaps = stock(seed, cal, prods, orders, lines)
    ol = order_lines(seed, cal, prods, orders, sold, store_promo, sku_promo)
    purchases = ol.filter(pl.col("status").is_in(["paid", "partially_refunded", "refunded"])) \
        .group_by(pl.col("ordered_at").dt.date().alias("date"), "channel") \
        .agg(pl.col("order_id").n_unique().alias("purchases"))
    texts: dict[str, str] = {
        "products.csv": prods.select("sku", "name", "category", "unit_price", "unit_cost", "lead_time_days", "moq",
                                     "pack_size", "supplier").write_csv(),
        "promotions.csv": promos.sort("start_date", "name").write_csv(),
    }
    by_year = ol.with_columns(pl.col("ordered_at").dt.year().alias("_y"))
    for (year,), part in by_year.partition_by("_y", as_dict=True, include_key=False, maintain_order=True).items():
        texts[f"orders_{year}.csv"] = part.write_csv(datetime_format="%Y-%m-%d %H:%M:%S")
    texts["traffic_ga4.csv"] = _ga4(traf, purchases, cal)
    texts["traffic_marketplaces.csv"] = traf.filter(pl.col("channel").is_in(["marketplace", "social"])).select(
        "date", "channel", "visitors", "sessions", "pageviews", "add_to_cart", "bounces").sort("date", "channel").write_csv()
    texts["inventory.csv"] = snaps.join(prods.select(pl.col("i").alias("sku_i"), "sku", "unit_cost"), on="sku_i").select(
        (pl.lit(cal.start) + pl.duration(days=pl.col("day"))).alias("snapshot_date"), "sku",
        pl.col("on_hand").cast(pl.Int64), pl.col("on_order").cast(pl.Int64), "unit_cost").sort("snapshot_date", "sku") \
        .write_csv()
    texts["nps_survey.csv"] = nps(seed, scale, cal, ol).write_csv(datetime_format="%Y-%m-%d %H:%M:%S")
    for name in EXPERIMENT_USERS:
        texts[f"{name}.csv"] = experiment(seed, name, cal).write_csv(datetime_format="%Y-%m-%dT%H:%M:%SZ")
    texts["email_test_results.csv"] = experiment_totals(seed).write_csv()
    paths = []
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


# ---------------------------------------------------------------- build and command line


def _check_target(p: Path) -> None:
    """Refuse a path the demo must not overwrite: a directory, or a warehouse holding real data."""
    if str(p) == ":memory:" or p.is_dir():
        raise BadArgument(f"--db must be a file path, not {p}")
    if not p.exists():
        return
    try:
        con = duckdb.connect(str(p), read_only=True)
    except duckdb.Error as e:
        if "lock" in str(e).lower():
            raise warehouse.WarehouseBusy(f"the warehouse {p} is open in another process (is the Storeboard app "
                                          "running?); stop it and try again") from e
        raise BadArgument(f"{p} exists and is not a DuckDB warehouse: not overwriting it") from e
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "where table_type = 'BASE TABLE'").fetchall()
        is_demo = ("main", "settings") in tables and warehouse.get_setting(con, "is_demo") is True
        rows = sum(warehouse.scalar(con, f'select count(*) from "{schema}"."{t}"') for schema, t in tables
                   if t not in META_TABLES)
    finally:
        con.close()
    if rows and not is_demo:
        raise BadArgument(f"{p} holds {rows} rows of data that are not demo data: not overwriting a real warehouse")


def _remove(p: Path) -> None:
    for f in (p, p.with_name(p.name + ".wal")):
        f.unlink(missing_ok=True)


def build(path: str | os.PathLike | None = None, seed: int = 42, scale: float = 1.0,
          today: Date | None = None) -> list[Result]:
    """Build the demo warehouse at ``path`` (default: warehouse.db_path()) and return one Result per file.

    The new warehouse is built beside the target and replaces it only when every file loaded.
    """
    target = warehouse.db_path(path)
    _check_target(target)
    end = (today or Date.today()) - timedelta(days=1)
    staging = target.with_name(target.name + ".demo-building")
    _remove(staging)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="storeboard-demo-") as tmp:
            files = export_files(seed, scale, end, Path(tmp))
            con = warehouse.connect(staging)
            try:
                for f in files:
                    r = ingest_file(con, f, f.name, user="demo")
                    if r.status != "loaded":
                        raise RuntimeError(f"demo file {f.name} was not loaded: {r.message}")
                    results.append(r)
                warehouse.set_setting(con, "is_demo", True, user="demo")
                warehouse.set_setting(con, "demo", {"seed": seed, "scale": scale, "start": str(end - timedelta(
                    days=HISTORY_DAYS - 1)), "end": str(end)}, user="demo")
            finally:
                con.close()
        _remove(target)
        os.replace(staging, target)
    finally:
        _remove(staging)
    return results


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (DESIGN §7), instead of argparse's usage block
        raise BadArgument(message)


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="python -m data.demo", description="Build the demo warehouse (replaces an existing demo).")
    ap.add_argument("--db", help="warehouse file (default: env STOREBOARD_DB or data/warehouse.duckdb)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies SKUs, customers and orders (default 1)")
    ap.add_argument("--json", action="store_true", help="print one JSON result per file")
    began = time.perf_counter()
    try:
        args = ap.parse_args(argv)
        if args.seed < 0:
            raise BadArgument(f"--seed must be 0 or more, not {args.seed}")
        if not (0 < args.scale <= MAX_SCALE):
            raise BadArgument(f"--scale must be above 0 and at most {MAX_SCALE}, not {args.scale:g}")
        results = build(args.db, args.seed, args.scale)
    except (BadArgument, warehouse.WarehouseBusy) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - an internal error: say it in one line, exit 1
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, default=str, indent=1))
    else:
        for r in results:
            print(f"{r.file}: {r.status} — {r.message}")
        print(f"demo warehouse {warehouse.db_path(args.db)} built in {time.perf_counter() - began:.1f} s "
              f"(seed {args.seed}, scale {args.scale:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
