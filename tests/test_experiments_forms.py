"""Summary-form (per-variant totals) and user-form (per-user rows) inputs of the same data give the
same results, from a frame, a file and the warehouse (experiment_users / experiment_summary)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from data import warehouse
from metrics import experiments as ex

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["variant", "control_value", "variant_value", "abs_diff", "abs_ci_low", "abs_ci_high", "rel_lift",
          "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted", "power", "prob_beat_control", "expected_loss",
          "verdict", "explanation", "error"]


def per_user(seed=3, n=6000):
    """Three arms, conversion 10% / 12% / 9.5%, revenue only for converters (gamma, cents)."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "bold", "calm"], n)
    rate = np.select([arm == "control", arm == "bold"], [0.10, 0.12], 0.095)
    conv = (rng.random(n) < rate).astype(int)
    rev = np.round(conv * rng.gamma(2.0, 40.0, n), 2)
    return pl.DataFrame({"user_id": [f"u{i}" for i in range(n)], "variant": arm, "converted": conv, "revenue": rev})


def totals_by_hand(users: pl.DataFrame) -> pl.DataFrame:
    """experiment_summary rows computed with numpy, independently of the module."""
    rows = []
    for v in sorted(set(users["variant"])):
        part = users.filter(pl.col("variant") == v)
        rev = part["revenue"].to_numpy()
        rows.append({"variant": v, "users": part.height, "conversions": int(part["converted"].to_numpy().sum()),
                     "revenue_sum": float(np.sum(rev)), "revenue_sum_sq": float(np.sum(rev * rev))})
    return pl.DataFrame(rows)


def same(a: dict, b: dict) -> None:
    """Every listed comparison field equal (numbers to 1e-12 relative: sums added in another order)."""
    assert [v["variant"] for v in a["variants"]] == [v["variant"] for v in b["variants"]]
    assert a["variants"] == b["variants"]
    assert a["srm_p"] == pytest.approx(b["srm_p"], rel=1e-12) and a["srm_flag"] == b["srm_flag"]
    ma, mb = ({m["metric"]: m for m in r["metrics"]} for r in (a, b))
    assert set(ma) == set(mb) == {"converted", "revenue"}
    for name in ma:
        assert (ma[name]["type"], ma[name]["control"]) == (mb[name]["type"], mb[name]["control"])
        assert len(ma[name]["comparisons"]) == len(mb[name]["comparisons"]) == 2
        for ca, cb in zip(ma[name]["comparisons"], mb[name]["comparisons"]):
            for f in FIELDS:
                if isinstance(ca[f], float):
                    assert ca[f] == pytest.approx(cb[f], rel=1e-12, abs=1e-15), (name, f)
                else:
                    assert ca[f] == cb[f], (name, f)


def test_summary_form_equals_user_form_in_memory():
    users = per_user()
    frame, metrics, warnings = ex.prepare(users.with_columns(pl.all().cast(pl.String)))
    user_form = ex.analyse(frame, metrics, "t", warnings=warnings)
    totals, w = ex.totals_from_summary(totals_by_hand(users))
    summary_form = ex.analyse_totals("t", totals, warnings=w)
    same(user_form, summary_form)
    # and the values are the right ones: Welch p of bold vs control from the raw revenue
    rev = {v: users.filter(pl.col("variant") == v)["revenue"].to_numpy() for v in ("control", "bold")}
    c = next(m for m in summary_form["metrics"] if m["metric"] == "revenue")["comparisons"][0]
    assert c["variant"] == "bold"
    assert c["p_value"] == pytest.approx(stats.ttest_ind(rev["bold"], rev["control"], equal_var=False).pvalue, abs=1e-9)


def test_summary_form_equals_user_form_in_the_warehouse():
    users = per_user(seed=11, n=5000)
    summary = totals_by_hand(users)
    con = warehouse.connect(":memory:")
    con.execute("insert into experiment_users (experiment, variant, user_id, converted, revenue) "
                "select 'rows', variant, user_id, converted, revenue from users")
    con.execute("insert into experiment_summary (experiment, variant, users, conversions, revenue_sum, revenue_sum_sq) "
                "select 'totals', variant, users, conversions, revenue_sum, revenue_sum_sq from summary")
    got = {r["name"]: r for r in ex.from_warehouse(con)}
    assert set(got) == {"rows", "totals"}
    same(got["rows"], got["totals"])
    frame, metrics, warnings = ex.prepare(users.with_columns(pl.all().cast(pl.String)))
    same(got["rows"], ex.analyse(frame, metrics, "rows", warnings=warnings))  # SQL and Polars paths agree
    assert ex.from_warehouse(con, "totals") == [got["totals"]]


