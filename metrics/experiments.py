"""A/B results: per-user rows (a file or ``experiment_users``/``experiment_metrics``) → verdicts.

Rules (DESIGN §4):
- control: the given one, else a variant named control / A / baseline (any case), else the first
  in sorted order;
- repeated rows of a user in one variant count once; users seen in more than one variant are left
  out; both are counted in ``warnings``;
- a metric whose values are all 0/1 is a proportion (pooled z-test), any other numeric metric a
  mean (Welch); Holm-adjusted p-values across the treatments of a metric;
- sample ratio mismatch: chi-square against an equal planned split, flagged at p < 0.001;
- power at the practical minimum lift (setting-free default 5%, relative);
- verdict: ``ship`` = significant after correction, lift ≥ the practical minimum, no SRM;
  ``harmful`` = significant in the wrong direction; ``keep running`` = not significant and power
  < 80%; ``no difference`` = not significant with power ≥ 80%, or significant but smaller than the
  practical minimum (or under SRM, which blocks shipping);
- chance to beat control: Beta(1 + conversions, 1 + non-conversions) posteriors (proportions) or
  the normal approximation of the difference (means), both with a normal approximation.
"""
from __future__ import annotations

import math

import polars as pl
from scipy import stats as sps

from data import parse, synonyms
from metrics import experiments_stats as st

MIN_LIFT = 0.05
ALPHA = 0.05
CONTROL_NAMES = ("control", "a", "baseline")
TIME_HINTS = ("time", "date", "_at", "timestamp")


def _column(frame: pl.DataFrame, given: str | None, canonical: str) -> str:
    if given:
        if given not in frame.columns:
            raise ValueError(f"no column {given!r} in the file (columns: {', '.join(frame.columns)})")
        return given
    for c in frame.columns:
        if synonyms.match("experiments", c) == canonical:
            return c
    raise ValueError(f"no {canonical} column found; name it with --{canonical.replace('_id', '')}-col")


