"""Header synonyms: one table per kind mapping canonical columns to the headers real exports use.

Covers our canonical names, Shopify's orders export, the UCI Online Retail layouts, WooCommerce,
GA4 / Universal Analytics downloads, Taobao/Tmall order reports and 生意参谋 traffic exports.
Headers are compared after :func:`normalize` (case, spaces, punctuation and units ignored).

Besides the canonical columns of DESIGN §2, a few *helper* columns feed the rules in
``data.kinds``: ``paid_at``, ``cancelled_at``, ``financial_status``, ``line_total``,
``paid_amount`` (orders) and ``bounce_rate`` (traffic, a share turned into a count).
"""
from __future__ import annotations

import re
import unicodedata

# Amount headers (exactly as platforms spell them) that hold a whole order's figure: written on the
# order's first line (Shopify) or repeated on every item line (WooCommerce order-export plugins);
# either way counted once, when the file's values show that pattern.
ORDER_LEVEL_AMOUNTS = {"Shipping", "Discount Amount", "Refunded Amount", "Order Shipping Amount",
                       "Order Refund Amount", "Cart Discount Amount", "Order Discount", "Shipping Total",
                       "Order Total Amount", "Order Total", "买家应付邮费", "买家实际支付金额"}

KINDS = ("orders", "traffic", "inventory", "products", "nps", "experiments", "promotions")