def test_summary_and_user_files_through_the_cli(tmp_path):
    users = per_user(seed=5, n=3000)
    rows, totals = tmp_path / "rows.csv", tmp_path / "totals.csv"
    users.write_csv(rows)
    totals_by_hand(users).rename({"users": "Users", "conversions": "Conversions", "revenue_sum": "Revenue Sum",
                                  "revenue_sum_sq": "Revenue Sum Sq"}).write_csv(totals)
    out = {}
    for f in (rows, totals):
        run = subprocess.run([sys.executable, "-m", "metrics.experiments", "--csv", str(f), "--json"],
                             capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == 0, run.stderr
        out[f.stem] = json.loads(run.stdout)["experiments"][0]
    same(out["rows"], out["totals"])


def test_summary_form_conversions_only_and_bad_totals():
    totals, warnings = ex.totals_from_summary(pl.DataFrame(
        {"variant": ["A", "B"], "users": [1000, 1000], "conversions": [100, 130],
         "revenue_sum": [5000.0, 6000.0], "revenue_sum_sq": [None, None]}))
    assert set(totals.metrics) == {"converted"} and any("revenue_sum_sq" in w for w in warnings)
    r = ex.analyse_totals("t", totals, warnings=warnings)
    c = r["metrics"][0]["comparisons"][0]
    # 10% vs 13% on 1000 each: pooled p = 0.115, z = 0.03 / sqrt(0.115 * 0.885 * 2 / 1000)
    z = 0.03 / math.sqrt(0.115 * 0.885 * 2 / 1000)
    assert c["p_value"] == pytest.approx(2 * stats.norm.sf(z), abs=1e-12)
    with pytest.raises(ValueError, match="between 0 and users"):
        ex.totals_from_summary(pl.DataFrame({"variant": ["A", "B"], "users": [10, 10], "conversions": [3, 11],
                                             "revenue_sum": [None, None], "revenue_sum_sq": [None, None]}))
    with pytest.raises(ValueError, match="twice"):
        ex.totals_from_summary(pl.DataFrame({"variant": ["A", "A"], "users": [10, 10], "conversions": [3, 1],
                                             "revenue_sum": [None, None], "revenue_sum_sq": [None, None]}))


def test_users_in_several_variants_are_left_out_in_sql_as_in_polars():
    base = per_user(seed=9, n=900)  # variants bold, calm, control
    # u0 also in calm and control, u1 also in control, u2 also in bold (each a second/third row)
    extra = pl.DataFrame({"user_id": ["u0", "u0", "u1", "u2"], "variant": ["calm", "control", "control", "bold"],
                          "converted": [1, 0, 1, 0], "revenue": [5.0, 0.0, 7.5, 0.0]})
    rows = pl.concat([base, extra]).unique(["user_id", "variant"], keep="first")  # the warehouse key
    in_two = rows.group_by("user_id").len().filter(pl.col("len") > 1).height
    con = warehouse.connect(":memory:")
    con.execute("insert into experiment_users (experiment, variant, user_id, converted, revenue) "
                "select 'x', variant, user_id, converted, revenue from rows")
    con.execute("insert into experiment_metrics (experiment, variant, user_id, metric, value) "
                "select 'x', variant, user_id, 'clicks', converted * 2 + 1 from rows")
    sql = ex.from_warehouse(con, "x")[0]
    kept = rows.join(rows.group_by("user_id").len().filter(pl.col("len") > 1), on="user_id", how="anti")
    assert f"{in_two} users seen in more than one variant were left out" in sql["warnings"]
    assert sql["variants"] == [{"variant": v, "users": kept.filter(pl.col("variant") == v).height}
                               for v in ("bold", "calm", "control")]
    frame, metrics, warnings = ex.prepare(rows.with_columns(pl.all().cast(pl.String)))
    polars = ex.analyse(frame, metrics, "x", warnings=warnings)
    assert f"{in_two} users seen in more than one variant were left out" in polars["warnings"]
    sql["metrics"] = [m for m in sql["metrics"] if m["metric"] != "clicks"]
    same(sql, polars)
    # the extra metric (experiment_metrics) leaves the same users out: mean of 2 * converted + 1
    clicks = next(m for m in ex.from_warehouse(con, "x")[0]["metrics"] if m["metric"] == "clicks")
    ctrl = kept.filter(pl.col("variant") == "control")["converted"].to_numpy()
    assert clicks["type"] == "mean" and clicks["comparisons"][0]["control_value"] == pytest.approx(2 * ctrl.mean() + 1)
