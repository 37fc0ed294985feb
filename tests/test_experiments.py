"""Experiment analysis (metrics/experiments.py): values equal scipy/statsmodels; rules and verdicts."""
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from metrics import experiments as ex

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def users(rows):
    return pl.DataFrame(rows, schema=["user_id", "variant", "converted", "revenue"], orient="row")


def result(frame, control=None):
    frame = frame.with_columns(pl.all().cast(pl.String))
    f, metrics, warnings = ex.prepare(frame)
    return ex.analyse(f, metrics, "t", control, warnings)


def by_metric(r):
    return {m["metric"]: m for m in r["metrics"]}


def test_values_match_statsmodels_and_scipy():
    rng = np.random.default_rng(7)
    n = 4000
    variant = np.where(np.arange(n) % 2 == 0, "A", "B")
    conv = (rng.random(n) < np.where(variant == "A", 0.10, 0.13)).astype(int)
    rev = np.round(conv * rng.gamma(2.0, 30.0, n), 2)
    r = result(users(list(zip([f"u{i}" for i in range(n)], variant, conv, rev))))
    m = by_metric(r)
    a, b = variant == "A", variant == "B"
    _, p = proportions_ztest([conv[b].sum(), conv[a].sum()], [b.sum(), a.sum()])
    c = m["converted"]["comparisons"][0]
    assert m["converted"]["type"] == "proportion" and m["converted"]["control"] == "A"
    assert c["p_value"] == pytest.approx(p, abs=1e-9)
    assert c["abs_diff"] == pytest.approx(conv[b].mean() - conv[a].mean(), abs=1e-12)
    t = stats.ttest_ind(rev[b], rev[a], equal_var=False)
    c = m["revenue"]["comparisons"][0]
    assert m["revenue"]["type"] == "mean" and c["p_value"] == pytest.approx(t.pvalue, abs=1e-9)
    assert r["srm_p"] == pytest.approx(stats.chisquare([a.sum(), b.sum()]).pvalue, abs=1e-12)


def test_repeated_rows_and_users_in_two_variants_are_counted_in_warnings():
    r = result(users([("u1", "control", 1, 5), ("u1", "control", 1, 5), ("u2", "control", 0, 0),
                      ("u3", "treatment", 0, 0), ("u3", "control", 1, 9), ("u4", "treatment", 1, 7)]))
    assert r["variants"] == [{"variant": "control", "users": 2}, {"variant": "treatment", "users": 1}]
    assert any("1 repeated rows" in w for w in r["warnings"])
    assert any("1 users seen in more than one variant" in w for w in r["warnings"])


def test_control_is_named_or_given_and_text_columns_are_ignored():
    frame = users([("u1", "B", 1, 5), ("u2", "baseline", 0, 0), ("u3", "B", 0, 0), ("u4", "baseline", 1, 2)])
    frame = frame.with_columns(pl.lit("Safari").alias("browser"))
    r = result(frame)
    assert by_metric(r)["converted"]["control"] == "baseline"
    assert any("browser" in w for w in r["warnings"])
    assert by_metric(result(frame, control="B"))["converted"]["control"] == "B"


@pytest.mark.parametrize("rate_b, n, verdict", [
    (0.20, 20000, "ship"),            # +100% lift, decisive
    (0.05, 20000, "harmful"),         # −50%
    (0.10, 200, "keep running"),      # no effect, far too few users for a 5% lift
    (0.10, 300_000, "no difference"),  # no effect; ~58k per arm give 80% power for a 5% lift on 10%
])
def test_verdicts(rate_b, n, verdict):
    half = n // 2
    # Deterministic counts: exactly the rate in each arm (A at 10%).
    conv_a, conv_b = round(half * 0.10), round(half * rate_b)
    frame = pl.DataFrame({
        "user_id": [f"a{i}" for i in range(half)] + [f"b{i}" for i in range(half)],
        "variant": ["A"] * half + ["B"] * half,
        "converted": [1] * conv_a + [0] * (half - conv_a) + [1] * conv_b + [0] * (half - conv_b)})
    c = by_metric(result(frame))["converted"]["comparisons"][0]
    assert c["verdict"] == verdict, c["explanation"]
    assert c["explanation"].endswith(".")


def test_degenerate_inputs_give_messages_not_nan():
    one = result(users([("u1", "A", 1, 1.0), ("u2", "A", 0, 0.0)]))
    assert any("only one variant" in w for w in one["warnings"]) and one["srm_p"] is None
    zero = by_metric(result(users([("u1", "A", 0, 0), ("u2", "B", 0, 0), ("u3", "A", 0, 0), ("u4", "B", 0, 0)])))
    c = zero["converted"]["comparisons"][0]
    assert c["error"] and c["p_value"] is None and c["verdict"] == "keep running"
    for m in zero.values():
        for cmp in m["comparisons"]:
            for v in cmp.values():
                assert not (isinstance(v, float) and not np.isfinite(v))


def test_cli_on_a_file_and_on_the_warehouse(tmp_path):
    f = tmp_path / "ab.csv"
    f.write_text("user,variant,converted,revenue\n" + "".join(
        f"u{i},{'A' if i % 2 else 'B'},{int(i % 7 == 0)},{i % 13}\n" for i in range(400)))
    run = subprocess.run([sys.executable, "-m", "metrics.experiments", "--csv", str(f), "--variant-col", "variant",
                          "--user-col", "user", "--control", "A", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    e = json.loads(run.stdout)["experiments"][0]
    assert e["name"] == "ab" and {v["variant"] for v in e["variants"]} == {"A", "B"}
    assert {m["metric"]: m["type"] for m in e["metrics"]} == {"converted": "proportion", "revenue": "mean"}
    bad = subprocess.run([sys.executable, "-m", "metrics.experiments", "--csv", str(f), "--control", "Z"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a variant" in bad.stderr
