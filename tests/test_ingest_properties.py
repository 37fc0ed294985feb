"""Property tests (hypothesis): however a small orders table is written — delimiter, encoding, quoting,
date format, decimal comma, line endings — it loads to the same warehouse values; loading twice is
loading once; no byte string makes the pipeline crash.
"""
import csv
import os
from datetime import datetime, timedelta

from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from tests.ingest_helpers import connect, csv_bytes, dump, ingest, rows

# The default run is quick and repeatable (a fixed seed); INGEST_EXAMPLES=500 runs a longer, random hunt.
HUNT = os.environ.get("INGEST_EXAMPLES")
SETTINGS = settings(max_examples=int(HUNT or 40), derandomize=not HUNT, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow], print_blob=True)

# Characters a product name may hold (CSV-special ones included on purpose), per family of encodings.
ASCII = "abcxyzABCXYZ019 ,;|\"'#=-+()&/"
UNICODE = ASCII + "éèàçüößñÉØ€陶瓷马克杯红茶礼盒，号"
UNICODE_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16"]  # BOM-less UTF-16: test_ingest_encodings
# Legacy 8-bit and GB files cannot be told apart on a handful of bytes; real files carry words.
WORDS = {"cp1252": ["Théière", "crème", "brûlée", "Größe", "café", "été", "à", "über", "Bougie", "parfumée",
                    "lavande", "Kaffeebecher", "weiß", "naïve", "Noël", "Übergröße", "façon", "fenêtre"],
         "gb18030": ["陶瓷", "马克杯", "红茶", "礼盒", "大号", "白色", "薰衣草", "蜡烛", "铸铁", "茶壶", "羊毛毯", "灰色",
                     "长火柴", "不锈钢", "滤茶器", "伯爵"]}
DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S",
                "%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S"]
STATUSES = ["paid", "pending", "cancelled"]
HEADER = ["order_id", "ordered_at", "customer_id", "status", "sku", "product_name", "quantity", "unit_price"]
ANCHOR_TIME = datetime(2024, 5, 25, 10, 30)  # day 25: the day/month order is always inferable


@st.composite
def orders_tables(draw, legacy: bool = False):
    """(encoding, list of orders): each order has 1–3 lines; one anchor order dated the 25th."""
    if legacy:
        encoding = draw(st.sampled_from(list(WORDS)))
        name = st.lists(st.sampled_from(WORDS[encoding]), min_size=2, max_size=4, unique=True).map(" ".join)
    else:
        encoding = draw(st.sampled_from(UNICODE_ENCODINGS))
        name = st.text(UNICODE, min_size=1, max_size=24).map(str.strip).filter(
            lambda s: len(s) >= 2 and s[0].isalnum())
    n = draw(st.integers(3 if legacy else 1, 8))
    orders = []
    for i in range(n + 1):
        when = ANCHOR_TIME if i == 0 else datetime(2021, 1, 1) + timedelta(
            minutes=draw(st.integers(0, 3 * 365 * 24 * 60)))
        order = {"id": draw(st.sampled_from(["#", "SO-", ""])) + f"{1000 + i}",
                 "at": when.replace(second=0), "customer": draw(st.sampled_from(["C-1", "C-2", "k.müller@x.de"])),
                 "status": draw(st.sampled_from(STATUSES)), "lines": []}
        for _ in range(draw(st.integers(1, 3))):
            order["lines"].append({"sku": draw(st.sampled_from(["MUG-1", "TEA-2", "BOX-3"])), "name": draw(name),
                                   "qty": draw(st.integers(1, 50)), "cents": draw(st.integers(1, 99999))})
        orders.append(order)
    return encoding, orders


@st.composite
def written(draw, table):
    """The bytes of one way of writing ``table`` as a CSV file."""
    encoding, orders = table
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    fmt = draw(st.sampled_from(DATE_FORMATS))
    comma = delimiter != "," and draw(st.booleans())
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    records = [HEADER]
    for o in orders:
        for line in o["lines"]:
            price = f"{line['cents'] // 100}.{line['cents'] % 100:02d}"
            records.append([o["id"], o["at"].strftime(fmt), o["customer"], o["status"], line["sku"], line["name"],
                            str(line["qty"]), price.replace(".", ",") if comma else price])
    return csv_bytes(records, delimiter=delimiter, encoding=encoding, quoting=quoting, newline=newline)


