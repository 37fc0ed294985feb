"""Degenerate inputs give clear messages (never NaN, inf or a crash); the planned split of the SRM
check; the CLI's one-line errors."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from metrics import experiments as ex
from metrics.experiments_stats import MESSAGES, Stats

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "metrics.experiments", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)


def finite_everywhere(obj) -> None:
    if isinstance(obj, float):
        assert math.isfinite(obj), obj
    elif isinstance(obj, dict):
        for v in obj.values():
            finite_everywhere(v)
    elif isinstance(obj, list):
        for v in obj:
            finite_everywhere(v)


def from_rows(rows, pre=False, **kw):
    cols = ["user", "variant", "converted", "revenue"] + (["pre_revenue"] if pre else [])
    frame = pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.all().cast(pl.String))
    f, metrics, warnings = ex.prepare(frame)
    r = ex.analyse(f, metrics, "t", warnings=warnings, **kw)
    finite_everywhere(r)
    json.dumps(r, allow_nan=False)
    return r, {m["metric"]: m for m in r["metrics"]}


def test_zero_conversions():
    r, m = from_rows([(f"u{i}", "AB"[i % 2], 0, 0.0, float(i % 3)) for i in range(40)], pre=True)
    for name in ("converted", "revenue"):  # revenue all 0 is a 0/1 metric with no conversions
        c = m[name]["comparisons"][0]
        assert c["error"] == MESSAGES["no_conversions"] and c["p_value"] is None and c["p_adjusted"] is None
        assert c["verdict"] == "keep running" and MESSAGES["no_conversions"] in c["explanation"]
        assert c["prob_beat_control"] == pytest.approx(0.5, abs=1e-9)  # identical Beta(1, 21) posteriors
        assert c["cuped"]["theta"] == 0.0  # no variation to explain
        assert c["abs_diff"] == 0.0


def test_all_conversions():
    _, m = from_rows([(f"u{i}", "AB"[i % 2], 1, 1.0) for i in range(30)])
    c = m["converted"]["comparisons"][0]
    assert c["error"] == MESSAGES["all_converted"] and c["p_value"] is None and c["verdict"] == "keep running"
    assert c["power"] is None and c["control_value"] == 1.0


def test_one_variant_only():
    r, m = from_rows([(f"u{i}", "A", i % 2, float(i)) for i in range(10)])
    assert r["srm_p"] is None and r["srm_flag"] is False
    assert any("only one variant (A): nothing to compare" in w for w in r["warnings"])
    assert all(x["comparisons"] == [] for x in m.values())


def test_a_variant_with_one_user():
    rows = [(f"u{i}", "A", i % 3 == 0, float(i % 5), float(i % 4)) for i in range(30)] + [("solo", "B", 1, 9.0, 1.0)]
    r, m = from_rows(rows, pre=True)
    assert any("variant B has only 1 user" in w for w in r["warnings"])
    conv, rev = m["converted"]["comparisons"][0], m["revenue"]["comparisons"][0]
    # a proportion is defined with 1 user: 10/30 vs 1/1 by the pooled z-test
    assert conv["p_value"] == pytest.approx(proportions_ztest([1, 10], [1, 30])[1], abs=1e-12)
    assert rev["error"] == MESSAGES["too_few_users"] and rev["p_value"] is None and rev["verdict"] == "keep running"
    assert rev["prob_beat_control"] is None and rev["expected_loss"] is None
    assert rev["cuped"]["error"] == MESSAGES["too_few_users"] and rev["cuped"]["theta"] is None


def test_summary_variant_with_no_users():
    totals, w = ex.totals_from_summary(pl.DataFrame({"variant": ["control", "B"], "users": [500, 0],
                                                     "conversions": [50, 0], "revenue_sum": [900.0, 0.0],
                                                     "revenue_sum_sq": [40000.0, 0.0]}))
    r = ex.analyse_totals("t", totals, warnings=w)
    finite_everywhere(r)
    for m in r["metrics"]:
        c = m["comparisons"][0]
        assert c["error"] == MESSAGES["no_users"] and c["verdict"] == "keep running" and c["power"] is None
    assert r["srm_p"] == pytest.approx(stats.chisquare([0, 500]).pvalue) and r["srm_flag"]


def test_planned_split_and_srm_flag():
    users = {"A": 4000, "B": 6000}
    totals = ex.Totals(users=users, metrics={"converted": {"A": Stats.from_counts(4000, 400),
                                                           "B": Stats.from_counts(6000, 720)}},
                       kinds={"converted": "proportion"})
    equal = ex.analyse_totals("t", totals)
    assert equal["srm_p"] == pytest.approx(stats.chisquare([4000, 6000]).pvalue, rel=1e-12) and equal["srm_flag"]
    c = equal["metrics"][0]["comparisons"][0]
    assert c["verdict"] == "no difference" and "SRM" in c["explanation"]   # +20%, significant, but SRM
    planned = ex.analyse_totals("t", totals, planned_split=[40, 60])
    assert planned["srm_p"] == pytest.approx(1.0) and not planned["srm_flag"] and planned["planned_split"] == [40, 60]
    assert planned["metrics"][0]["comparisons"][0]["verdict"] == "ship"
    skew = ex.analyse_totals("t", totals, planned_split={"B": 0.55, "A": 0.45})
    assert skew["srm_p"] == pytest.approx(stats.chisquare([4000, 6000], [4500, 5500]).pvalue, rel=1e-12)
    assert ex.parse_split("control=50, treatment=50") == {"control": 50.0, "treatment": 50.0}
    for bad, match in [("50", "two or more"), ("a,b", "give numbers"), ("50,-1", "two or more")]:
        with pytest.raises(ValueError, match=match):
            ex.parse_split(bad)
    with pytest.raises(ValueError, match="3 shares for 2 variants"):
        ex.analyse_totals("t", totals, planned_split=[1, 1, 1])
    with pytest.raises(ValueError, match="variants are A, B"):
        ex.analyse_totals("t", totals, planned_split={"A": 1, "C": 1})


@settings(max_examples=30, derandomize=True, deadline=None, database=None)
@given(st.lists(st.integers(1, 3000), min_size=2, max_size=4), st.data())
def test_srm_with_a_planned_split_matches_scipy(counts, data):
    shares = data.draw(st.lists(st.floats(0.05, 1), min_size=len(counts), max_size=len(counts)))
    variants = [f"v{i}" for i in range(len(counts))]
    totals = ex.Totals(users=dict(zip(variants, counts)), metrics={}, kinds={})
    r = ex.analyse_totals("t", totals, planned_split=shares)
    expected = np.array(shares) / sum(shares) * sum(counts)
    assert r["srm_p"] == pytest.approx(stats.chisquare(counts, expected).pvalue, rel=1e-9, abs=1e-12)


def test_cli_empty_and_header_only_files_exit_2_with_one_line(tmp_path):
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("user,variant,converted\n")
    for f, reason in ((empty, "empty"), (header, "no data rows")):
        run = cli("--csv", f, "--json")
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and reason in run.stderr and run.stderr.startswith("error: ")


def test_cli_split_and_pre_col(tmp_path):
    f = tmp_path / "ab.csv"
    f.write_text("user,variant,converted,visits_before\n" + "".join(
        f"u{i},{'A' if i % 3 else 'B'},{int(i % 5 == 0)},{i % 7}\n" for i in range(300)))
    ok = cli("--csv", f, "--split", "2,1", "--pre-col", "visits_before", "--json")
    assert ok.returncode == 0, ok.stderr
    e = json.loads(ok.stdout)["experiments"][0]
    assert e["variants"] == [{"variant": "A", "users": 200}, {"variant": "B", "users": 100}]
    assert e["srm_p"] == pytest.approx(1.0) and e["planned_split"] == [2, 1]
    assert [m["metric"] for m in e["metrics"]] == ["converted"]          # visits_before is the covariate
    assert e["metrics"][0]["comparisons"][0]["cuped"]["theta"] is not None
    for args, reason in ((["--split", "1,1,1"], "3 shares for 2 variants"), (["--split", "x"], "give numbers"),
                         (["--pre-col", "nope"], "no column 'nope'"), (["--control", "Z"], "not a variant")):
        bad = cli("--csv", f, *args)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and reason in bad.stderr, bad.stderr


def test_cli_warehouse_errors_are_one_line(tmp_path):
    missing = cli("--db", tmp_path / "none.duckdb")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no warehouse" in missing.stderr
