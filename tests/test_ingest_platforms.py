"""Real export layouts: Shopify, WooCommerce, Taobao/Tmall, 生意参谋, NPS surveys, A/B experiment files,
and headers nobody has seen before (DESIGN §2; expected figures from tests/fixtures/exports/EXPECTED.md).
"""
import json
from datetime import datetime

import pytest

from tests.ingest_helpers import (FIXTURES, connect, csv_bytes, dump, ingest, nps_date, rows, statuses, totals,
                                  value)


def per_order(con):
    """order_id -> (lines, Σ qty×price, discount, shipping, refund), money rounded to the cent."""
    out = rows(con, """select order_id, count(*), round(sum(quantity * unit_price), 2), round(sum(discount), 2),
                              round(sum(shipping), 2), round(sum(refund_amount), 2)
                       from order_lines group by 1""")
    return {o: tuple(rest) for o, *rest in out}


# --- Shopify ----------------------------------------------------------------------------------------

SHOPIFY = {  # order: status, created (UTC), lines, Σ qty×price, discount, shipping, refund — EXPECTED.md §1
    "#1001": ("paid", datetime(2024, 3, 5, 13, 22, 10), 2, 36.50, 0, 4.90, 0),
    "#1002": ("paid", datetime(2024, 3, 7, 8, 3, 55), 3, 43.00, 4.30, 0, 0),
    "#1003": ("cancelled", datetime(2024, 3, 8, 20, 17, 30), 1, 14.00, 0, 4.90, 0),
    "#1004": ("refunded", datetime(2024, 3, 11, 10, 48, 2), 1, 89.00, 0, 4.90, 89.00),
    "#1005": ("partially_refunded", datetime(2024, 3, 14, 18, 5, 44), 2, 64.00, 0, 4.90, 19.00),
    "#1006": ("pending", datetime(2024, 3, 20, 7, 31, 9), 1, 56.00, 0, 4.90, 0),
    "#1007": ("paid", datetime(2024, 3, 31, 8, 5, 44), 2, 31.50, 0, 4.90, 0),
    "#1008": ("paid", datetime(2024, 3, 31, 14, 20), 1, 25.00, 0, 0, 0),
}


@pytest.fixture(scope="module")
def shopify():
    con = connect()
    return con, ingest(con, "shopify_orders.csv")


def test_shopify_every_line_arrives_although_each_starts_with_hash(shopify):
    con, r = shopify
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("orders", 13, 13, 0)
    assert value(con, "select count(*) from order_lines") == 13


def test_shopify_orders_status_time_and_amounts(shopify):
    con, _ = shopify
    assert statuses(con) == {o: v[0] for o, v in SHOPIFY.items()}
    assert dict(rows(con, "select order_id, min(ordered_at) from order_lines group by 1")) == \
        {o: v[1] for o, v in SHOPIFY.items()}
    assert per_order(con) == {o: v[2:] for o, v in SHOPIFY.items()}
    assert totals(con) == {"gmv": 289.00, "discounts": 4.30, "refunds": 108.00, "net": 176.70, "shipping": 19.60,
                           "quantity": 21, "quantity_sales": 16, "orders": 8, "lines": 13}


def test_shopify_order_level_fields_written_on_the_first_line_only_are_filled_down(shopify):
    con, _ = shopify
    # Second and third lines of #1001, #1002, #1005, #1007 have no status, dates, currency or source.
    assert rows(con, """select order_id, line_no, status, ordered_at, channel, currency, customer_id
                        from order_lines where order_id in ('#1002', '#1005') order by 1, 2""") == [
        ("#1002", 1, "paid", datetime(2024, 3, 7, 8, 3, 55), "web", "EUR", "j.meyer@example.com"),
        ("#1002", 2, "paid", datetime(2024, 3, 7, 8, 3, 55), "web", "EUR", "j.meyer@example.com"),
        ("#1002", 3, "paid", datetime(2024, 3, 7, 8, 3, 55), "web", "EUR", "j.meyer@example.com"),
        ("#1005", 1, "partially_refunded", datetime(2024, 3, 14, 18, 5, 44), "web", "EUR", "anna.schmidt@example.de"),
        ("#1005", 2, "partially_refunded", datetime(2024, 3, 14, 18, 5, 44), "web", "EUR", "anna.schmidt@example.de"),
    ]
    assert value(con, "select count(*) from order_lines where status is null or ordered_at is null "
                      "or channel is null or currency is null") == 0
    # Order-level amounts stay once per order: filling them down would count them per line.
    assert rows(con, "select line_no, shipping, refund_amount from order_lines where order_id = '#1005' "
                     "order by 1") == [(1, 4.90, 19.00), (2, 0, 0)]


