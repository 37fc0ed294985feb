"""python -m bench [--only NAME] [--sizes 100k 1M 5M] [--out bench/out] [--repeats 3] [--no-write] [--render]

Runs the registered benchmarks (all, or ``--only`` some), prints each one's markdown, saves the
raw rows as JSON under ``--out`` and rewrites that benchmark's section of BENCHMARKS.md (the other
sections are kept).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench import OUT, ROOT, Config, Section, load_all

BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
HEADER = """# Benchmarks

Written by `make bench` (`python -m bench`; one benchmark: `python -m bench --only NAME`). Each
benchmark rewrites its own section below, between its `bench:` markers; text outside the markers
is kept. Generated data and raw results (JSON) go to `bench/out/` (git-ignored). Benchmarks are not
timed tests (DESIGN §8): they measure and report, they do not pass or fail a build.
"""


def size(text: str) -> int:
    """100k, 1M, 5_000_000, 2.5M → a number of lines."""
    m = re.fullmatch(r"([\d_.]+)\s*([kKmM]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 100k, 1M, 5000000)")
    return int(float(m.group(1).replace("_", "")) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()])


def table(rows: list[dict]) -> str:
    """A markdown table; the columns are the public keys of the rows, in first-seen order."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols and k != "table" and not k.startswith("_")]
    numeric = {c for c in cols if all(isinstance(r.get(c), (int, float)) or r.get(c) in ("", None) for r in rows)}

    def cell(v) -> str:
        if isinstance(v, bool) or v is None:
            return "" if v is None else str(v)
        if isinstance(v, int) and abs(v) >= 10_000:
            return f"{v:,}"
        return str(v)
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if c in numeric else "---" for c in cols) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def render(bench, rows: list[dict], cfg: Config, machine: dict, sizes: list[int]) -> str:
    out = [f"## {bench.name}", "", bench.doc.splitlines()[0] if bench.doc else "", ""]
    out += [f"- date: {machine['date']}; load average at start: {machine['load']}",
            f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM; {machine['os']}",
            f"- software: Python {machine['python']}; {machine['libraries']}",
            f"- code measured: {machine.get('code', 'unknown')}",
            f"- sizes: {', '.join(f'{n:,}' for n in sizes)} lines; {cfg.repeats} run(s) per contender and size, "
            "median reported",
            f"- reproduce: `make bench` (or `.venv/bin/python -m bench --only {bench.name}`)", ""]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r.get("table", bench.name), []).append(r)
    for name, group in groups.items():
        if name != bench.name:
            out += [f"### {name}", ""]
        out += [table(group), ""]
    if bench.summary:
        out += [bench.summary(rows, cfg), ""]
    return "\n".join(out).rstrip() + "\n"


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown}{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    registry = load_all()
    ap = argparse.ArgumentParser(prog="python -m bench", description="Run Storeboard's benchmarks.")
    ap.add_argument("--only", action="append", choices=sorted(registry), help="run only this benchmark (repeatable)")
    ap.add_argument("--sizes", nargs="+", type=size, help="data sizes (lines), e.g. 100k 1M 5M")
    ap.add_argument("--out", type=Path, default=OUT, help="generated data and raw results (default bench/out)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender and size; the median is reported")
    ap.add_argument("--max-load", type=float, default=1.5,
                    help="before the first run, wait while the 1-minute load average is above this")
    ap.add_argument("--max-busy", type=float, default=0.5,
                    help="before each long run, wait while other processes keep more cores than this busy")
    ap.add_argument("--wait-budget", type=float, default=600.0, help="seconds of waiting allowed in all")
    ap.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: rewrite the sections from the last results saved under --out")
    args = ap.parse_args(argv)

    from bench import measure

    cfg = Config(sizes=args.sizes, out=args.out.resolve(), repeats=args.repeats, max_load=args.max_load,
                 max_busy=args.max_busy, wait_budget=args.wait_budget,
                 log=lambda s: print(s, file=sys.stderr, flush=True))
    cfg.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(registry):
        bench = registry[name]
        saved = cfg.out / f"results-{name}.json"
        if args.render:
            data = json.loads(saved.read_text())
            rows, machine = data["rows"], data["machine"]
            cfg.repeats = data.get("repeats", cfg.repeats)
            sizes = sorted({r["lines"] for r in rows if "lines" in r}) or bench.sizes
            markdown = render(bench, rows, cfg, machine, sizes)
            print(markdown)
            if not args.no_write:
                write_section(name, markdown)
            continue
        machine = measure.machine()
        machine["code"] = before = measure.code_version(ROOT)
        cfg.log(f"== {name}: load average {machine['load']}; code: {before}")
        rows = bench.fn(cfg)
        after = measure.code_version(ROOT)
        if after != before:  # someone committed or edited data/ meanwhile: say so next to the figures
            machine["code"] = f"{before} — **changed during the run**, now {after}"
            cfg.log(f"warning: the code changed during the run: {before} → {after}")
        section = Section(name, rows, render(bench, rows, cfg, machine, sorted(args.sizes or bench.sizes)))
        text = json.dumps({"machine": machine, "repeats": cfg.repeats, "rows": rows},
                          indent=1, ensure_ascii=False, default=str)
        saved.write_text(text)  # the latest (for --render), and a dated copy kept for comparison
        (cfg.out / f"results-{name}-{machine['date'][:16].replace(' ', 'T').replace(':', '')}.json").write_text(text)
        print(section.markdown)
        if not args.no_write:
            write_section(name, section.markdown)
            cfg.log(f"{name}: section updated in {BENCHMARKS_MD.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