def expected_rows(orders) -> list[tuple]:
    out = []
    for o in orders:
        for n, line in enumerate(o["lines"], start=1):
            out.append((o["id"], n, o["at"], o["customer"], o["status"], line["sku"], line["name"], line["qty"],
                        line["cents"]))
    return sorted(out)


def stored(con) -> list[tuple]:
    return sorted(rows(con, """select order_id, line_no, ordered_at, customer_id, status, sku, product_name,
                                      quantity, round(unit_price * 100)::bigint from order_lines"""))


@SETTINGS
@given(st.data())
def test_any_way_of_writing_a_table_round_trips_to_the_same_values(data):
    table = data.draw(orders_tables())
    raw = data.draw(written(table))
    con = connect()
    r = ingest(con, raw, name="orders.csv")
    n_lines = sum(len(o["lines"]) for o in table[1])
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (n_lines, n_lines, 0)
    assert stored(con) == expected_rows(table[1])


@SETTINGS
@given(st.data())
def test_legacy_encoded_tables_with_real_words_round_trip(data):
    """cp1252 (Western Excel) and GB18030 (Chinese Excel) files of a few orders named in real words."""
    table = data.draw(orders_tables(legacy=True))
    raw = data.draw(written(table))
    con = connect()
    r = ingest(con, raw, name="orders.csv")
    assert r.status == "loaded", r.message
    assert stored(con) == expected_rows(table[1])


@SETTINGS
@given(st.data())
def test_loading_the_same_rows_twice_equals_loading_them_once(data):
    table = data.draw(orders_tables())
    first, second = data.draw(written(table)), data.draw(written(table))
    once = connect()
    assert ingest(once, first, name="a.csv").status == "loaded"
    after_once = stored(once)
    r = ingest(once, second, name="b.csv")
    n_lines = sum(len(o["lines"]) for o in table[1])
    if second == first:
        assert r.status == "duplicate_file"
    else:
        assert (r.status, r.inserted, r.updated) == ("loaded", 0, n_lines)
    assert stored(once) == after_once
    assert rows(once, "select count(*) from order_lines") == [(n_lines,)]


def _never_crashes(raw: bytes, name: str) -> None:
    con = connect()
    assert ingest(con, b"order_id,ordered_at,unit_price\nX1,2024-03-01 10:00,9.99\n", name="seed.csv").status == \
        "loaded"
    before = dump(con)
    r = ingest(con, raw, name=name)  # an exception here is the failure this test looks for
    assert r.status in ("loaded", "refused", "duplicate_file")
    assert r.message and "\n" not in r.message
    if r.status != "loaded":
        assert dump(con) == before


@SETTINGS
@given(st.binary(max_size=3000), st.sampled_from(["junk.csv", "junk.xlsx", "junk.parquet", "junk.txt"]))
def test_random_bytes_never_crash(raw, name):
    _never_crashes(raw, name)


@SETTINGS
@given(st.text(alphabet=',;|\t"\'\n\r #=-+.0123456789abcXYZé陶/:', max_size=400))
def test_random_csv_like_text_never_crashes(text):
    _never_crashes(text.encode("utf-8"), "junk.csv")


@SETTINGS
@given(st.lists(st.lists(st.text(alphabet='ab1,;" \n-#', max_size=6), min_size=1, max_size=5), min_size=1,
                max_size=8),
       st.sampled_from([",", ";", "\t", "|"]))
@example(cells=[["\n\n1"], [""], ["1\n1"], ["1"]], delimiter=",")  # found by a longer hunt
def test_orders_header_with_random_cells_never_crashes(cells, delimiter):
    """A real header with junk below it: each row is loaded, rejected or the file refused — no crash."""
    records = [["order_id", "ordered_at", "quantity", "unit_price"]] + [(c + ["", "", "", ""])[:4] for c in cells]
    assume(any(any(x.strip() for x in rec) for rec in records[1:]))
    _never_crashes(csv_bytes(records, delimiter=delimiter), "orders.csv")