SYNONYMS: dict[str, dict[str, list[str]]] = {
    "orders": {
        "order_id": ["order id", "order number", "order no", "Name", "InvoiceNo", "Invoice", "order",
                     "订单编号", "订单号", "子订单编号", "主订单编号", "Order Number", "order_key"],
        "line_no": ["line no", "line number", "line", "行号"],
        "ordered_at": ["ordered at", "order date", "Created at", "created", "InvoiceDate", "Date created",
                       "date", "订单创建时间", "下单时间", "创建时间", "Order Date", "order_created"],
        "paid_at": ["Paid at", "paid date", "Date paid", "订单付款时间", "付款时间", "支付时间"],
        "cancelled_at": ["Cancelled at", "canceled at", "cancelled date", "关闭时间"],
        "customer_id": ["customer id", "customer", "CustomerID", "Customer ID", "Email", "customer email",
                        "Billing Email", "Billing Email Address", "买家会员名", "买家昵称", "买家账号",
                        "客户ID", "会员名", "user id"],
        "channel": ["channel", "Source", "sales channel", "order source", "店铺名称", "渠道",
                    "来源渠道", "订单来源", "Created via"],
        "status": ["status", "order status", "订单状态", "交易状态"],
        "financial_status": ["Financial Status", "payment status", "支付状态"],
        "sku": ["sku", "Lineitem sku", "StockCode", "item sku", "product sku", "商家编码", "商品编码",
                "宝贝编码", "货号", "SKU编码", "商家编码(SKU)", "Item SKU", "variant sku"],
        "product_name": ["product name", "Lineitem name", "Description", "item name", "product",
                         "title", "宝贝标题", "商品名称", "商品标题", "Item Name"],
        "quantity": ["quantity", "qty", "Lineitem quantity", "Quantity", "units", "宝贝总数量", "购买数量",
                     "数量", "商品数量", "Item Quantity", "Qty ordered"],
        "unit_price": ["unit price", "price", "Lineitem price", "UnitPrice", "Price", "item price",
                       "单价", "商品单价", "价格", "Item Cost", "Item Price"],
        "line_total": ["line total", "line amount", "subtotal", "Lineitem total", "item total",
                       "买家应付货款", "商品总价", "货款", "Line Subtotal"],
        "paid_amount": ["paid amount", "amount paid", "买家实际支付金额", "实付金额", "实际支付金额",
                        "Order Total Amount", "Order Total"],
        "discount": ["discount", "discount amount", "Discount Amount", "Lineitem discount", "优惠金额",
                     "折扣", "店铺优惠", "Cart Discount Amount", "Order Discount"],
        "refund_amount": ["refund amount", "refunded amount", "Refunded Amount", "refund", "退款金额",
                          "Order Refund Amount"],
        "shipping": ["shipping", "Shipping", "shipping amount", "shipping cost", "买家应付邮费", "邮费",
                     "运费", "Order Shipping Amount", "Shipping Total"],
        "unit_cost": ["unit cost", "cost", "Lineitem cost", "成本", "成本价", "cost price"],
        "currency": ["currency", "Currency", "币种", "Order Currency"],
    },
    "traffic": {
        "date": ["date", "day", "Date", "统计日期", "日期", "Day", "Datum", "Jour", "Fecha"],
        "channel": ["channel", "Session default channel group", "Default channel group", "channel group",
                    "Session source / medium", "Source / Medium", "source", "medium", "流量来源", "渠道",
                    "Session primary channel group", "First user default channel group",
                    "Groupe de canaux par défaut", "Standard-Channelgruppe", "Grupo de canales predeterminado"],
        "page": ["page", "Page path and screen class", "page path", "landing page", "Page", "页面"],
        "visitors": ["visitors", "uv", "users", "Total users", "Active users", "Users", "访客数", "独立访客",
                     "unique visitors", "Utilisateurs", "Nutzer", "Usuarios"],
        "sessions": ["sessions", "Sessions", "visits", "会话数", "访问次数", "Sitzungen", "Sesiones"],
        "pageviews": ["pageviews", "pv", "Views", "Page views", "Pageviews", "Screen page views",
                      "浏览量", "页面浏览量", "Pages vues", "Seitenaufrufe", "Páginas vistas"],
        "add_to_cart": ["add to cart", "add to carts", "Add to carts", "Add-to-carts", "addtocarts",
                        "加购人数", "加购件数", "加购次数", "adds to cart"],
        "bounces": ["bounces", "跳出次数"],
        "bounce_rate": ["bounce rate", "Bounce rate", "跳失率", "跳出率", "Taux de rebond", "Absprungrate",
                        "Porcentaje de rebote"],
        "buyers": ["buyers", "purchasers", "Total purchasers", "支付买家数", "付款买家数", "成交买家数"],
    },
    "inventory": {
        "snapshot_date": ["snapshot date", "date", "as of", "stock date", "Datum", "Stichtag", "日期", "盘点日期",
                          "统计日期"],
        "sku": ["sku", "SKU", "StockCode", "item sku", "variant sku", "商家编码", "商品编码", "货号"],
        "location": ["location", "warehouse", "store", "仓库", "库位", "门店"],
        "on_hand": ["on hand", "on_hand", "On hand", "stock", "available", "Available", "quantity on hand",
                    "inventory", "qty on hand", "库存", "可用库存", "库存数量", "实际库存", "On hand (current)"],
        "on_order": ["on order", "incoming", "Incoming", "in transit", "在途", "在途库存", "采购在途"],
        "unit_cost": ["unit cost", "cost", "Cost", "Cost per item", "成本", "成本价"],
    },
    "products": {
        "sku": ["sku", "SKU", "Variant SKU", "StockCode", "article no", "article number", "item no",
                "item number", "product code", "商家编码", "商品编码", "货号"],
        "name": ["name", "product name", "Title", "title", "Description", "商品名称", "宝贝标题"],
        "category": ["category", "Type", "product type", "product category", "product group", "类目",
                     "商品类目", "分类"],
        "unit_price": ["unit price", "price", "Variant Price", "sales price", "retail price", "selling price",
                       "售价", "价格", "零售价"],
        "unit_cost": ["unit cost", "cost", "Cost per item", "purchase price", "cost price", "buying price",
                      "成本", "成本价", "采购价"],
        "lead_time_days": ["lead time days", "lead time", "lead_time", "交货期", "采购周期", "备货周期"],
        "moq": ["moq", "minimum order quantity", "min order qty", "最小起订量", "起订量"],
        "pack_size": ["pack size", "case pack", "pack", "inner pack", "箱规", "包装数量"],
        "supplier": ["supplier", "vendor", "Vendor", "供应商"],
    },
    "nps": {
        "response_id": ["response id", "id", "respondent id", "answer id", "Response ID", "问卷编号"],
        "responded_at": ["responded at", "date", "response date", "submitted at", "timestamp",
                         "survey date", "created at", "提交时间", "日期"],
        "score": ["score", "nps", "nps score", "likelihood to recommend", "recommend",
                  "How likely are you to recommend us to a friend or colleague?", "推荐值", "推荐意愿", "评分"],
        "customer_id": ["customer id", "customer", "email", "user id", "会员名", "客户ID"],
        "channel": ["channel", "store", "source", "渠道", "门店"],
        "comment": ["comment", "comments", "feedback", "explication", "reason", "verbatim", "why", "评论",
                    "留言", "意见"],
    },
    "experiments": {
        "experiment": ["experiment", "experiment name", "test", "test name", "experiment_id", "实验", "实验名称"],
        "variant": ["variant", "variation", "group", "arm", "bucket", "treatment group", "分组", "实验组"],
        "user_id": ["user id", "user", "visitor id", "customer id", "uid", "用户ID", "用户"],
        "assigned_at": ["assigned at", "assignment time", "first exposure", "timestamp", "exposed at", "分组时间"],
        "converted": ["converted", "conversion", "purchased", "is converted", "转化"],
        "revenue": ["revenue", "sales", "amount", "收入", "销售额"],
        "pre_metric": ["pre metric", "pre period metric", "pre revenue", "covariate", "实验前指标"],
        "users": ["users", "visitors", "participants", "sample size", "用户数"],
        "conversions": ["conversions", "converted users", "转化数"],
        "revenue_sum": ["revenue sum", "total revenue", "revenue total"],
        "revenue_sum_sq": ["revenue sum sq", "revenue sum of squares", "revenue_sum_squares"],
    },
    "promotions": {
        "name": ["name", "promotion", "promotion name", "campaign", "活动名称", "活动"],
        "start_date": ["start date", "start", "starts at", "from", "开始时间", "开始日期"],
        "end_date": ["end date", "end", "ends at", "to", "结束时间", "结束日期"],
        "sku": ["sku", "StockCode", "商家编码", "商品编码"],
        "discount_pct": ["discount pct", "discount", "discount percent", "折扣", "折扣率"],
    },
}

