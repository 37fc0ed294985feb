"""Encodings are detected, never assumed, and the one used is recorded in ingest_log (DESIGN §2).

Each case writes the canonical orders (EXPECTED.md §15) with product names that need the
encoding, so a wrong guess shows up as wrong text, not just as a wrong label.
"""
import codecs
import csv
import io

import pytest

from data.read import ROW, read
from tests.ingest_helpers import (CANONICAL_LINES, FIXTURES, canonical_orders, connect, csv_bytes, ingest, nps_date, order_lines,
                                  rows, value)

LATIN1 = ["Crème brûlée Tasse", "Thé vert Sencha", "Kaffeebecher Größe L", "Piña colada Kerze",
          "Bougie parfumée à la lavande", "Théière en fonte", "Infuseur à thé", "Mug céramique noir",
          "Coffret cadeau, grand", "Bougie cèdre", "Allumettes longues"]
# cp1252 has characters Latin-1 lacks in 0x80–0x9F: € – — ‘ ’ “ ” … œ Š ™
CP1252 = ["Crème brûlée Tasse – 9,90 €", "Bœuf “spécial” ‘n’ more…", "Kaffeebecher Größe L — Ø 9 cm",
          "Piña colada Kerze™", "Bougie parfumée à la lavande", "Théière en fonte", "Infuseur à thé",
          "Mug céramique noir", "Coffret cadeau, grand", "Bougie cèdre", "Allumettes longues"]
CHINESE = ["陶瓷马克杯 350毫升 白色", "伯爵红茶 100克", "大豆蜡烛 薰衣草", "美利奴羊毛毯 灰色", "煎茶 100克",
           "铸铁茶壶 0.8升", "不锈钢滤茶器", "陶瓷马克杯 黑色", "礼盒，大号", "大豆蜡烛 雪松", "长火柴"]
MIXED = [f"{a} · {b}" for a, b in zip(CP1252, CHINESE)]


def orders_named(names: list[str]) -> list[list[str]]:
    """orders_canonical.csv with its 11 product names replaced."""
    recs = canonical_orders()
    for rec, name in zip(recs[1:], names, strict=True):
        rec[6] = name
    return recs


def codec(name: str) -> str:
    return codecs.lookup(name).name


def product_names(con) -> list[str]:
    return [n for (n,) in rows(con, "select product_name from order_lines order by order_id, line_no")]


# (how the bytes are written, the names they carry, the encodings that decode them correctly)
CASES = {
    "utf-8": ("utf-8", MIXED, {"utf-8"}),
    "utf-8 with BOM": ("utf-8-sig", MIXED, {"utf-8-sig"}),
    "utf-16 with BOM (Excel 'Unicode Text')": ("utf-16", MIXED, {"utf-16", "utf-16-le"}),
    "utf-16-le without BOM": ("utf-16-le", MIXED, {"utf-16-le"}),
    "utf-16-be without BOM": ("utf-16-be", MIXED, {"utf-16-be"}),
    "gb18030": ("gb18030", CHINESE, {"gb18030"}),
    "gbk (Excel on Chinese Windows)": ("gbk", CHINESE, {"gbk", "gb18030"}),
    "cp1252 (Excel on Western Windows)": ("cp1252", CP1252, {"cp1252"}),
    "latin-1": ("latin-1", LATIN1, {"iso8859-1", "cp1252"}),
}


@pytest.mark.parametrize("case", CASES)
def test_encoding_is_detected_text_decodes_and_ingest_log_records_it(case):
    written, names, decoders = CASES[case]
    con = connect()
    r = ingest(con, csv_bytes(orders_named(names), encoding=written), name="orders.csv")
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted, r.rejected) == (11, 11, 0)
    assert product_names(con) == names
    assert codec(r.encoding) in decoders
    assert value(con, "select encoding from ingest_log") == r.encoding
    # Everything else is read as in the UTF-8 original.
    reference = connect()
    ingest(reference, csv_bytes(orders_named(names)), name="orders.csv")
    assert order_lines(con) == order_lines(reference)


