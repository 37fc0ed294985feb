"""Text encoding of uploaded files: detected, never assumed.

Order of evidence: a byte-order mark (UTF-8, UTF-16, UTF-32); strict UTF-8; UTF-16 without BOM
(NUL bytes in every other position); then charset-normalizer over the bytes, which covers
GBK/GB18030, Big5, Shift-JIS, cp1252/Latin-1 and the other legacy code pages. Files that mix two
legacy 8-bit Western encodings line by line (Latin-1/cp1252 text with DOS code page 850 accents,
as in spreadsheets merged from old tills) are decoded by :func:`decode_mixed_western` and reported
as ``mixed:cp1252+cp850``.
"""
from __future__ import annotations

import codecs
import re
import unicodedata

from charset_normalizer import from_bytes


class UnreadableFile(ValueError):
    """The bytes are not text in any encoding we can recognise."""


_BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]
_C1_IN_WORD = re.compile(rb"[A-Za-z\x80-\xff]*[\x80-\x9f][A-Za-z\x80-\xff]*")
_QUOTES = set("‘’“”«»‹›")
_PREFERRED = ["gb18030", "gbk", "gb2312", "cp1252", "iso8859-1", "iso8859-15", "big5", "big5hkscs", "cp932",
              "shift_jis", "euc_jp", "cp949", "euc_kr", "cp1250", "cp1251", "cp1257", "cp850"]


def looks_utf8(data: bytes) -> bool:
    """True if ``data`` (possibly cut mid-character at the end) is valid UTF-8."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
        return True
    except UnicodeDecodeError:
        return False


def detect(data: bytes) -> str:
    """The encoding of ``data``: a Python codec name, or ``mixed:cp1252+cp850``."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    sample = data[:1 << 16]
    if b"\x00" in sample:  # NUL is valid UTF-8 but never in a text export: UTF-16 or binary
        if _utf16_without_bom(sample):
            return "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
        raise UnreadableFile("this is a binary file, not a text export (CSV, Excel or Parquet)")
    if looks_utf8(data):
        return "utf-8"
    if _is_mixed_western(data):
        return "mixed:cp1252+cp850"
    matches = list(from_bytes(data[:1 << 22]))
    if not matches:
        raise UnreadableFile("could not recognise the text encoding: this does not look like a text export")
    # Short exports often fit several code pages equally well (cp1250 reads French as well as
    # cp1252 does, cp949 reads GBK): among the equally good, take the one shops use most.
    best = min(matches, key=lambda m: (m.chaos, -m.coherence))
    ties = [codecs.lookup(m.encoding).name for m in matches
            if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.05]
    name = min(ties, key=lambda n: _PREFERRED.index(n) if n in _PREFERRED else len(_PREFERRED))
    # Western accents inside words ("Théière") also form valid GBK byte pairs, and a few Chinese
    # product names among English text fool the detector the other way: decide by where the high
    # bytes sit. In Western text nearly every one touches an ASCII letter; in Chinese they run together.
    western = _touching_letters(data[:1 << 22])
    single_byte = name.startswith(("cp125", "iso8859", "latin", "cp850", "cp437", "mac"))
    if not single_byte and western >= 0.5 and _decodes(data, "cp1252"):
        name = "cp1252"
    elif name not in _CJK and western < 0.5 and _decodes(data, "gb18030"):
        name = "gb18030"
    # Read the superset where it matters: GB2312/GBK text as GB18030, Latin-1 as cp1252.
    return {"gb2312": "gb18030", "gbk": "gb18030", "iso8859-1": "cp1252", "latin-1": "cp1252"}.get(name, name)


def decode(data: bytes, encoding: str) -> str:
    """Decode ``data`` with a name returned by :func:`detect`."""
    if encoding == "mixed:cp1252+cp850":
        return decode_mixed_western(data)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UnreadableFile(f"line {line}: bytes that are not valid {encoding}") from e


_CJK = {"gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp932", "shift_jis", "euc_jp", "cp949", "euc_kr",
        "euc_jis_2004", "shift_jis_2004", "iso2022_jp", "hz", "cp950"}


def _touching_letters(data: bytes) -> float:
    """Share of bytes ≥ 0x80 that have an ASCII letter right before or after them."""
    high = len(re.findall(rb"[\x80-\xff]", data))
    touching = len(re.findall(rb"(?<=[A-Za-z])[\x80-\xff]|[\x80-\xff](?=[A-Za-z])", data))
    return touching / high if high else 0.0


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _utf16_without_bom(sample: bytes) -> bool:
    even, odd = sample[0::2], sample[1::2]
    n = max(len(sample) // 2, 1)
    return (odd.count(0) / n > 0.4 and even.count(0) / n < 0.05) or (even.count(0) / n > 0.4 and odd.count(0) / n < 0.05)


def _is_mixed_western(data: bytes) -> bool:
    """Latin-1 letters (0xC0–0xFF) and, inside words, bytes 0x80–0x9F that are punctuation in
    cp1252 but lower-case accented letters in cp850 (``esp\\x82rant``): at least two such words."""
    if not re.search(rb"[a-zA-Z][\xc0-\xff]|[\xc0-\xff][a-zA-Z]", data):
        return False
    evidence = 0
    for m in _C1_IN_WORD.finditer(data):
        token = m.group()
        for i, b in enumerate(token[1:-1], start=1):
            as_850 = bytes([b]).decode("cp850")
            if 0x80 <= b <= 0x9F and as_850.islower() and not _is_letter(bytes([b]).decode("cp1252", "replace")):
                evidence += 1
        if evidence >= 2:
            return True
    return False


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _pick(b: int, token: bytes, i: int) -> str:
    """Choose cp850 or cp1252 for a byte in 0x80–0x9F from its neighbours in the word."""
    as_1252 = bytes([b]).decode("cp1252", "replace")
    as_850 = bytes([b]).decode("cp850")
    before, after = i > 0, i + 1 < len(token)  # a word holds only letters and high (accented) bytes
    if not (before or after):
        return as_1252 if as_1252 != "\ufffd" else as_850
    if (not before or not after) and as_1252 in _QUOTES:
        return as_1252
    if as_850.islower() or (_is_letter(as_850) and not _is_letter(as_1252)):
        return as_850
    return as_1252 if as_1252 != "\ufffd" else as_850


def decode_mixed_western(data: bytes) -> str:
    """Decode text that mixes cp1252/Latin-1 with DOS cp850 accents, word by word."""
    def fix(m: re.Match) -> str:
        token = m.group()
        return "".join(_pick(b, token, i) if 0x80 <= b <= 0x9F else bytes([b]).decode("cp1252", "replace")
                       for i, b in enumerate(token))
    # Words holding a 0x80–0x9F byte are decided byte by byte; everything else is cp1252.
    parts, pos = [], 0
    for m in _C1_IN_WORD.finditer(data):
        parts.append(data[pos:m.start()].decode("cp1252", "replace"))
        parts.append(fix(m))
        pos = m.end()
    parts.append(data[pos:].decode("cp1252", "replace"))
    return "".join(parts)