# What a kind cannot do without: each inner tuple is "one of these".
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "orders": [("order_id",), ("ordered_at", "paid_at"), ("unit_price", "line_total", "paid_amount")],
    "traffic": [("date",), ("visitors", "sessions", "pageviews")],
    "inventory": [("sku",), ("on_hand",)],
    "products": [("sku",), ("name", "category", "unit_price", "unit_cost", "lead_time_days", "moq",
                            "pack_size", "supplier")],
    "nps": [("score",)],
    "experiments": [("variant",), ("user_id", "users")],
    "promotions": [("name",), ("start_date",), ("end_date",)],
}


def normalize(header: str) -> str:
    """Comparable form of a header: NFKC, lower case, no spaces/punctuation/units in brackets."""
    h = unicodedata.normalize("NFKC", str(header)).strip().lower()
    h = re.sub(r"[(\[（【][^)\]）】]*[)\]）】]$", "", h) or h
    return re.sub(r"[\s_\-/.:?#'\"]+", "", h)


_LOOKUP: dict[str, dict[str, str]] = {
    kind: {normalize(s): canon for canon, spellings in table.items() for s in [canon, *spellings]}
    for kind, table in SYNONYMS.items()
}


def match(kind: str, header: str) -> str | None:
    """The canonical column ``header`` stands for in files of ``kind``, if any."""
    return _LOOKUP[kind].get(normalize(header))
