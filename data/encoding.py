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
    if looks_utf8(data):
        return "utf-8"
    if _utf16_without_bom(sample):
        return "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
    if b"\x00" in sample:
        raise UnreadableFile("this is a binary file, not a text export (CSV, Excel or Parquet)")
    if _is_mixed_western(data):
        return "mixed:cp1252+cp850"
    best = from_bytes(data[:1 << 22]).best()
    if best is None:
        raise UnreadableFile("could not recognise the text encoding: this does not look like a text export")
    name = codecs.lookup(best.encoding).name
    # charset-normalizer names the superset where it matters: read GB2312 text as GB18030.
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


def _utf16_without_bom(sample: bytes) -> bool:
    even, odd = sample[0::2], sample[1::2]
    n = max(len(sample) // 2, 1)
    return (odd.count(0) / n > 0.4 and even.count(0) / n < 0.05) or (even.count(0) / n > 0.4 and odd.count(0) / n < 0.05)


def _is_mixed_western(data: bytes) -> bool:
    """Latin-1 letters (0xC0–0xFF) and, inside words, cp850 accented letters in 0x80–0x9F."""
    if not re.search(rb"[a-zA-Z][\xc0-\xff]|[\xc0-\xff][a-zA-Z]", data):
        return False
    for m in _C1_IN_WORD.finditer(data):
        token = m.group()
        for i, b in enumerate(token):
            if 0x80 <= b <= 0x9F and _pick(b, token, i) != bytes([b]).decode("cp1252", "replace"):
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