def test_non_utf8_byte_after_the_first_64_kib_is_not_read_as_utf8(tmp_path):
    """The first 64 KiB are pure ASCII; the last rows carry cp1252 accents: the whole file decides."""
    recs = canonical_orders()
    body = [recs[0]]
    for i in range(1500):
        rec = recs[1 + i % 11][:]
        rec[0] = f"BIG-{i // 2:05d}"
        body.append(rec)
    for rec in body[-5:]:
        rec[6] = "Café crème brûlée à emporter, thé glacé"
    data = csv_bytes(body, encoding="cp1252")
    data[:1 << 16].decode("ascii")  # the head really is ASCII
    path = tmp_path / "big_cp1252.csv"
    path.write_bytes(data)
    con = connect()
    r = ingest(con, path)
    assert r.status == "loaded", r.message
    assert (r.rows_read, r.inserted) == (1500, 1500)
    assert codec(r.encoding) in {"cp1252", "iso8859-1"}
    assert rows(con, "select distinct product_name from order_lines where order_id >= 'BIG-00748'") == \
        [("Café crème brûlée à emporter, thé glacé",)]


def test_taobao_gbk_fixture_decodes_chinese_names():
    con = connect()
    r = ingest(con, "taobao_orders_gbk.csv")
    assert r.status == "loaded", r.message
    assert codec(r.encoding) in {"gbk", "gb18030"}
    assert value(con, "select encoding from ingest_log") == r.encoding
    customers = {c for (c,) in rows(con, "select distinct customer_id from order_lines")}
    assert {"小鹿爱喝茶", "江南的风2020", "momo_家居控", "阿福的小店铺"} <= customers
    assert rows(con, "select distinct channel from order_lines") == [("木子家居旗舰店",)]


def test_sycm_gbk_fixture_decodes():
    con = connect()
    r = ingest(con, "sycm_traffic_gbk.csv")
    assert r.status == "loaded", r.message
    assert codec(r.encoding) in {"gbk", "gb18030"}
    assert r.mapping["visitors"] == "访客数" and r.mapping["date"] == "统计日期"


def test_cp1252_ua_fixture_keeps_french_accents():
    """EXPECTED.md §6: cp1252, channels `Recherche organique`, `Accès direct`, `Référent`."""
    con = connect()
    r = ingest(con, "ua_traffic_semicolon_decimal_comma.csv")
    assert r.status == "loaded", r.message
    assert codec(r.encoding) in {"cp1252", "iso8859-1"}
    assert {c for (c,) in rows(con, "select distinct channel from traffic")} == \
        {"Recherche organique", "Accès direct", "Référent"}


def test_utf16_tab_fixture_is_detected():
    """inventory_tab.tsv is Excel 'Unicode Text': UTF-16 LE with BOM, tab-separated (read step only;
    loading it is tested in test_ingest_formats)."""
    raw = read(FIXTURES / "inventory_tab.tsv", "inventory_tab.tsv")
    assert codec(raw.encoding) in {"utf-16", "utf-16-le"}
    assert raw.delimiter == "\t"
    assert [c for c in raw.frame.columns if c != ROW][:4] == ["Datum", "SKU", "Title", "Location"]
    assert set(raw.frame["Location"]) == {"Lager Berlin", "Lager München"}


# --- the real garden-centre NPS file: Latin-1 mixed with DOS code page 850 -------------------------

def _nps_raw(realdata) -> list[dict]:
    """The real file's records, split with the csv module (every structural byte is ASCII)."""
    text = (realdata / "nps_garden_center_fr.csv").read_bytes().decode("latin-1")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def nps_real(realdata):
    con = connect()
    r = ingest(con, realdata / "nps_garden_center_fr.csv", as_of=nps_date())
    return con, r


