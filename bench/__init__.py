"""Reproducible benchmarks: `make bench` runs `python -m bench`; results go in BENCHMARKS.md.

A benchmark is a function registered with :func:`register`; it takes a :class:`Config` and returns
rows of results (dicts; the keys of the first row are the columns of its table). A row may name the
table it belongs to with the key ``"table"`` (default: the benchmark's name), so one benchmark can
report several tables. Keys starting with ``_`` are kept in the JSON output but not shown.
An optional ``summary(rows, config) -> str`` adds markdown below the tables (targets met or not,
notes). Adding a benchmark = a module in ``bench/`` with a registered function, imported in
:data:`MODULES`::

    @register("metrics", sizes=[100_000, 1_000_000], summary=my_summary)
    def metrics(cfg: Config) -> list[dict]:
        ...

Data comes from :mod:`bench.gen` (deterministic, under ``cfg.out``); anything heavier than a few
seconds runs in a fresh subprocess measured by :func:`bench.measure.run` (wall time, peak RSS).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]   # the repository
OUT = Path(__file__).resolve().parent / "out"  # generated data and raw results (git-ignored)
MODULES = ["bench.ingest", "bench.metrics", "bench.experiments", "bench.replay", "bench.pages",
           "bench.forecasting"]                      # modules that register benchmarks


@dataclass
class Config:
    sizes: list[int] | None = None   # None: each benchmark's default sizes
    out: Path = OUT
    repeats: int = 3                 # measurements per contender and size (the median is reported)
    max_load: float = 1.5            # before the first run: wait while the load average is above this
    max_busy: float = 0.5            # before each long run: wait while other processes keep this many cores busy
    wait_budget: float = 600.0       # seconds we may spend waiting for a quiet machine, per run
    python: str = ""                 # interpreter for child processes (default: this one)
    log: Callable[[str], None] = print


@dataclass
class Benchmark:
    name: str
    fn: Callable[[Config], list[dict]]
    sizes: list[int]
    summary: Callable[[list[dict], Config], str] | None = None
    doc: str = ""


REGISTRY: dict[str, Benchmark] = {}


def register(name: str, sizes: list[int], summary: Callable[[list[dict], Config], str] | None = None):
    """Register ``fn(config) -> rows`` as the benchmark ``name`` (default ``sizes`` when none are given)."""
    def wrap(fn: Callable[[Config], list[dict]]):
        REGISTRY[name] = Benchmark(name, fn, list(sizes), summary, (fn.__doc__ or "").strip())
        return fn
    return wrap


def load_all() -> dict[str, Benchmark]:
    for m in MODULES:
        importlib.import_module(m)
    return REGISTRY


@dataclass
class Section:
    """What one benchmark run produced: its rows and the markdown written to BENCHMARKS.md."""
    name: str
    rows: list[dict] = field(default_factory=list)
    markdown: str = ""