def test_shopify_customers_channels_and_line_numbers(shopify):
    con, _ = shopify
    assert value(con, "select count(distinct customer_id) from order_lines") == 5
    assert rows(con, "select customer_id from order_lines where order_id = '#1008'") == [(None,)]
    assert rows(con, "select customer_id, count(distinct order_id) from order_lines group by 1 "
                     "having count(distinct order_id) > 1 order by 1") == \
        [("anna.schmidt@example.de", 2), ("j.meyer@example.com", 2)]
    assert dict(rows(con, "select channel, count(distinct order_id) from order_lines group by 1")) == \
        {"web": 6, "shopify_draft_order": 1, "pos": 1}
    assert rows(con, "select sku, line_no from order_lines where order_id = '#1002' order by line_no") == \
        [("CANDLE-SOY-LAV", 1), ("CANDLE-SOY-CED", 2), ("MATCH-BOX-LONG", 3)]
    assert rows(con, "select product_name from order_lines where order_id = '#1008'") == [("Gift Box, Large",)]


# --- WooCommerce ------------------------------------------------------------------------------------

WOO = {  # order: status, lines, Σ qty×price, discount, shipping, refund — EXPECTED.md §2
    "5120": ("paid", 2, 60.00, 0, 3.95, 0), "5121": ("paid", 1, 29.00, 5.00, 3.95, 0),
    "5122": ("cancelled", 1, 18.00, 0, 3.95, 0), "5123": ("refunded", 1, 24.00, 0, 3.95, 24.00),
    "5124": ("partially_refunded", 2, 33.00, 0, 3.95, 9.00), "5125": ("pending", 1, 24.00, 0, 3.95, 0),
    "5126": ("pending", 1, 12.00, 0, 3.95, 0), "5127": ("cancelled", 1, 9.00, 0, 3.95, 0),
}


@pytest.fixture(scope="module")
def woo():
    con = connect()
    return con, ingest(con, "woocommerce_orders.csv")


def test_woocommerce_statuses(woo):
    con, r = woo
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (10, 10, 0)
    assert statuses(con) == {o: v[0] for o, v in WOO.items()}
    assert value(con, "select count(distinct order_id) from order_lines where customer_id = "
                      "'oliver.hughes@example.co.uk'") == 2


def test_woocommerce_order_amounts_repeated_on_every_item_row_count_once(woo):
    """The plugin repeats Order Shipping/Refund Amount on each item row: 5120 ships for 3.95, not 7.90."""
    con, _ = woo
    assert per_order(con) == {o: v[1:] for o, v in WOO.items()}
    assert totals(con) == {"gmv": 146.00, "discounts": 5.00, "refunds": 33.00, "net": 108.00, "shipping": 15.80,
                           "quantity": 15, "quantity_sales": 10, "orders": 8, "lines": 10}


# --- Taobao / Tmall ---------------------------------------------------------------------------------

TAOBAO = {  # id suffix: status, qty, unit price (买家应付货款 / 宝贝总数量), shipping — EXPECTED.md §3
    "241": ("paid", 2, 39.00, 0), "242": ("partially_refunded", 3, 29.90, 0), "243": ("paid", 1, 45.00, 6.00),
    "244": ("paid", 2, 59.00, 0), "245": ("pending", 1, 39.00, 0), "246": ("cancelled", 1, 29.90, 0),
    "247": ("cancelled", 1, 88.00, 0), "248": ("paid", 1, 66.00, 8.00),
}


@pytest.fixture(scope="module")
def taobao():
    con = connect()
    return con, ingest(con, "taobao_orders_gbk.csv")


