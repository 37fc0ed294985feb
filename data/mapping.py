"""Detect a file's kind from its headers and map the headers to canonical columns.

A mapping is ``{canonical column: header in the file}``. Sources, in order: a mapping the user
gives (``{header: canonical}``, e.g. ``--mapping FILE``), one remembered for the same header set
(table ``column_mappings``), then the synonym table of each kind (``data.synonyms``).
"""
from __future__ import annotations

import hashlib
import json

import duckdb

from data import synonyms
from data.synonyms import KINDS, REQUIRED


class UnmappedHeaders(ValueError):
    """The headers do not give the columns a kind needs; the message names both sides."""


def header_set(headers: list[str]) -> str:
    """A stable key for a set of headers (order and spelling variants ignored)."""
    return hashlib.sha256("\x1f".join(sorted(synonyms.normalize(h) for h in headers)).encode()).hexdigest()[:32]


def auto_map(kind: str, headers: list[str]) -> dict[str, str]:
    """Canonical -> header through the synonym table (the first header wins a canonical column)."""
    out: dict[str, str] = {}
    for h in headers:
        canon = synonyms.match(kind, h)
        if canon and canon not in out:
            out[canon] = h
    return out


def missing(kind: str, mapping: dict[str, str]) -> list[tuple[str, ...]]:
    """The required column groups of ``kind`` that ``mapping`` does not give."""
    return [group for group in REQUIRED[kind] if not any(c in mapping for c in group)]


def detect(headers: list[str]) -> tuple[str, dict[str, str]]:
    """The kind whose required columns the headers give, with the most headers recognised."""
    scored = []
    for kind in KINDS:
        mapping = auto_map(kind, headers)
        scored.append((len(missing(kind, mapping)) == 0, len(mapping), kind, mapping))
    ok, _, kind, mapping = max(scored, key=lambda s: (s[0], s[1]))
    if not ok:
        raise UnmappedHeaders(explain(kind, headers, mapping, guessed=True))
    return kind, mapping


def explain(kind: str, headers: list[str], mapping: dict[str, str], guessed: bool = False) -> str:
    """One line naming the columns that could not be mapped and the canonical columns needed."""
    need = " and ".join(" or ".join(g) for g in missing(kind, mapping))
    unmapped = [h for h in headers if h not in mapping.values()]
    what = f"looks most like {kind}" if guessed else f"as {kind}"
    return (f"could not map the headers ({what}): needs {need}; unrecognised columns: "
            f"{', '.join(unmapped) or 'none'} — map them with --mapping FILE (JSON {{header: canonical}}) "
            f"or in the upload page, or set --kind")


def from_user(kind: str, headers: list[str], user: dict[str, str]) -> dict[str, str]:
    """Apply a user's ``{header: canonical}`` on top of the synonyms; unknown names are an error."""
    known = set(synonyms.SYNONYMS[kind])
    bad = [f"{h} → {c}" for h, c in user.items() if c and c not in known]
    absent = [h for h in user if h not in headers]
    if bad or absent:
        raise UnmappedHeaders("mapping does not fit the file: "
                              + "; ".join(([f"unknown canonical columns for {kind}: {', '.join(bad)}"] if bad else [])
                                          + ([f"headers not in the file: {', '.join(absent)}"] if absent else []))
                              + f" (canonical columns: {', '.join(sorted(known))})")
    mapping = {c: h for c, h in auto_map(kind, headers).items() if h not in user}
    mapping |= {c: h for h, c in user.items() if c}
    return mapping


def remembered(con: duckdb.DuckDBPyConnection, headers: list[str]) -> tuple[str, dict[str, str]] | None:
    """A mapping a user gave earlier for the same header set, as (kind, {header: canonical})."""
    rows = con.execute("select kind, mapping from column_mappings where header_set = ?", [header_set(headers)]).fetchall()
    return (rows[0][0], json.loads(rows[0][1])) if rows else None


def remember(con: duckdb.DuckDBPyConnection, headers: list[str], kind: str, user: dict[str, str]) -> None:
    """Keep a user's mapping for files with the same headers."""
    con.execute("insert or replace into column_mappings values (?, ?, ?, current_timestamp)",
                [header_set(headers), kind, json.dumps(user, ensure_ascii=False)])
