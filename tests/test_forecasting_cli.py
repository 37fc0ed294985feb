"""python -m forecasting: exit codes, JSON keys, stored runs, formula-safe CSV, and one end-to-end
run on a demo warehouse."""
import json
import shutil

import pytest

from data import demo, warehouse
from forecasting.__main__ import main
from tests.test_forecasting_backtest import shop

PLAN_KEYS = {"sku", "name", "abc", "on_hand", "on_order", "lead_time_days", "service_level", "forecast_daily",
             "forecast_lead_time", "safety_stock", "reorder_point", "order_up_to", "recommended_qty", "order_by",
             "days_of_cover", "flags"}
OVERALL = {"wape", "wape_7d", "bias", "mase", "baseline_wape", "baseline_wape_7d", "baseline_mase", "skus"}


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """The backtest test's small shop (no products, so no lead times set) as a warehouse file."""
    path = tmp_path_factory.mktemp("fc") / "w.duckdb"
    mem = shop()
    con = warehouse.connect(path)
    for t in ("order_lines", "inventory"):
        con.register("src", mem.sql(f"select * from {t}").arrow())
        con.execute(f"insert into {t} select * from src")
        con.unregister("src")
    con.close()
    return str(path)


@pytest.mark.parametrize("args", [["--horizon", "0"], ["--horizon", "x"], ["--horizon", "400"],
                                  ["--service-level", "1"], ["--service-level", "0"], ["--service-level", "1.5"],
                                  ["--bogus"]])
def test_bad_arguments_exit_2_with_one_line(capsys, small_db, args):
    code, out, err = run(capsys, *args, "--db", small_db, "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error:")


def test_missing_warehouse_and_no_history(capsys, tmp_path):
    code, _, err = run(capsys, "--db", str(tmp_path / "none.duckdb"), "--json")
    assert code == 2 and "no warehouse" in err
    warehouse.connect(tmp_path / "empty.duckdb").close()
    code, _, err = run(capsys, "--backtest", "--db", str(tmp_path / "empty.duckdb"), "--json")
    assert code == 2 and "no order history" in err and len(err.strip().splitlines()) == 1


def test_backtest_json_and_stored_run(capsys, small_db):
    code, out, _ = run(capsys, "--backtest", "--horizon", "14", "--db", small_db, "--json")
    assert code == 0
    b = json.loads(out)
    assert OVERALL <= set(b["overall"]) and b["overall"]["skus"] == 3
    assert set(b["by_method"]) and set(b["by_abc"]) <= set("ABCU")
    con = warehouse.connect(small_db, read_only=True)
    kind, status, skus = con.execute("select kind, status, skus from forecast_runs where run_id = ?",
                                     [b["run_id"]]).fetchall()[0]
    assert (kind, status, skus) == ("backtest", "done", 3)
    assert con.execute("select count(*) from forecast_accuracy where run_id = ?", [b["run_id"]]).fetchall()[0][0] == 3
    con.close()


def test_plan_without_inventory_says_stock_is_unknown(capsys, tmp_path):
    path = tmp_path / "noinv.duckdb"
    mem = shop()
    con = warehouse.connect(path)
    con.register("src", mem.sql("select * from order_lines").arrow())
    con.execute("insert into order_lines select * from src")
    con.close()
    code, out, _ = run(capsys, "--horizon", "14", "--db", str(path), "--json")
    assert code == 0
    p = json.loads(out)
    assert {"generated_at", "plan", "accuracy", "warnings"} <= set(p)
    assert any("unknown" in w for w in p["warnings"])
    assert len(p["plan"]) == 3 and PLAN_KEYS <= set(p["plan"][0])


