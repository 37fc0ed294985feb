"""Read an uploaded file into a table of text cells: CSV/TSV/TXT (any delimiter), .xlsx, Parquet.

Every column comes back as text (``pl.String``) with the original header names; typing is the
validator's job. The header row is found, not assumed: title or note lines above it (生意参谋's
report titles, GA4's ``#`` comment block) are skipped. Comment characters are never honoured
inside the data, because Shopify order names start with ``#``. Row numbers reported to users
are the row numbers a spreadsheet shows (the header row counts).
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
from pathlib import Path
from dataclasses import dataclass

import polars as pl

from data import encoding as enc

NULL_TOKENS = ["", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "NaN", "nan", "-", "--",
               "not stocked"]  # Shopify's inventory export: the item is not stocked at that location
DELIMITERS = [",", ";", "\t", "|"]
ROW = "__row"  # the spreadsheet row number of each data row


class RefusedFile(ValueError):
    """The file cannot be read as a table; the message says why in one line."""


@dataclass
class RawTable:
    frame: pl.DataFrame          # text columns with the original headers, plus ROW
    format: str                  # csv | xlsx | parquet
    encoding: str                # codec name, "binary" for xlsx/parquet
    delimiter: str | None = None
    header_row: int = 1          # 1-based row number of the header


def read(source: bytes | Path, name: str) -> RawTable:
    """Parse ``source`` (a file's bytes, or its path) into a RawTable, or raise RefusedFile.

    A large UTF-8 file given by path is parsed straight from disk (memory-mapped); other files
    are decoded to UTF-8 in memory first.
    """
    path = Path(source) if isinstance(source, (str, Path)) else None
    head = _head(path) if path else source[:1 << 16]
    if not head.strip():
        raise RefusedFile("the file is empty")
    if head[:4] in (b"PAR1", b"PK\x03\x04"):
        data = path.read_bytes() if path else source
        return _read_parquet(data) if head[:4] == b"PAR1" else _read_xlsx(data, name)
    if path and head[:3] != codecs.BOM_UTF8 and enc.looks_utf8(head) and b"\x00" not in head:
        sample = head.decode("utf-8", "ignore")
        delimiter, skip = _sniff(sample)
        try:
            frame = _parse(path, delimiter, skip)
        except RefusedFile:
            frame = None  # not UTF-8 after all: fall through to full detection
        if frame is not None:
            return RawTable(_tidy(frame, header_row=skip + 1), "csv", "utf-8", delimiter, skip + 1)
    data = path.read_bytes() if path else source
    try:
        encoding = enc.detect(data)
    except enc.UnreadableFile as e:
        raise RefusedFile(str(e)) from e
    if encoding == "utf-8" or encoding == "utf-8-sig":
        text_bytes = data[3:] if encoding == "utf-8-sig" else data
        sample = text_bytes[:1 << 16].decode("utf-8", "ignore")
    else:
        try:
            text = enc.decode(data, encoding)
        except enc.UnreadableFile as e:
            raise RefusedFile(str(e)) from e
        text_bytes = text.lstrip("\ufeff").encode("utf-8")
        sample = text[:1 << 16].lstrip("\ufeff")
    delimiter, skip = _sniff(sample)
    frame = _tidy(_parse(text_bytes, delimiter, skip), header_row=skip + 1)
    return RawTable(frame, "csv", encoding, delimiter, skip + 1)


def _parse(source: bytes | Path, delimiter: str, skip: int) -> pl.DataFrame:
    try:
        return pl.read_csv(source, separator=delimiter, skip_rows=skip, infer_schema=False,
                           null_values=NULL_TOKENS, quote_char='"', truncate_ragged_lines=False,
                           raise_if_empty=True)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as e:
        _check_quotes(source)  # the likeliest cause, named precisely
        raise RefusedFile(f"not a readable {_delimiter_name(delimiter)}-separated file: "
                          f"{str(e).splitlines()[0]}") from e


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(1 << 16)


def _chunks(path: Path, size: int = 1 << 24):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def _delimiter_name(d: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[d]


def _sniff(sample: str) -> tuple[str, int]:
    """Delimiter and the number of records above the header, from the start of the file.

    Records are read with quotes respected, so a quoted line break (in the header or in a cell)
    does not shift the header; Polars' ``skip_rows`` counts records the same way.
    """
    if len(sample) >= 1 << 16 and "\n" in sample:
        sample = sample[:sample.rindex("\n")]  # the last line of the sample may be cut
    best = None
    for d in DELIMITERS:
        try:
            records = list(itertools.islice(csv.reader(io.StringIO(sample), delimiter=d), 60))
        except csv.Error:
            continue
        widths = [len(r) if any(c.strip() for c in r) else 0 for r in records]
        counts = [w for w in widths if w]
        if not counts:
            continue
        width = max(set(counts), key=lambda w: (counts.count(w), w))
        if width >= 2 and (best is None or (counts.count(width), width) > best[0]):
            best = ((counts.count(width), width), d, width, records, widths)
    if best is None:
        raise RefusedFile("no table found: no line has two or more columns separated by , ; tab or |")
    _, d, width, records, widths = best
    # The header opens the first run of two records with the table's width (titles and notes
    # above it have fewer cells; a '#' comment line is never the header).
    for i, w in enumerate(widths):
        if w == width and (i + 1 == len(widths) or widths[i + 1] == width) \
                and not (records[i] and records[i][0].startswith("#")):
            return d, i
    return d, widths.index(width)


def _check_quotes(source: bytes | Path) -> None:
    """Refuse a file with a quoted field that never closes (it would swallow every later row)."""
    chunks = _chunks(source) if isinstance(source, Path) else [source]
    if sum(chunk.count(b'"') for chunk in chunks) % 2 == 0:
        return
    data = source.read_bytes() if isinstance(source, Path) else source
    line, open_at, inside = 1, None, False
    for text in data.split(b"\n"):
        if text.count(b'"') % 2:
            inside = not inside
            if inside:
                open_at = line
        line += 1
    raise RefusedFile(f"row {open_at}: a quoted field opens here and is never closed (unterminated quote)")


def _tidy(frame: pl.DataFrame, header_row: int) -> pl.DataFrame:
    """Strip header names, drop blank and trailing comment rows, and number the rows."""
    names, seen = [], {}
    for i, col in enumerate(frame.columns):
        # Polars leaves a quoted header's doubled quotes ("when ""quoted""") as they are.
        base = str(col).replace('""', '"').strip().lstrip("\ufeff").strip() or f"column_{i + 1}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    frame = frame.rename(dict(zip(frame.columns, names)))
    frame = frame.with_row_index(ROW, offset=header_row + 1)
    cells = [c for c in frame.columns if c != ROW]
    filled = pl.sum_horizontal([pl.col(c).is_not_null() for c in cells])
    first = pl.col(cells[0]).cast(pl.String)
    # A line of notes (GA4's "# …" after the data) fills only its first cell with a '#'.
    note = (filled == 1) & first.str.starts_with("#")
    return frame.filter((filled > 0) & ~note.fill_null(False))


