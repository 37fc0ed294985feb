"""python -m metrics --start YYYY-MM-DD --end YYYY-MM-DD [--channel C]... [--db PATH] [--json] [--explain]

Prints every KPI of the registry for the range (inclusive days in the store's time zone) and the
alerts. With --json: one object {start, end, <kpi key>: number|null, ..., comparisons, alerts},
and with --explain each KPI's passport. Exit 2 with a one-line reason for a bad range or a missing
warehouse, 1 on an internal error.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from data.cli import Parser
from data import warehouse
from metrics.alerts import alerts
from metrics.compute import kpis
from metrics.filters import Filters
from metrics.registry import KPIS


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m metrics", description="KPIs for a date range.")
    ap.add_argument("--start", type=_day, required=True)
    ap.add_argument("--end", type=_day, required=True)
    ap.add_argument("--channel", action="append", default=[], help="repeat for several channels")
    ap.add_argument("--sku", action="append", default=[])
    ap.add_argument("--category", action="append", default=[])
    ap.add_argument("--db")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--explain", action="store_true", help="add each KPI's passport")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        f = Filters(args.start, args.end, tuple(args.channel), tuple(args.sku), tuple(args.category))
        path = warehouse.db_path(args.db)
        if not path.exists():
            raise FileNotFoundError(f"no warehouse at {path}: build one with `python -m data.demo` or load files")
        con = warehouse.connect(path)
    except (ValueError, FileNotFoundError, warehouse.WarehouseBusy) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        values = kpis(con, f)
        out = {"start": f.start.isoformat(), "end": f.end.isoformat()}
        out |= {k: v.value for k, v in values.items()}
        out["comparisons"] = {k: {x: y for x, y in v.as_dict().items() if x not in ("key", "value")}
                              for k, v in values.items()}
        out["alerts"] = alerts(con, f, values)
        if args.explain:
            out["passports"] = {k: KPIS[k].passport for k in values}
    except Exception as e:  # noqa: BLE001 - one line, exit 1
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        con.close()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        for k, v in values.items():
            shown = "—" if v.value is None else f"{v.value:,.4g}"
            print(f"{KPIS[k].label:<32} {shown:>14}" + (f"   target {v.target}: {v.target_status}" if v.target else ""))
            if args.explain:
                print(f"    {KPIS[k].formula}")
        for a in out["alerts"]:
            print(f"[{a['severity']}] {a['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
