"""The rules of each kind: from typed columns to the rows of the canonical tables.

Each ``rules_<kind>(checked, context)`` fills defaults, derives columns, rejects invalid rows and
skips rows that are not data for the table; :func:`shape` then returns ``{table: frame}``.

Orders (DESIGN §2 status rules):
- order-level fields written only on an order's first line (Shopify) are filled down the order;
  amounts written once per order (shipping, order discount, refunded amount) stay on that line;
- status comes from the status / financial status text (see STATUS); a cancellation time or a
  closed Taobao order (交易关闭) makes it ``cancelled`` whatever was paid; a refund amount on an
  order that stands makes it ``partially_refunded`` (``refunded`` when it covers the order); a
  missing payment time where the export has one makes it ``pending``;
- order-level exports (one line per order, e.g. Taobao) give quantity 1 when absent and a unit
  price from the line total or paid amount; the discount is the part of goods + shipping not paid;
- UCI Online Retail layout: a ``C`` invoice is a return of earlier goods, stored as a return line
  (``is_return``; quantity 0, refund_amount = returned value, status ``refunded``); ``A`` invoices
  (bad-debt adjustments), fees (BANK CHARGES, AMAZONFEE, CRUK, B, S) and other negative or
  zero-priced lines are not sales and are skipped; POST/DOT/C2 lines are shipping and D lines a
  discount on their invoice;
- exact duplicate lines are counted once; lines are numbered in file order within each order.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date, datetime as DateTime

import polars as pl

from data import synonyms
from data.read import ROW
from data.validate import Checked, duplicate_keys

STATUS_ENUM = pl.Enum(["paid", "partially_refunded", "refunded", "cancelled", "pending"])
STATUS = {
    "paid": "paid", "completed": "paid", "complete": "paid", "processing": "paid", "shipped": "paid",
    "fulfilled": "paid", "authorized": "paid", "delivered": "paid", "success": "paid",
    "交易成功": "paid", "卖家已发货,等待买家确认": "paid", "买家已付款,等待卖家发货": "paid",
    "等待买家确认收货": "paid", "已付款": "paid", "已完成": "paid", "已发货": "paid", "待发货": "paid",
    "partially_refunded": "partially_refunded", "partially refunded": "partially_refunded",
    "partially paid": "pending", "部分退款": "partially_refunded",
    "refunded": "refunded", "退款成功": "refunded", "已退款": "refunded",
    "cancelled": "cancelled", "canceled": "cancelled", "voided": "cancelled", "failed": "cancelled",
    "trash": "cancelled", "交易关闭": "cancelled", "已取消": "cancelled", "已关闭": "cancelled",
    "pending": "pending", "on-hold": "pending", "on hold": "pending", "pending payment": "pending",
    "unpaid": "pending", "expired": "cancelled", "等待买家付款": "pending", "待付款": "pending",
}
UCI_SHIPPING = {"POST", "DOT", "C2"}
UCI_DISCOUNT = {"D"}
UCI_FEES = {"BANK CHARGES", "AMAZONFEE", "CRUK", "B", "S", "ADJUST", "ADJUST2"}
ORDER_LEVEL = ["ordered_at", "paid_at", "cancelled_at", "customer_id", "channel", "status",
               "financial_status", "currency"]
TABLE_COLUMNS = {
    "order_lines": ["order_id", "line_no", "ordered_at", "customer_id", "channel", "status", "sku",
                    "product_name", "quantity", "unit_price", "discount", "refund_amount", "shipping",
                    "unit_cost", "currency", "is_return"],
    "traffic": ["date", "channel", "page", "visitors", "sessions", "pageviews", "add_to_cart", "bounces", "buyers"],
    "inventory": ["snapshot_date", "sku", "location", "on_hand", "on_order", "unit_cost"],
    "products": ["sku", "name", "category", "unit_price", "unit_cost", "lead_time_days", "moq", "pack_size",
                 "supplier"],
    "nps_responses": ["response_id", "responded_at", "score", "customer_id", "channel", "comment"],
    "experiment_users": ["experiment", "variant", "user_id", "assigned_at", "converted", "revenue", "pre_metric"],
    "experiment_summary": ["experiment", "variant", "users", "conversions", "revenue_sum", "revenue_sum_sq"],
    "promotions": ["name", "start_date", "end_date", "sku", "discount_pct"],
}


@dataclass
class Context:
    """What a file's rows need besides their cells."""
    file_name: str
    layout: str = ""               # "uci" for the Online Retail layouts
    as_of: Date | None = None      # --date: survey date (NPS) or snapshot date (inventory)
    experiment: str | None = None  # experiment name when the file has no such column
    default_channel: str = "online"
    currency: str = "EUR"          # for files without a currency column (setting "currency")