def test_demo_end_to_end(capsys, tmp_path):
    path = tmp_path / "demo.duckdb"
    demo.build(path, seed=42, scale=0.3)
    csv = tmp_path / "plan.csv"
    code, out, err = run(capsys, "--horizon", "28", "--service-level", "0.95", "--db", str(path), "--csv", str(csv),
                         "--json")
    assert code == 0, err
    p = json.loads(out)
    assert p["plan"] and PLAN_KEYS <= set(p["plan"][0]) and not p["warnings"]
    o = p["accuracy"]["overall"]
    assert OVERALL <= set(o) and o["skus"] > 50
    assert o["wape"] < o["baseline_wape"]  # beats the seasonal naive on the demo shop
    assert abs(o["bias"]) < 0.35
    con = warehouse.connect(path, read_only=True)
    run_id, kind, status = con.execute("select run_id, kind, status from forecast_runs order by run_id desc limit 1"
                                       ).fetchall()[0]
    assert (run_id, kind, status) == (p["run_id"], "plan", "done")
    n_plan, n_fc, days = con.execute(
        "select (select count(*) from restock_plan where run_id = $r), (select count(distinct sku) from forecasts "
        "where run_id = $r), (select count(distinct date) from forecasts where run_id = $r)", {"r": run_id}).fetchall()[0]
    assert n_plan == len(p["plan"]) and n_fc == n_plan and days == 28
    con.close()
    text = csv.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("sku,") and len(text.splitlines()) == len(p["plan"]) + 1


def test_internal_value_error_is_exit_1_not_bad_input(capsys, small_db, monkeypatch):
    """A ValueError from inside the run is a programming error: exit 1, "internal error", one line."""
    from forecasting import run as fc_run

    def boom(*args, **kwargs):
        raise ValueError("boom")
    monkeypatch.setattr(fc_run, "forecast", boom)
    for mode in ([], ["--backtest"]):
        code, out, err = run(capsys, *mode, "--horizon", "14", "--db", small_db, "--json")
        assert (code, out, err) == (1, "", "internal error: ValueError: boom\n")


@pytest.mark.parametrize("edit, message", [
    # policy.BadSettings raised while planning: a product's pack size < 1
    ("insert into products (sku, pack_size) values ('SLOW', 0)",
     "products.pack_size must be 1 or more units; SKU(s) SLOW have pack_size out of range: fix them in the "
     "products file and upload it again"),
    # a settings row whose value is not JSON (edited by hand in the warehouse)
    ("insert or replace into settings (key, value) values ('review_period_days', '{7')",
     "setting review_period_days in the warehouse is not valid JSON (Expecting property name enclosed in "
     "double quotes, character 1): set it again on the Settings page"),
], ids=["pack_size_0", "setting_not_json"])
def test_bad_value_found_inside_the_run_is_exit_2_and_stores_nothing(capsys, small_db, tmp_path, edit, message):
    """Bad input found in the warehouse while running: exit 2 with the policy's one-line message,
    and no run is stored."""
    path = tmp_path / "bad.duckdb"
    shutil.copy(small_db, path)
    con = warehouse.connect(path)
    con.execute(edit)
    before = con.execute("select count(*) from forecast_runs").fetchall()[0][0]
    con.close()
    code, out, err = run(capsys, "--horizon", "14", "--db", str(path), "--json")
    assert (code, out, err) == (2, "", f"error: {message}\n")
    con = warehouse.connect(path, read_only=True)
    assert con.execute("select count(*) from forecast_runs").fetchall()[0][0] == before
    con.close()


def test_csv_into_a_missing_folder_is_exit_2_before_any_work(capsys, small_db, tmp_path):
    target = tmp_path / "nope" / "plan.csv"
    code, out, err = run(capsys, "--db", small_db, "--csv", str(target), "--json")
    assert (code, out) == (2, "") and err == f"error: --csv: no folder {target.parent} to write plan.csv in\n"


def test_lead_time_override_is_stored_and_replanned(capsys, small_db, tmp_path):
    """--lead-time and --service-level are recorded with the run; store.replan with the run's own
    settings gives back the stored plan (every numeric column to 1e-9)."""
    from forecasting import store
    from tests.test_forecasting_store import assert_same_plan
    path = tmp_path / "lead.duckdb"
    shutil.copy(small_db, path)
    code, out, err = run(capsys, "--horizon", "14", "--lead-time", "9", "--service-level", "0.9", "--db", str(path),
                         "--json")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    con = warehouse.connect(path)
    params, level = con.execute("select params, service_level from forecast_runs where run_id = ?",
                                [run_id]).fetchall()[0]
    assert json.loads(params)["lead_time_days"] == 9 and level == 0.9
    assert con.execute("select count(*) from forecast_residuals where run_id = ?", [run_id]).fetchall()[0][0] > 0
    again = store.replan(con, run_id)
    assert (again["lead_time_days"] == 9).all() and (again["service_level"] == 0.9).all()
    assert_same_plan(again, con.sql("select * from restock_plan where run_id = ?", params=[run_id]).pl())
    con.close()
