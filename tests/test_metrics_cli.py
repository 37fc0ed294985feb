"""`python -m metrics` as a subprocess (DESIGN §7): one JSON object with start, end, every KPI key as a
number or null, and alerts [{kpi, severity, message}]; --explain adds each KPI's passport; exit 2
with a one-line reason for a bad range or a missing warehouse, and nothing written.

The warehouse is the hand-built shop of tests/test_metrics.py (its values are written out there).
"""
import json
import os
import subprocess
import sys

import pytest

from tests import metrics_helpers as h
from tests.conftest import ROOT

WEEK = ["--start", "2024-03-01", "--end", "2024-03-07"]


def run(*args: str, db=None, env_db=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STOREBOARD_DB"}
    if env_db is not None:
        env["STOREBOARD_DB"] = str(env_db)
    argv = [sys.executable, "-m", "metrics", *args] + (["--db", str(db)] if db is not None else [])
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def strict_json(text: str) -> dict:
    """JSON without NaN/Infinity (which json.dumps would write and other readers refuse)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("metrics_cli") / "w.duckdb"
    h.warehouse_with(path, **h.shop()).close()
    return path


@pytest.fixture(scope="module")
def week_json(db):
    p = run(*WEEK, "--json", db=db)
    assert p.returncode == 0, p.stderr
    return strict_json(p.stdout)


def test_json_has_the_range_and_every_kpi_as_a_number_or_null(week_json):
    out = week_json
    assert (out["start"], out["end"]) == ("2024-03-01", "2024-03-07")
    for k in h.KEYS:
        assert k in out, k
        assert out[k] is None or type(out[k]) in (int, float), (k, out[k])
    # the shop's week (tests/test_metrics.py CURRENT)
    assert out["gmv"] == pytest.approx(360) and out["net_sales"] == pytest.approx(280)
    counts = ("orders", "buyers", "active_skus", "visitors", "nps_responses")
    assert tuple(out[k] for k in counts) == (5, 4, 2, 200, 6)
    assert out["aov"] == pytest.approx((360 - 15) / 5) and out["sales_per_buyer"] == pytest.approx((360 - 15) / 4)
    assert out["conversion_rate"] == pytest.approx(5 / 200) and out["gross_margin"] == pytest.approx(232 / 280)
    assert out["nps"] == pytest.approx(100 / 6)


def test_alerts_are_a_list_of_kpi_severity_message(week_json):
    alerts = week_json["alerts"]
    assert isinstance(alerts, list)
    for a in alerts:
        assert set(a) == {"kpi", "severity", "message"}, a
        assert a["severity"] in ("critical", "warning", "info") and isinstance(a["message"], str) and a["message"]
    got = {(a["kpi"], a["severity"]) for a in alerts}
    # AOV 69 is below its 100–300 band; 6 NPS answers are a thin sample (< 30); conversion 2.5% is
    # the previous week's 2/80 = 2.5%, no drop; repurchase, new share and margin meet their targets.
    assert got == {("aov", "warning"), ("nps", "info")}
    assert "69.00" in next(a["message"] for a in alerts if a["kpi"] == "aov")


def test_channel_slice(db):
    p = run(*WEEK, "--channel", "app", "--json", db=db)
    assert p.returncode == 0, p.stderr
    out = strict_json(p.stdout)
    assert out["gmv"] == pytest.approx(180) and (out["orders"], out["buyers"]) == (2, 2)
    assert out["conversion_rate"] == pytest.approx(2 / 50)


def test_warehouse_from_the_environment(db):
    p = run(*WEEK, "--json", env_db=db)
    assert p.returncode == 0, p.stderr
    assert strict_json(p.stdout)["orders"] == 5


def test_explain_adds_every_passport(db, week_json):
    assert "passports" not in week_json
    p = run(*WEEK, "--json", "--explain", db=db)
    assert p.returncode == 0, p.stderr
    out = strict_json(p.stdout)
    assert set(out["passports"]) == set(h.KEYS)
    for k, passport in out["passports"].items():
        assert {"formula", "convention", "alternatives"} <= set(passport), k
        assert isinstance(passport["formula"], str) and passport["formula"], k
    assert "buyers" in out["passports"]["sales_per_buyer"]["formula"]      # 客单价 per buyer, not per order
    assert "orders" in out["passports"]["aov"]["formula"]
    text = run(*WEEK, "--explain", db=db)
    assert text.returncode == 0 and "(GMV − discounts) / orders" in text.stdout


def test_empty_range_is_valid_json(db):
    p = run("--start", "2030-01-01", "--end", "2030-01-31", "--json", db=db)
    assert p.returncode == 0, p.stderr
    out = strict_json(p.stdout)
    assert all(out[k] is None for k in h.RATIOS)


def test_bad_range_exits_2_with_one_line(db):
    before = db.stat().st_mtime_ns
    p = run("--start", "2024-03-07", "--end", "2024-03-01", "--json", db=db)
    assert p.returncode == 2
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "before it starts" in p.stderr
    assert db.stat().st_mtime_ns == before


def test_missing_warehouse_exits_2_with_one_line(tmp_path):
    missing = tmp_path / "nowhere" / "w.duckdb"
    p = run(*WEEK, "--json", db=missing)
    assert p.returncode == 2
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and str(missing) in p.stderr
    assert not missing.exists() and not missing.parent.exists()      # nothing written


def test_malformed_date_exits_2(db):
    p = run("--start", "2024-13-01", "--end", "2024-03-07", "--json", db=db)
    assert p.returncode == 2 and p.stdout == ""
    assert "not a date" in p.stderr.strip().splitlines()[-1]