def test_real_mixed_8bit_file_is_detected_and_recorded(nps_real):
    con, r = nps_real
    assert r.status == "loaded", r.message
    assert r.encoding == "mixed:cp1252+cp850"  # data/encoding.py names it so
    assert value(con, "select encoding from ingest_log where file_name = 'nps_garden_center_fr.csv'") == \
        "mixed:cp1252+cp850"


def test_real_mixed_8bit_comments_decode_to_proper_french(nps_real):
    con, _ = nps_real
    comment = dict(rows(con, "select response_id, comment from nps_responses "
                             "where response_id in ('2482', '3466', '3909', '3965', '4943')"))
    # Hand-read from the bytes: 0x82 is cp850 'é', 0x8A cp850 'è', 0xE9 Latin-1 'é', 0x80 cp1252 '€'.
    assert comment["2482"] == ("Il y a très peu de caisse ouverte et le délai d'attente est "
                               "particulièrement long!!!!")
    assert "ne se développe pas" in comment["3466"]
    assert "au magasin pour échange" in comment["3466"]
    assert "en espérant qu'il se développerait tout de même." in comment["3466"]
    assert "La conseillère en fleurs et l'hotesse de caisse étaient très disponibles" in comment["3909"]
    assert comment["3965"] == ("Le magasin est plaisant, tout y est bien présenté et toujours bien "
                               "achalandé.")
    assert "un bon de réduction de 15€ que j'ai oublié en présentant ma carte à la caisse" in comment["4943"]
    assert "j'avais reçu à mon domicile" in comment["4943"]


def test_real_mixed_8bit_file_has_no_mojibake(nps_real):
    con, _ = nps_real
    bad = rows(con, r"""select response_id, comment from nps_responses
                        where regexp_matches(comment, '[\x{80}-\x{9f}\x{fffd}]|Ã')""")
    assert bad == []
    # Accented letters are common in French; box-drawing or currency signs inside words are not.
    odd = rows(con, r"""select response_id, comment from nps_responses
                        where regexp_matches(comment, '[a-zA-Z][¢£¥¤ƒ×░▒▓│┤╣║╗╝┐└┴┬├─┼╚╔╩╦╠═╬][a-zA-Z]')""")
    assert odd == []


def test_real_nps_file_counts_match_an_independent_read(nps_real, realdata):
    con, r = nps_real
    raw = _nps_raw(realdata)
    assert len(raw) == 13954 == r.rows_read
    missing = [x for x in raw if x["nps"] == "NA"]
    scored = [x for x in raw if x["nps"] != "NA"]
    assert all(1 <= int(x["nps"]) <= 10 for x in scored)
    assert r.rejected == len(missing)
    assert {e["reason"] for e in r.errors} == {"missing score"}
    assert r.inserted == len(scored)
    got = rows(con, "select count(*), sum(score), count(comment), count(distinct response_id), "
                    "min(responded_at), max(responded_at) from nps_responses")[0]
    with_comment = sum(1 for x in scored if x["explication"] not in ("NA", ""))
    assert got[:4] == (len(scored), sum(int(x["nps"]) for x in scored), with_comment, len(scored))
    assert got[4].date() == got[5].date() == nps_date()
    # The raw comment of a response and the stored one have the same length: one character per byte.
    raw_3965 = next(x["explication"] for x in raw if x["id"] == "3965")
    assert len(value(con, "select comment from nps_responses where response_id = '3965'")) == len(raw_3965)


@pytest.mark.parametrize("written", ["utf-16-le", "utf-16-be"])
def test_ascii_only_utf16_without_bom_is_not_taken_for_utf8(written):
    """NUL bytes in every other position are UTF-16, even though NUL-laden ASCII is valid UTF-8."""
    con = connect()
    r = ingest(con, csv_bytes(canonical_orders(), encoding=written), name="orders.csv")
    assert r.status == "loaded", r.message
    assert codec(r.encoding) == written
    assert order_lines(con) == CANONICAL_LINES