class NeedsInput(ValueError):
    """The file cannot load without something the user must give (e.g. a survey date)."""


def _ensure(checked: Checked, columns: dict[str, object]) -> None:
    """Add absent columns with a default value (typed)."""
    add = [pl.lit(v, dtype=t).alias(c) for c, (v, t) in columns.items() if c not in checked.frame.columns]
    if add:
        checked.frame = checked.frame.with_columns(add)


def _select(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    return frame.select(ROW, *TABLE_COLUMNS[table])


def rules_orders(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    _ensure(c, {k: (None, pl.Datetime("us")) for k in ("ordered_at", "paid_at", "cancelled_at")}
            | {k: (None, pl.String) for k in ("customer_id", "channel", "status", "financial_status",
                                               "sku", "product_name", "currency")}
            | {k: (None, pl.Float64) for k in ("quantity", "unit_price", "line_total", "paid_amount",
                                                "discount", "refund_amount", "shipping", "unit_cost")})
    c.reject(pl.col("order_id").is_null(), None, "missing order id", pl.lit(None))
    # Shopify writes order-level fields on the first line item only; the sign is an order date or
    # status missing on some lines (customer ids are missing for guests in any export).
    gaps = [k for k in ORDER_LEVEL if 0 < c.frame[k].null_count() < c.frame.height]
    if set(gaps) & {"ordered_at", "paid_at", "status", "financial_status"}:
        c.frame = c.frame.with_columns(pl.col(k).fill_null(pl.col(k).max().over("order_id")) for k in gaps)
    c.frame = c.frame.with_columns(pl.col("ordered_at").fill_null(pl.col("paid_at")))
    c.reject(pl.col("ordered_at").is_null() & pl.col("order_id").is_not_null(), "ordered_at",
             "missing order date")
    # Status, computed on the few distinct texts and kept dictionary-encoded (no string per line).
    text = pl.coalesce(pl.col("financial_status"), pl.col("status"))
    values = c.frame.select(text.unique()).to_series().drop_nulls().to_list()  # a handful, however long the file
    lookup = {v: STATUS.get(v.lower().removeprefix("wc-").replace("，", ",").strip()) for v in values}
    mapped = text.replace_strict(lookup, default=None, return_dtype=STATUS_ENUM)
    header = "financial_status" if "financial_status" in c.source else "status"
    c.reject(text.is_not_null() & mapped.is_null(), header,
             "unknown order status (expected e.g. paid, refunded, cancelled, pending, 交易成功, 交易关闭)")
    status = mapped.fill_null(pl.lit("pending", STATUS_ENUM) if "paid_at" in c.source else pl.lit("paid", STATUS_ENUM))
    if "paid_at" in c.source:
        status = pl.when(mapped.is_null() & pl.col("paid_at").is_not_null()).then(pl.lit("paid", STATUS_ENUM)) \
            .otherwise(status)
    if "cancelled_at" in c.source:
        status = pl.when(pl.col("cancelled_at").is_not_null()).then(pl.lit("cancelled", STATUS_ENUM)).otherwise(status)
    c.frame = c.frame.with_columns(status.alias("status"))
    once = [k for k in ("shipping", "discount", "refund_amount", "paid_amount")
            if c.source.get(k) in synonyms.ORDER_LEVEL_AMOUNTS and _written_per_order(c.frame, k)]
    if once:  # an order's figure counts once: on its first line
        first = (pl.col("order_id") != pl.col("order_id").shift()).fill_null(True)
        c.frame = c.frame.with_columns(pl.when(first).then(pl.col(k)).otherwise(0.0).alias(k) for k in once)
    # Quantities and prices, including order-level exports.
    if "quantity" not in c.source:  # an order-level export: one line per order
        c.frame = c.frame.with_columns(pl.col("quantity").fill_null(1.0))
    c.frame = c.frame.with_columns(
        pl.coalesce(pl.col("unit_price"), pl.col("line_total") / pl.col("quantity"),
                    (pl.col("paid_amount") - pl.col("shipping").fill_null(0)) / pl.col("quantity")).alias("unit_price"))
    sale = pl.col("status").is_in(["paid", "partially_refunded", "refunded"])
    # In an order-level export (one line per order) the unpaid part of goods + shipping is the discount.
    unpaid_part = pl.col("line_total") + pl.col("shipping").fill_null(0) - pl.col("paid_amount")
    c.frame = c.frame.with_columns(
        pl.col("discount").fill_null(pl.when(sale & (unpaid_part > 0)).then(unpaid_part).otherwise(0)),
        pl.col("refund_amount").fill_null(0), pl.col("shipping").fill_null(0),
        pl.lit(False).alias("is_return"),
        pl.col("channel").fill_null(ctx.default_channel), pl.col("currency").fill_null(ctx.currency))
    c.frame = _upper_skus(c.frame)
    c.reject(pl.col("quantity").is_null() & pl.col("order_id").is_not_null(), "quantity", "missing quantity")
    c.reject(pl.col("unit_price").is_null() & pl.col("order_id").is_not_null(), "unit_price", "missing price")
    c.reject(pl.col("quantity").abs() > 1_000_000, "quantity", "absurd quantity (more than 1,000,000 units)")
    c.reject(pl.col("unit_price").abs() > 10_000_000, "unit_price", "absurd price (more than 10,000,000)")
    c.reject(pl.col("ordered_at") > pl.lit(DateTime.now()).dt.offset_by("2d"), "ordered_at", "date in the future")
    c.reject(pl.col("ordered_at") < pl.lit(DateTime(1990, 1, 1)), "ordered_at", "date before 1990")
    for col in ("discount", "refund_amount", "shipping"):
        c.reject(pl.col(col) < 0, col, f"negative {col.replace('_', ' ')}")
    if ctx.layout == "uci":
        _uci_not_sales(c)
    c.reject(pl.col("unit_price") < 0, "unit_price", "negative price")
    c.skip((pl.col("quantity") < 0) & ~pl.col("is_return"),
           "not a sale: negative quantity outside a return invoice (write-off)")
    c.skip((pl.col("unit_price") == 0) & ~pl.col("is_return"), "not a sale: zero price")
    if ctx.layout == "uci":
        _uci_rules(c)
    # Refund amounts turn standing orders into (partially) refunded ones.
    if "line_no" in c.source:
        duplicate_keys(c, ["order_id", "line_no"])
    else:
        c.frame = _number_lines(c.frame)
    _refund_status(c)
    return {"order_lines": _select(c.good(), "order_lines")}


def _written_per_order(frame: pl.DataFrame, column: str) -> bool:
    """True when every later line of an order leaves ``column`` empty or repeats the first line's
    value (a whole-order figure), with each order's lines together as exports write them."""
    same_order = pl.col("order_id") == pl.col("order_id").shift()
    value = pl.col(column)
    return frame.select((~same_order.fill_null(False) | value.is_null() | (value == value.shift()).fill_null(False))
                        .all()).item()


def _upper_skus(frame: pl.DataFrame) -> pl.DataFrame:
    """SKUs in upper case (the UCI data mixes 85123a/85123A); no copy when they already are."""
    if frame.select(pl.col("sku").str.contains("[a-z]").any()).item():
        return frame.with_columns(pl.col("sku").str.to_uppercase())
    return frame


def _refund_status(c: Checked) -> None:
    """Refund amounts turn standing orders into (partially) refunded ones; a refunded order
    without amounts is refunded in full. Only the (few) orders with refunds are worked on, and
    only their status and refund cells are written back."""
    refunded = c.frame.filter((pl.col("refund_amount") > 0) | pl.col("status").is_in(["refunded", "partially_refunded"]))
    mask = c.frame.select(pl.col("order_id").is_in(refunded["order_id"].unique().implode())).to_series()
    if not mask.any():
        return
    gross = pl.col("quantity") * pl.col("unit_price") - pl.col("discount")
    sub = c.frame.filter(mask).select("order_id", "status", "refund_amount", gross.alias("_gross_line")).with_columns(
        pl.col("refund_amount").sum().over("order_id").alias("_refund"), pl.col("_gross_line").sum().over("order_id")
        .alias("_gross"))
    status = (pl.when(pl.col("status").is_in(["paid", "partially_refunded"]) & (pl.col("_refund") > 0))
              .then(pl.when(pl.col("_refund") >= pl.col("_gross") - 0.005).then(pl.lit("refunded", STATUS_ENUM))
                    .otherwise(pl.lit("partially_refunded", STATUS_ENUM)))
              .otherwise(pl.col("status")))
    sub = sub.with_columns(status.alias("status")).with_columns(
        pl.when((pl.col("status") == "refunded") & (pl.col("_refund") == 0)).then(pl.col("_gross_line"))
        .otherwise(pl.col("refund_amount")).alias("refund_amount"))
    at = mask.arg_true()
    c.frame = c.frame.with_columns(c.frame["status"].clone().scatter(at, sub["status"]),
                                   c.frame["refund_amount"].clone().scatter(at, sub["refund_amount"]))


def _number_lines(frame: pl.DataFrame) -> pl.DataFrame:
    """line_no = position of the line within its order, in file order (1, 2, …)."""
    oid = frame["order_id"]
    starts = (oid != oid.shift()).fill_null(True)
    if oid.filter(starts).n_unique() == starts.sum():  # each order's lines together: count along runs
        idx = pl.int_range(pl.len())
        start = pl.when(pl.lit(starts)).then(idx).otherwise(None).forward_fill()
        return frame.with_columns((idx - start + 1).cast(pl.Int32).alias("line_no"))
    return frame.with_columns((pl.int_range(pl.len()).over("order_id") + 1).cast(pl.Int32).alias("line_no"))


def _uci_not_sales(c: Checked) -> None:
    """Mark return invoices; skip adjustments and fees (before the generic checks)."""
    c.frame = c.frame.with_columns(pl.col("order_id").str.starts_with("C").alias("is_return"))
    c.skip(pl.col("order_id").str.starts_with("A"), "not a sale: bad-debt adjustment (A invoice)")
    c.skip(pl.col("sku").is_in(list(UCI_FEES)), "not a sale: fee or sample line (BANK CHARGES, AMAZONFEE, CRUK, …)")


def _uci_rules(c: Checked) -> None:
    """Returns carry their value as a refund; shipping and discount lines move to their columns."""
    sku = pl.col("sku")
    amount = (pl.col("quantity") * pl.col("unit_price")).abs()
    is_return = pl.col("is_return")
    c.frame = c.frame.with_columns(
        pl.when(sku.is_in(list(UCI_SHIPPING)) & ~is_return).then(amount).otherwise(0).alias("shipping"),
        pl.when(sku.is_in(list(UCI_DISCOUNT)) & ~is_return).then(amount).otherwise(0).alias("discount"),
        pl.when(is_return).then(amount).otherwise(pl.col("refund_amount")).alias("refund_amount"),
        pl.when(is_return).then(pl.lit("refunded", STATUS_ENUM)).otherwise(pl.col("status")).alias("status"))
    not_goods = sku.is_in(list(UCI_SHIPPING | UCI_DISCOUNT)) | pl.col("is_return")
    c.frame = c.frame.with_columns(
        pl.when(not_goods).then(0.0).otherwise(pl.col("quantity")).alias("quantity"),
        pl.when(sku.is_in(list(UCI_SHIPPING | UCI_DISCOUNT))).then(0.0).otherwise(pl.col("unit_price"))
        .alias("unit_price"))


def rules_traffic(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    _ensure(c, {"channel": ("all", pl.String), "page": ("", pl.String)}
            | {k: (None, pl.Int64) for k in ("visitors", "sessions", "pageviews", "add_to_cart", "bounces", "buyers")}
            | {"bounce_rate": (None, pl.Float64)})
    c.frame = c.frame.with_columns(pl.col("channel").fill_null("all"), pl.col("page").fill_null(""))
    c.reject(pl.col("date").is_null(), "date", "missing date")
    base = pl.coalesce(pl.col("sessions"), pl.col("visitors"))
    c.frame = c.frame.with_columns(
        pl.col("bounces").fill_null((pl.col("bounce_rate") * base).round(0).cast(pl.Int64)))
    for k in ("visitors", "sessions", "pageviews", "add_to_cart", "bounces", "buyers"):
        c.reject(pl.col(k) < 0, k, "negative count")
    duplicate_keys(c, ["date", "channel", "page"])
    return {"traffic": _select(c.good(), "traffic")}


def rules_inventory(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    if "snapshot_date" not in c.source and ctx.as_of is None:
        raise NeedsInput("this inventory file has no date column: give the snapshot date (--date YYYY-MM-DD)")
    _ensure(c, {"snapshot_date": (ctx.as_of, pl.Date), "location": ("", pl.String),
                "on_order": (None, pl.Float64), "unit_cost": (None, pl.Float64)})
    c.frame = _upper_skus(c.frame.with_columns(pl.col("location").fill_null("")))
    c.reject(pl.col("sku").is_null(), "sku", "missing SKU")
    c.reject(pl.col("snapshot_date").is_null(), "snapshot_date", "missing date")
    c.skip(pl.col("on_hand").is_null(), "no stock level (not stocked at this location)")
    c.reject(pl.col("on_hand").abs() > 1e9, "on_hand", "absurd stock level")
    c.reject(pl.col("on_order") < 0, "on_order", "negative units on order")
    duplicate_keys(c, ["snapshot_date", "sku", "location"])
    return {"inventory": _select(c.good(), "inventory")}


def rules_products(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    _ensure(c, {k: (None, pl.String) for k in ("name", "category", "supplier")}
            | {k: (None, pl.Float64) for k in ("unit_price", "unit_cost")}
            | {k: (None, pl.Int64) for k in ("lead_time_days", "moq", "pack_size")})
    c.frame = _upper_skus(c.frame)
    c.reject(pl.col("sku").is_null(), "sku", "missing SKU")
    for k in ("unit_price", "unit_cost", "lead_time_days"):
        c.reject(pl.col(k) < 0, k, f"negative {k.replace('_', ' ')}")
    c.reject(pl.col("lead_time_days") > 365, "lead_time_days", "lead time over a year")
    for k in ("moq", "pack_size"):
        c.reject(pl.col(k) < 1, k, f"{k.replace('_', ' ')} must be at least 1")
    duplicate_keys(c, ["sku"])
    return {"products": _select(c.good(), "products")}


def rules_nps(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    if "responded_at" not in c.source and ctx.as_of is None:
        raise NeedsInput("this NPS file has no date column: give the survey date (--date YYYY-MM-DD)")
    _ensure(c, {"responded_at": (DateTime.combine(ctx.as_of, DateTime.min.time()) if ctx.as_of else None,
                                 pl.Datetime("us"))}
            | {k: (None, pl.String) for k in ("response_id", "customer_id", "channel", "comment")})
    c.reject(pl.col("score").is_null(), "score", "missing score")
    c.reject((pl.col("score") < 0) | (pl.col("score") > 10), "score", "NPS score outside 0–10")
    c.reject(pl.col("responded_at").is_null(), "responded_at", "missing date")
    # Without an id, a response is known by its content (and its rank among identical answers).
    content = pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in
                             ("responded_at", "score", "customer_id", "channel", "comment")], separator="\x1f")
    c.frame = c.frame.with_columns(pl.col("response_id").fill_null(
        content.hash(7).cast(pl.String) + pl.lit("-") + (pl.int_range(pl.len()).over(content) + 1).cast(pl.String)))
    duplicate_keys(c, ["response_id"])
    return {"nps_responses": _select(c.good(), "nps_responses")}


def rules_experiments(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    name = ctx.experiment or ctx.file_name.rsplit(".", 1)[0]
    _ensure(c, {"experiment": (name, pl.String)})
    c.frame = c.frame.with_columns(pl.col("experiment").fill_null(name))
    c.reject(pl.col("variant").is_null(), "variant", "missing variant")
    if "users" in c.source:  # per-variant totals
        _ensure(c, {k: (None, pl.Int64) for k in ("conversions",)}
                | {k: (None, pl.Float64) for k in ("revenue_sum", "revenue_sum_sq")})
        c.reject(pl.col("users") < 0, "users", "negative users")
        c.reject(pl.col("conversions") > pl.col("users"), "conversions", "more conversions than users")
        duplicate_keys(c, ["experiment", "variant"])
        return {"experiment_summary": _select(c.good(), "experiment_summary")}
    _ensure(c, {"assigned_at": (None, pl.Datetime("us")), "converted": (None, pl.Int8),
                "revenue": (None, pl.Float64), "pre_metric": (None, pl.Float64)})
    c.reject(pl.col("user_id").is_null(), "user_id", "missing user id")
    duplicate_keys(c, ["experiment", "variant", "user_id"])
    good = c.good()
    frames = {"experiment_users": _select(good, "experiment_users")}
    extra = [k for k in good.columns if k.startswith("metric:")]
    if extra:
        frames["experiment_metrics"] = good.unpivot(
            index=[ROW, "experiment", "variant", "user_id"], on=extra, variable_name="metric", value_name="value"
        ).with_columns(pl.col("metric").str.strip_prefix("metric:"), pl.col("value").cast(pl.Float64))
    return frames


def rules_promotions(c: Checked, ctx: Context) -> dict[str, pl.DataFrame]:
    _ensure(c, {"sku": (None, pl.String), "discount_pct": (None, pl.Float64)})
    c.frame = c.frame.with_columns(
        pl.col("sku").str.to_uppercase(),
        pl.when(pl.col("discount_pct") > 1).then(pl.col("discount_pct") / 100).otherwise(pl.col("discount_pct"))
        .alias("discount_pct"))
    for k in ("name", "start_date", "end_date"):
        c.reject(pl.col(k).is_null(), k, f"missing {k.replace('_', ' ')}")
    c.reject(pl.col("end_date") < pl.col("start_date"), "end_date", "ends before it starts")
    duplicate_keys(c, ["name", "start_date", "end_date", "sku"])
    return {"promotions": _select(c.good(), "promotions")}


RULES = {"orders": rules_orders, "traffic": rules_traffic, "inventory": rules_inventory,
         "products": rules_products, "nps": rules_nps, "experiments": rules_experiments,
         "promotions": rules_promotions}