def prepare(frame: pl.DataFrame, variant_col: str | None = None, user_col: str | None = None,
            experiment_col: str | None = None) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Typed per-user frame (variant, user, metric columns as Float64), metric names, warnings."""
    variant = _column(frame, variant_col, "variant")
    user = _column(frame, user_col, "user_id")
    skip = {variant, user} | ({experiment_col} if experiment_col else set())
    metrics, ignored = [], []
    for c in frame.columns:
        if c in skip or c.startswith("__"):
            continue
        s = frame[c] if frame[c].dtype == pl.String else frame[c].cast(pl.String)
        present = s.drop_nulls().len()
        typed = pl.select(parse.metric(pl.lit(s))).to_series()
        if present and typed.drop_nulls().len() == present and not any(h in c.lower() for h in TIME_HINTS):
            metrics.append(c)
            frame = frame.with_columns(typed.alias(c))
        else:
            ignored.append(c)
    warnings = [f"columns ignored (neither variant, user, experiment, timestamp nor numeric): {', '.join(ignored)}"] \
        if ignored else []
    out = frame.select(pl.col(variant).cast(pl.String).alias("variant"), pl.col(user).cast(pl.String).alias("user"),
                       *[pl.col(m) for m in metrics]).drop_nulls(["variant", "user"])
    repeated = out.height - out.unique(["variant", "user"]).height
    out = out.unique(["variant", "user"], keep="first", maintain_order=True)
    multi = out.group_by("user").agg(pl.col("variant").n_unique().alias("k")).filter(pl.col("k") > 1)
    if repeated:
        warnings.append(f"{repeated} repeated rows of a user in one variant were counted once")
    if multi.height:
        warnings.append(f"{multi.height} users seen in more than one variant were left out")
        out = out.join(multi.select("user"), on="user", how="anti")
    return out, metrics, warnings


def _control(variants: list[str], given: str | None) -> str:
    if given:
        if given not in variants:
            raise ValueError(f"control {given!r} is not a variant (variants: {', '.join(variants)})")
        return given
    return next((v for v in variants if v.lower() in CONTROL_NAMES), sorted(variants)[0])


def _prob_beat(kind: str, c: st.Stats, v: st.Stats) -> float | None:
    if c.n < 2 or v.n < 2:
        return None
    if kind == "proportion":
        def beta(s: st.Stats):
            a, b = 1 + s.sum, 1 + s.n - s.sum
            return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
        (mc, vc), (mv, vv) = beta(c), beta(v)
    else:
        mc, vc, mv, vv = c.mean, c.variance / c.n, v.mean, v.variance / v.n
    sd = math.sqrt(vc + vv)
    return None if sd == 0 else float(sps.norm.cdf((mv - mc) / sd))


def _power(kind: str, c: st.Stats, v: st.Stats) -> float | None:
    try:
        if kind == "proportion":
            p = c.mean
            return None if not 0 < p < 1 or p * (1 + MIN_LIFT) >= 1 else st.power_proportions(p, MIN_LIFT, c.n, v.n)
        sd = math.sqrt(c.variance) if c.n > 1 else 0
        return None if sd == 0 or c.mean == 0 else st.power_means(abs(c.mean), sd, MIN_LIFT, c.n, v.n)
    except ValueError:
        return None


def _verdict(cmp: st.Comparison, p_adj: float | None, power: float | None, srm_flag: bool) -> tuple[str, str]:
    lift = cmp.rel_lift
    if cmp.error or p_adj is None:
        return "keep running", f"Not enough data to compare yet: {cmp.error or 'no p-value'}."
    if p_adj < ALPHA and (cmp.abs_diff or 0) < 0:
        return "harmful", f"Significantly worse than control (lift {lift:+.1%}, adjusted p = {p_adj:.3g})." \
            if lift is not None else f"Significantly worse than control (adjusted p = {p_adj:.3g})."
    if p_adj < ALPHA:
        if srm_flag:
            return "no difference", "Significant, but the traffic split does not match the plan (SRM): fix the " \
                                    "assignment before trusting it."
        if lift is not None and lift >= MIN_LIFT:
            return "ship", f"Significantly better (lift {lift:+.1%}, adjusted p = {p_adj:.3g}), above the " \
                           f"{MIN_LIFT:.0%} practical minimum."
        return "no difference", f"Significant, but the lift ({lift:+.1%}) is below the {MIN_LIFT:.0%} practical " \
                                "minimum." if lift is not None else "Significant, but the lift is undefined."
    if power is None or power < 0.8:
        shown = "unknown" if power is None else f"{power:.0%}"
        return "keep running", f"No significant difference yet, and power to see a {MIN_LIFT:.0%} lift is " \
                               f"{shown} (< 80%): keep collecting users."
    return "no difference", f"No significant difference, with {power:.0%} power to see a {MIN_LIFT:.0%} lift."


def analyse(users: pl.DataFrame, metrics: list[str], name: str, control: str | None = None,
            warnings: list[str] | None = None) -> dict:
    """One experiment's result in the JSON shape of ``python -m metrics.experiments``."""
    warnings = list(warnings or [])
    counts = users.group_by("variant").agg(pl.len().alias("users")).sort("variant")
    variants = counts["variant"].to_list()
    if not variants:
        return {"name": name, "variants": [], "srm_p": None, "srm_flag": False,
                "warnings": warnings + ["no users: the experiment is empty"], "metrics": []}
    ctrl = _control(variants, control)
    srm = st.srm(counts["users"].to_list()) if len(variants) > 1 else None
    srm_flag = bool(srm and srm.mismatch)
    if len(variants) == 1:
        warnings.append(f"only one variant ({ctrl}): nothing to compare")
    sums = users.group_by("variant").agg(
        pl.len().alias("n"), *[pl.col(m).sum().alias(f"s:{m}") for m in metrics],
        *[(pl.col(m) ** 2).sum().alias(f"q:{m}") for m in metrics],
        *[pl.col(m).is_in([0.0, 1.0]).all().alias(f"b:{m}") for m in metrics])
    rows = {r["variant"]: r for r in sums.to_dicts()}
    out_metrics = []
    for m in metrics:
        kind = "proportion" if all(r[f"b:{m}"] for r in rows.values()) else "mean"
        stats = {v: st.Stats(r["n"], float(r[f"s:{m}"] or 0), float(r[f"q:{m}"] or 0)) for v, r in rows.items()}
        compare = st.compare_proportions if kind == "proportion" else st.compare_means
        treatments = [v for v in variants if v != ctrl]
        cmps = {v: compare(stats[ctrl], stats[v]) for v in treatments}
        ps = [cmps[v].p_value for v in treatments]
        adjusted = st.holm([p for p in ps if p is not None]) if len(treatments) > 1 else ps
        adj = iter(adjusted)
        comparisons = []
        for v in treatments:
            c = cmps[v]
            p_adj = next(adj) if c.p_value is not None and len(treatments) > 1 else c.p_value
            power = _power(kind, stats[ctrl], stats[v])
            verdict, why = _verdict(c, p_adj, power, srm_flag)
            comparisons.append({"variant": v, "control_value": c.control_value, "variant_value": c.variant_value,
                                "abs_diff": c.abs_diff, "abs_ci_low": c.abs_ci_low, "abs_ci_high": c.abs_ci_high,
                                "rel_lift": c.rel_lift, "rel_ci_low": c.rel_ci_low, "rel_ci_high": c.rel_ci_high,
                                "p_value": c.p_value, "p_adjusted": p_adj, "power": power,
                                "prob_beat_control": _prob_beat(kind, stats[ctrl], stats[v]),
                                "verdict": verdict, "explanation": why, "error": c.error})
        out_metrics.append({"metric": m, "type": kind, "control": ctrl, "comparisons": comparisons})
    return {"name": name, "variants": [{"variant": v, "users": n} for v, n in counts.iter_rows()],
            "srm_p": srm.p_value if srm else None, "srm_flag": srm_flag, "warnings": warnings, "metrics": out_metrics}