def _read_parquet(data: bytes) -> RawTable:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - any parse failure is a refused file
        raise RefusedFile(f"not a readable Parquet file: {str(e).splitlines()[0]}") from e
    frame = _null_tokens(frame.with_columns(pl.all().cast(pl.String)))
    return RawTable(_tidy(frame, header_row=1), "parquet", "binary")


def _null_tokens(frame: pl.DataFrame) -> pl.DataFrame:
    """Cells that spell a missing value (``NA``, ``nan``, ``-`` …) become null, as in CSV reading."""
    return frame.with_columns(pl.when(~pl.col(c).str.strip_chars().is_in(NULL_TOKENS)).then(pl.col(c)).alias(c)
                              for c in frame.columns)


def _read_xlsx(data: bytes, name: str) -> RawTable:
    try:
        grid = pl.read_excel(io.BytesIO(data), has_header=False, infer_schema_length=0)
    except Exception as e:  # noqa: BLE001
        raise RefusedFile(f"not a readable Excel workbook: {str(e).splitlines()[0]}") from e
    grid = grid.with_columns(pl.all().cast(pl.String))
    if grid.height == 0:
        raise RefusedFile("the first sheet of the workbook is empty")
    head = grid.head(60).rows()
    width = max(sum(c is not None and str(c).strip() != "" for c in r) for r in head)
    skip = next(i for i, r in enumerate(head) if sum(c is not None and str(c).strip() != "" for c in r) == width)
    header = [str(c) if c is not None else "" for c in head[skip]]
    frame = grid.slice(skip + 1)
    frame.columns = [f"__c{i}" for i in range(frame.width)]
    frame = frame.rename({f"__c{i}": h for i, h in enumerate(header) if h and h not in header[:i]})
    frame = frame.select([c for c in frame.columns if not c.startswith("__c")])
    frame = _null_tokens(frame)
    return RawTable(_tidy(frame, header_row=skip + 1), "xlsx", "binary", None, skip + 1)