def test_taobao_chinese_headers_statuses_and_amounts(taobao):
    con, r = taobao
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("orders", 8, 8, 0)
    got = {o[-3:]: (s, q, round(p, 2), sh) for o, s, q, p, sh in rows(
        con, "select order_id, status, quantity, unit_price, shipping from order_lines")}
    assert got == TAOBAO
    assert rows(con, "select count(*), min(line_no), max(line_no) from order_lines") == [(8, 1, 1)]
    assert rows(con, "select refund_amount from order_lines where order_id like '%242'") == [(29.90,)]
    # Every sales order paid goods + postage in full: no discount.
    assert totals(con) == {"gmv": 396.70, "discounts": 0, "refunds": 29.90, "net": 366.80, "shipping": 14.00,
                           "quantity": 12, "quantity_sales": 9, "orders": 8, "lines": 8}


def test_taobao_customer_shop_sku_and_local_time(taobao):
    con, _ = taobao
    assert rows(con, "select order_id from order_lines where customer_id = '小鹿爱喝茶' order by 1") == \
        [("310012345678901241",), ("310012345678901247",)]
    assert rows(con, "select sku, product_name is not null, ordered_at from order_lines "
                     "where order_id = '310012345678901241'") == \
        [("MZ-BZ-001", True, datetime(2024, 3, 1, 10, 12, 33))]


def test_taobao_status_texts_map_like_the_platform_means_them():
    """交易成功 paid; 交易关闭 cancelled whatever was paid (DESIGN §2); 等待买家付款 pending; refunds of a
    交易成功 order make it partially refunded."""
    header = ["订单编号", "买家会员名", "买家应付货款", "买家应付邮费", "买家实际支付金额", "订单状态", "订单创建时间",
              "订单付款时间", "宝贝总数量", "商家编码", "退款金额"]
    records = [header,
               ["T1", "买家甲", "100.00", "0.00", "100.00", "交易成功", "2024-03-01 10:00:00", "2024-03-01 10:01:00",
                "1", "SKU-A", "0.00"],
               ["T2", "买家乙", "50.00", "10.00", "60.00", "交易关闭", "2024-03-02 10:00:00", "2024-03-02 10:01:00",
                "2", "SKU-B", "60.00"],
               ["T3", "买家丙", "80.00", "0.00", "0.00", "等待买家付款", "2024-03-03 10:00:00", "", "4", "SKU-C",
                "0.00"],
               ["T4", "买家丁", "120.00", "0.00", "120.00", "交易成功", "2024-03-04 10:00:00", "2024-03-04 10:02:00",
                "3", "SKU-D", "40.00"]]
    con = connect()
    r = ingest(con, csv_bytes(records, encoding="gbk", newline="\r\n"), name="淘宝订单.csv")
    assert r.status == "loaded", r.message
    assert statuses(con) == {"T1": "paid", "T2": "cancelled", "T3": "pending", "T4": "partially_refunded"}
    assert rows(con, "select order_id, quantity, unit_price from order_lines order by 1") == \
        [("T1", 1, 100.0), ("T2", 2, 25.0), ("T3", 4, 20.0), ("T4", 3, 40.0)]


# --- 生意参谋 ---------------------------------------------------------------------------------------

def test_sycm_traffic_is_detected_as_shop_total_traffic():
    con = connect()
    r = ingest(con, "sycm_traffic_gbk.csv")
    assert r.status == "loaded", r.message
    assert r.kind == "traffic"
    assert r.mapping == {"date": "统计日期", "visitors": "访客数", "pageviews": "浏览量", "buyers": "支付买家数",
                         "bounce_rate": "跳失率", "add_to_cart": "加购人数"}
    assert rows(con, "select distinct channel, page from traffic") == [("all", "")]


# --- NPS surveys ------------------------------------------------------------------------------------

def test_nps_file_without_a_date_is_refused_with_a_request_for_the_date():
    con = connect()
    before = dump(con)
    r = ingest(con, "nps_survey_nodate.csv")
    assert r.status == "refused"
    assert "date" in r.message and "--date" in r.message and "\n" not in r.message
    assert dump(con) == before


@pytest.fixture(scope="module")
def nps():
    con = connect()
    return con, ingest(con, "nps_survey_nodate.csv", as_of=nps_date())