def from_warehouse(con, name: str | None = None) -> list[dict]:
    """Every experiment (or ``name``) in ``experiment_users`` with its metrics."""
    names = [r[0] for r in con.execute("select distinct experiment from experiment_users order by 1").fetchall()]
    if name is not None:
        if name not in names:
            raise ValueError(f"no experiment {name!r} in the warehouse (experiments: {', '.join(names) or 'none'})")
        names = [name]
    out = []
    for n in names:
        users = con.sql("""select variant, user_id as "user", cast(converted as double) as converted, revenue,
                                  pre_metric from experiment_users where experiment = ?""", params=[n]).pl()
        extra = con.sql("select variant, user_id as \"user\", metric, value from experiment_metrics "
                        "where experiment = ?", params=[n]).pl()
        if extra.height:
            users = users.join(extra.pivot(on="metric", index=["variant", "user"], values="value"),
                               on=["variant", "user"], how="left")
        metrics = [c for c in users.columns if c not in ("variant", "user", "pre_metric")
                   and users[c].null_count() < users.height]
        frame, _, warnings = prepare(users.select("variant", "user", *metrics).with_columns(
            pl.col(m).cast(pl.String) for m in metrics), "variant", "user")
        out.append(analyse(frame, metrics, n, warnings=warnings))
    return out


def main(argv: list[str] | None = None) -> int:
    import json
    import sys
    from pathlib import Path

    from data import warehouse
    from data.cli import Parser
    from data.read import RefusedFile, read

    ap = Parser(prog="python -m metrics.experiments", description="A/B test results.")
    ap.add_argument("--experiment")
    ap.add_argument("--csv", type=Path, help="a per-user file instead of the warehouse")
    ap.add_argument("--variant-col")
    ap.add_argument("--user-col")
    ap.add_argument("--control")
    ap.add_argument("--db")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.csv:
            raw = read(args.csv, args.csv.name).frame.drop("__row")
            frame, metrics, warnings = prepare(raw, args.variant_col, args.user_col)
            results = [analyse(frame, metrics, args.experiment or args.csv.stem, args.control, warnings)]
        else:
            path = warehouse.db_path(args.db)
            if not path.exists():
                raise FileNotFoundError(f"no warehouse at {path}")
            con = warehouse.connect(path)
            try:
                results = from_warehouse(con, args.experiment)
            finally:
                con.close()
    except (ValueError, OSError, RefusedFile, warehouse.WarehouseBusy) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = {"experiments": results}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        for e in results:
            print(f"{e['name']}: " + ", ".join(f"{v['variant']} {v['users']}" for v in e["variants"])
                  + (f"  SRM p={e['srm_p']:.3g}{' (MISMATCH)' if e['srm_flag'] else ''}" if e["srm_p"] is not None else ""))
            for w in e["warnings"]:
                print(f"  note: {w}")
            for m in e["metrics"]:
                for c in m["comparisons"]:
                    print(f"  {m['metric']} {c['variant']} vs {m['control']}: {c['verdict']} — {c['explanation']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
