"""python -m forecasting --horizon 28 [--service-level 0.95] [--lead-time D] [--db PATH] [--csv OUT] [--json]
python -m forecasting --backtest --horizon 28 [--db PATH] [--json]

Plan mode forecasts the next ``horizon`` days per SKU and prints the restock plan:
{"generated_at", "run_id", "plan": [plan rows, DESIGN §5], "accuracy": {overall, by_method, by_abc},
"warnings"}. Backtest mode prints {"overall": {wape, wape_7d, bias, mase, baseline_wape,
baseline_wape_7d, baseline_mase, skus}, "by_method", "by_abc", "run_id"} over the last ``horizon``
days of history (definitions: forecasting.backtest). Both store the run in the warehouse
(forecasting.store), so the app reads it without recomputing. ``--csv OUT`` writes the plan as a
formula-safe CSV. Exit 2 with a one-line reason on bad input (nothing written): a
``policy.BadSettings`` (an argument, a setting or a product's value out of range, or a setting
stored as something other than JSON), no order history (``run.NoHistory``), no warehouse file, or
the warehouse held by another process. Any other exception is a programming error: "internal
error: …" and exit 1.
"""
from __future__ import annotations

import json
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

from data import warehouse
from data.cli import Parser
from data.export import safe_csv


def _args(argv):
    ap = Parser(prog="python -m forecasting", description="Demand forecasts and the restock plan.")
    ap.add_argument("--horizon", type=int, default=28, help="days to forecast (default 28)")
    ap.add_argument("--service-level", type=float, help="one service level for every SKU (default: by ABC class)")
    ap.add_argument("--lead-time", type=int, help="one lead time in days for every SKU (default: per product)")
    ap.add_argument("--backtest", action="store_true", help="only the backtest over the last HORIZON days")
    ap.add_argument("--db")
    ap.add_argument("--csv", help="also write the plan to this CSV file")
    ap.add_argument("--user", help="who ran it (stored with the run)")
    ap.add_argument("--json", action="store_true")
    return ap.parse_args(argv)


def _check(args) -> None:
    from forecasting.policy import BadSettings
    if not 1 <= args.horizon <= 366:
        raise BadSettings(f"--horizon must be between 1 and 366 days, not {args.horizon}")
    if args.service_level is not None and not 0 < args.service_level < 1:
        raise BadSettings(f"--service-level must be strictly between 0 and 1 (e.g. 0.95), not {args.service_level}")
    if args.lead_time is not None and args.lead_time < 0:
        raise BadSettings(f"--lead-time must be 0 days or more, not {args.lead_time}")
    if args.backtest and (args.csv or args.service_level is not None or args.lead_time is not None):
        raise BadSettings("--backtest takes only --horizon and --db (no plan is made)")
    if args.csv and not Path(args.csv).parent.is_dir():
        raise BadSettings(f"--csv: no folder {Path(args.csv).parent} to write {Path(args.csv).name} in")
    path = warehouse.db_path(args.db)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: build one with `python -m data.demo` or load files")


def _jsonable(frame) -> list[dict]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in frame.to_dicts()]


def _run(con, args) -> dict:
    from forecasting import policy, run, store
    if args.backtest:
        f = run.forecast(con, args.horizon, future=False)
        run_id = store.save_run(con, f, None, "backtest", user=args.user)
        acc = f.accuracy
        return {"overall": acc.get("overall", {}), "by_method": acc.get("by_method", {}),
                "by_abc": acc.get("by_abc", {}), "run_id": run_id}
    f = run.forecast(con, args.horizon)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", policy.StockUnknownWarning)
        plan = policy.plan(f, con, service_level=args.service_level, lead_time_days=args.lead_time)
    run_id = store.save_run(con, f, plan, "plan", args.service_level, args.user, args.lead_time)
    if args.csv:
        Path(args.csv).write_text(safe_csv(plan.with_columns(plan["flags"].list.join(","))), encoding="utf-8")
    acc = f.accuracy
    return {"generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "run_id": run_id,
            "plan": _jsonable(plan),
            "accuracy": {k: acc.get(k, {}) for k in ("overall", "by_method", "by_abc")},
            "warnings": sorted({str(w.message) for w in caught if issubclass(w.category, policy.StockUnknownWarning)})}


def _print(out: dict, backtest: bool) -> None:
    o = out.get("overall") if backtest else out["accuracy"].get("overall", {})
    if o:
        print(f"backtest over {o.get('skus')} SKUs: WAPE {o.get('wape', float('nan')):.3f} "
              f"(seasonal naive {o.get('baseline_wape', float('nan')):.3f}), bias {o.get('bias', float('nan')):+.3f}, "
              f"MASE {o.get('mase', float('nan')):.3f}")
    if backtest:
        return
    for w in out["warnings"]:
        print(f"warning: {w}")
    order = [r for r in out["plan"] if r["recommended_qty"]]
    print(f"run {out['run_id']}: {len(out['plan'])} SKUs planned, {len(order)} to order")
    for r in order[:20]:
        print(f"  {r['sku']:<16} order {r['recommended_qty']:>8,.0f} by {r['order_by']}  {','.join(r['flags'])}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = _args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    from forecasting import run
    from forecasting.policy import BadSettings
    bad_input = (BadSettings, run.NoHistory, FileNotFoundError, warehouse.WarehouseBusy)
    con = None
    try:
        _check(args)
        con = warehouse.connect(args.db)
        out = _run(con, args)
    except bad_input as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - one line, exit 1
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        if con is not None:
            con.close()
    if args.json:
        from forecasting.store import finite
        print(json.dumps(finite(out), ensure_ascii=False, indent=1, default=str, allow_nan=False))
    else:
        _print(out, args.backtest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