def test_nps_scores_outside_0_to_10_are_rejected_with_reasons(nps):
    """EXPECTED.md §9: data rows 7, 11, 15 (spreadsheet rows 8, 12, 16: the header is row 1)."""
    _, r = nps
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("nps", 20, 17, 3)
    assert [(e["row"], e["column"], e["value"]) for e in r.errors] == [(8, "nps", "11"), (12, "nps", "-1"),
                                                                        (16, "nps", None)]
    assert "0–10" in r.errors[0]["reason"] and "0–10" in r.errors[1]["reason"]
    assert "missing" in r.errors[2]["reason"]


def test_nps_loaded_answers(nps):
    con, _ = nps
    assert value(con, "select count(*) from nps_responses where response_id in ('4107', '4111', '4115')") == 0
    promoters, passives, detractors, mean = rows(con, """
        select count(*) filter (where score >= 9), count(*) filter (where score between 7 and 8),
               count(*) filter (where score <= 6), avg(score) from nps_responses""")[0]
    assert (promoters, passives, detractors) == (8, 5, 4)
    assert round(100 * (promoters - detractors) / 17, 2) == 23.53
    assert round(mean, 2) == 7.53
    assert rows(con, "select min(score), max(score) from nps_responses") == [(0, 10)]
    assert rows(con, "select count(comment), count(*) - count(comment) from nps_responses") == [(11, 6)]
    assert rows(con, "select distinct responded_at from nps_responses") == [(datetime(2024, 3, 1),)]
    assert rows(con, "select comment from nps_responses where response_id = '4110'") == [("Super, merci à l'équipe.",)]


# --- experiments in wide form -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def experiment():
    con = connect()
    return con, ingest(con, "experiment_wide.csv")


def test_experiment_wide_file_users_and_canonical_metrics(experiment):
    con, r = experiment
    assert r.status == "loaded", r.message
    assert (r.kind, r.rows_read, r.inserted, r.rejected) == ("experiments", 31, 30, 0)
    assert rows(con, """select experiment, variant, count(*), sum(converted), sum(revenue), sum(revenue * revenue),
                               count(pre_metric) from experiment_users group by all order by all""") == [
        ("experiment_wide", "control", 15, 3, 145.50, 7375.25, 0),
        ("experiment_wide", "treatment", 15, 5, 255.00, 13702.50, 0)]
    assert rows(con, "select distinct converted from experiment_users order by 1") == [(0,), (1,)]
    assert rows(con, "select min(assigned_at), max(assigned_at) from experiment_users") == \
        [(datetime(2024, 3, 4, 9, 41), datetime(2024, 3, 5, 7, 8))]
    assert rows(con, "select variant, converted, revenue from experiment_users where user_id = 'u10777'") == \
        [("treatment", 0, 0.0)]


def test_experiment_other_numeric_columns_are_metrics_and_free_text_is_ignored_with_a_warning(experiment):
    con, r = experiment
    assert rows(con, "select variant, metric, count(*), sum(value) from experiment_metrics group by all "
                     "order by all") == [("control", "added_to_cart", 15, 7), ("control", "pages_viewed", 15, 99),
                                         ("treatment", "added_to_cart", 15, 10),
                                         ("treatment", "pages_viewed", 15, 105)]
    assert value(con, "select count(*) from experiment_metrics where metric in ('browser', 'converted', 'revenue', "
                      "'assigned_at', 'user_id', 'variant')") == 0
    assert any("browser" in w for w in r.warnings)
    assert rows(con, "select value from experiment_metrics where user_id = 'u10999' order by metric") == [(1,), (13,)]


def test_experiment_booleans_and_zero_one_columns_with_a_given_name():
    records = [["visitor id", "arm", "converted", "revenue", "pre period metric", "sessions", "coupon_used", "note",
                "country"],
               ["v1", "A", "yes", "0", "12.5", "3", "TRUE", "liked it", "DE"],
               ["v2", "A", "no", "0", "0", "1", "FALSE", "", "FR"],
               ["v3", "B", "yes", "30.5", "7", "4", "true", "n/a please", "DE"],
               ["v4", "B", "1", "12", "2.5", "2", "0", "slow", "IT"],
               ["v5", "B", "0", "0", "", "5", "1", "", "ES"]]
    con = connect()
    r = ingest(con, csv_bytes(records), name="ab.csv", experiment="checkout-v2")
    assert r.status == "loaded", r.message
    assert rows(con, "select user_id, variant, converted, revenue, pre_metric from experiment_users "
                     "where experiment = 'checkout-v2' order by 1") == [
        ("v1", "A", 1, 0, 12.5), ("v2", "A", 0, 0, 0), ("v3", "B", 1, 30.5, 7), ("v4", "B", 1, 12, 2.5),
        ("v5", "B", 0, 0, None)]
    assert rows(con, "select metric, list(value order by user_id) from experiment_metrics group by 1 order by 1") == \
        [("coupon_used", [1, 0, 1, 0, 1]), ("sessions", [3, 1, 4, 2, 5])]
    warned = " ".join(r.warnings)
    assert "note" in warned and "country" in warned


# --- unknown headers and the remembered mapping -----------------------------------------------------

MAPPING = json.loads((FIXTURES / "orders_unknown_headers.mapping.json").read_text())


def test_unknown_headers_are_refused_naming_them_and_the_columns_needed():
    con = connect()
    before = dump(con)
    r = ingest(con, "orders_unknown_headers.csv")
    assert r.status == "refused"
    assert "\n" not in r.message
    for header in ["Ref", "When", "Cust", "Item code", "Each", "Disc", "Ship", "State", "Curr"]:
        assert header in r.message
    for needed in ["order_id", "ordered_at", "unit_price"]:
        assert needed in r.message
    assert dump(con) == before


def test_mapping_override_loads_and_is_remembered_for_the_same_header_set():
    con = connect()
    r = ingest(con, "orders_unknown_headers.csv", user_mapping=MAPPING)
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (6, 6, 0)
    assert statuses(con) == {"INV-7731": "paid", "INV-7732": "paid", "INV-7733": "refunded",
                             "INV-7734": "cancelled", "INV-7735": "paid"}
    t = totals(con)
    assert (t["gmv"], t["quantity"], t["quantity_sales"], t["discounts"], t["orders"]) == (255.00, 14, 11, 1.80, 5)
    # A second export with the same headers, next week's orders: no mapping given.
    second = (FIXTURES / "orders_unknown_headers.csv").read_text().replace("INV-77", "INV-88")
    r2 = ingest(con, second.encode(), name="orders_next_week.csv")
    assert r2.status == "loaded", r2.message
    assert (r2.kind, r2.inserted) == ("orders", 6)
    assert {r2.mapping[c]: c for c in r2.mapping} == MAPPING
    assert value(con, "select count(distinct order_id) from order_lines") == 10
    # Same headers in another order are the same header set.
    lines = second.replace("INV-88", "INV-99").splitlines()
    cells = [line.split(",") for line in lines]
    swapped = "\n".join(",".join([c[1], c[0], *c[2:]]) for c in cells) + "\n"
    r3 = ingest(con, swapped.encode(), name="reordered.csv")
    assert r3.status == "loaded", r3.message
    assert rows(con, "select ordered_at from order_lines where order_id = 'INV-9931' and line_no = 1") == \
        [(datetime(2024, 3, 2, 11, 0),)]


def test_remembered_mapping_does_not_apply_to_other_headers():
    con = connect()
    assert ingest(con, "orders_unknown_headers.csv", user_mapping=MAPPING).status == "loaded"
    fewer = "Ref,When,Cust,Item,Each\nINV-1,2024-03-02 11:00,K-1,Mug,14.00\n"
    r = ingest(con, fewer.encode(), name="other.csv")
    assert r.status == "refused"
    assert "Ref" in r.message and "order_id" in r.message


def test_mapping_to_a_name_that_is_not_a_canonical_column_is_refused():
    con = connect()
    before = dump(con)
    r = ingest(con, "orders_unknown_headers.csv", user_mapping=MAPPING | {"Ref": "order_number"})
    assert r.status == "refused"
    assert "order_number" in r.message and "order_id" in r.message
    assert dump(con) == before
