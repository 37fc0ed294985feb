"""`python -m data.ingest` (DESIGN §7): JSON contract, exit codes, --date, --mapping, --experiment,
--rejected-out with spreadsheet-safe cells.

Most tests call data.ingest.main in-process (fast); one runs the real command in a subprocess.
"""
import csv
import hashlib
import io
import json
import subprocess
import sys
from datetime import datetime

import pytest

from data.ingest import ERRORS_SHOWN, main
from tests.ingest_helpers import FIXTURES, ROOT, connect, csv_bytes, dump, rows, value

KEYS = {"file", "kind", "encoding", "status", "rows_read", "inserted", "updated", "rejected", "errors", "message"}


def run(capsys, *args) -> tuple[int, list[dict]]:
    code = main([*map(str, args), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_json_list_with_the_contract_keys_and_exit_0(tmp_db, capsys):
    code, out = run(capsys, FIXTURES / "orders_canonical.csv", FIXTURES / "sycm_traffic_gbk.csv", "--db", tmp_db)
    assert code == 0
    assert isinstance(out, list) and len(out) == 2
    for item in out:
        assert KEYS <= item.keys()
        assert isinstance(item["errors"], list)
    first, second = out
    assert (first["file"], first["kind"], first["encoding"], first["status"]) == \
        ("orders_canonical.csv", "orders", "utf-8", "loaded")
    assert (first["rows_read"], first["inserted"], first["updated"], first["rejected"]) == (11, 11, 0, 0)
    assert (second["kind"], second["status"], second["inserted"]) == ("traffic", "loaded", 14)
    assert second["encoding"] in ("gb18030", "gbk")


def test_duplicate_file_exits_0_and_refused_file_exits_2(tmp_db, capsys):
    assert run(capsys, FIXTURES / "orders_canonical.csv", "--db", tmp_db)[0] == 0
    code, out = run(capsys, FIXTURES / "orders_canonical.csv", "--db", tmp_db)
    assert (code, out[0]["status"], out[0]["inserted"]) == (0, "duplicate_file", 0)
    code, out = run(capsys, FIXTURES / "promotions.csv", FIXTURES / "bad_binary.bin", "--db", tmp_db)
    assert code == 2
    assert [o["status"] for o in out] == ["loaded", "refused"]
    assert out[1]["message"] and "\n" not in out[1]["message"]


def test_missing_file_is_refused_with_exit_2(tmp_db, tmp_path, capsys):
    code, out = run(capsys, tmp_path / "nope.csv", "--db", tmp_db)
    assert code == 2
    assert out[0]["status"] == "refused" and "no such file" in out[0]["message"]


def test_refused_files_write_nothing(tmp_db, capsys):
    assert run(capsys, FIXTURES / "orders_canonical.csv", "--db", tmp_db)[0] == 0
    con = connect(tmp_db)
    before = dump(con)
    con.close()
    bad = ["bad_binary.bin", "bad_empty.csv", "bad_header_only.csv", "bad_unterminated_quote.csv",
           "orders_many_bad_rows.csv", "orders_unknown_headers.csv"]
    code, out = run(capsys, *[FIXTURES / b for b in bad], "--db", tmp_db)
    assert code == 2
    assert [o["status"] for o in out] == ["refused"] * len(bad)
    con = connect(tmp_db)
    assert dump(con) == before


def test_nps_needs_date_and_loads_with_it(tmp_db, capsys):
    code, out = run(capsys, FIXTURES / "nps_survey_nodate.csv", "--db", tmp_db)
    assert code == 2
    assert out[0]["status"] == "refused" and "--date" in out[0]["message"]
    code, out = run(capsys, FIXTURES / "nps_survey_nodate.csv", "--date", "2024-03-01", "--db", tmp_db)
    assert code == 0
    assert (out[0]["status"], out[0]["inserted"], out[0]["rejected"]) == ("loaded", 17, 3)
    assert [(e["row"], e["column"]) for e in out[0]["errors"]] == [(8, "nps"), (12, "nps"), (16, "nps")]
    con = connect(tmp_db)
    assert rows(con, "select distinct responded_at from nps_responses") == [(datetime(2024, 3, 1),)]


def test_mapping_file_then_remembered(tmp_db, tmp_path, capsys):
    code, out = run(capsys, FIXTURES / "orders_unknown_headers.csv", "--db", tmp_db)
    assert code == 2 and "Ref" in out[0]["message"]
    code, out = run(capsys, FIXTURES / "orders_unknown_headers.csv", "--mapping",
                    FIXTURES / "orders_unknown_headers.mapping.json", "--db", tmp_db)
    assert (code, out[0]["status"], out[0]["inserted"]) == (0, "loaded", 6)
    later = tmp_path / "orders_unknown_headers_april.csv"
    later.write_text((FIXTURES / "orders_unknown_headers.csv").read_text().replace("2024-03", "2024-04")
                     .replace("INV-77", "INV-78"))
    code, out = run(capsys, later, "--db", tmp_db)
    assert (code, out[0]["status"], out[0]["inserted"]) == (0, "loaded", 6)
    con = connect(tmp_db)
    assert value(con, "select count(distinct order_id) from order_lines") == 10


def test_bad_mapping_file_exits_2(tmp_db, tmp_path, capsys):
    bad = tmp_path / "mapping.json"
    bad.write_text("[1, 2]")
    assert main([str(FIXTURES / "orders_unknown_headers.csv"), "--mapping", str(bad), "--db", str(tmp_db)]) == 2
    assert "mapping" in capsys.readouterr().err


def test_experiment_name_and_user_are_recorded(tmp_db, capsys):
    code, out = run(capsys, FIXTURES / "experiment_wide.csv", "--experiment", "checkout-v2", "--user", "ana",
                    "--db", tmp_db)
    assert (code, out[0]["kind"], out[0]["inserted"]) == (0, "experiments", 30)
    con = connect(tmp_db)
    assert rows(con, "select distinct experiment from experiment_users") == [("checkout-v2",)]
    sha = hashlib.sha256((FIXTURES / "experiment_wide.csv").read_bytes()).hexdigest()
    assert rows(con, "select file_name, sha256, kind, encoding, rows_read, inserted, updated, rejected, user_name "
                     "from ingest_log") == [("experiment_wide.csv", sha, "experiments", "utf-8", 31, 30, 0, 0, "ana")]


def _many_bad_cells(tmp_path):
    """400 orders, 60 with a bad quantity (15%), some of them formula-like."""
    formulas = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2-x", "@SUM(A1:A9)", "=1+1"]
    records = [["order_id", "ordered_at", "sku", "quantity", "unit_price"]]
    for i in range(400):
        qty = (formulas[i % 5] if i < 5 else f"bad{i}") if i < 60 else "1"
        records.append([f"Q-{i:04d}", "2024-03-01 10:00", "=cmd|' /C calc'!A0" if i == 0 else "SKU", qty, "2.50"])
    path = tmp_path / "many_bad_cells.csv"
    path.write_bytes(csv_bytes(records))
    return path, formulas


def test_errors_are_capped_and_rejected_out_has_every_row_neutralised(tmp_db, tmp_path, capsys):
    path, formulas = _many_bad_cells(tmp_path)
    out_csv = tmp_path / "rejected.csv"
    code, out = run(capsys, path, "--rejected-out", out_csv, "--db", tmp_db)
    assert code == 0
    r = out[0]
    assert (r["status"], r["rows_read"], r["inserted"], r["rejected"]) == ("loaded", 400, 340, 60)
    assert len(r["errors"]) == ERRORS_SHOWN < 60
    assert all(set(e) == {"row", "column", "value", "reason"} for e in r["errors"])
    assert r["errors"][0] == {"row": 2, "column": "quantity", "value": formulas[0], "reason": "not a number"}
    text = out_csv.read_text(encoding="utf-8-sig")
    records = list(csv.DictReader(io.StringIO(text)))
    assert len(records) == 60
    assert {"row", "column", "value", "reason"} <= records[0].keys()
    assert [int(x["row"]) for x in records] == list(range(2, 62))
    values = [x["value"] for x in records]
    assert values[:5] == ["'" + f for f in formulas]
    assert values[5:] == [f"bad{i}" for i in range(5, 60)]
    # No cell of the file may start a formula.
    for rec in csv.reader(io.StringIO(text)):
        for cell in rec:
            assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and not _number(cell)), cell


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_rejected_out_is_written_with_a_header_when_nothing_was_rejected(tmp_db, tmp_path, capsys):
    out_csv = tmp_path / "rejected.csv"
    code, _ = run(capsys, FIXTURES / "orders_canonical.csv", "--rejected-out", out_csv, "--db", tmp_db)
    assert code == 0
    records = list(csv.reader(io.StringIO(out_csv.read_text())))
    assert len(records) == 1 and {"row", "column", "value", "reason"} <= set(records[0])


def test_text_output_has_one_line_per_file(tmp_db, capsys):
    code = main([str(FIXTURES / "orders_canonical.csv"), str(FIXTURES / "bad_empty.csv"), "--db", str(tmp_db)])
    assert code == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("orders_canonical.csv: loaded")
    assert lines[1].startswith("bad_empty.csv: refused") and "empty" in lines[1]


def test_the_real_command(tmp_path):
    db = tmp_path / "w.duckdb"
    p = subprocess.run([sys.executable, "-m", "data.ingest", str(FIXTURES / "shopify_orders.csv"),
                        str(FIXTURES / "bad_unterminated_quote.csv"), "--db", str(db), "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    out = json.loads(p.stdout)
    assert [(o["file"], o["status"], o["inserted"]) for o in out] == \
        [("shopify_orders.csv", "loaded", 13), ("bad_unterminated_quote.csv", "refused", 0)]
    assert "quote" in out[1]["message"]
    p = subprocess.run([sys.executable, "-m", "data.ingest", str(FIXTURES / "shopify_orders.csv"), "--db", str(db),
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)[0]["status"] == "duplicate_file"


@pytest.mark.parametrize("args", [["--kind", "nonsense"], ["--date", "yesterday"]])
def test_bad_arguments_exit_2(tmp_db, args):
    with pytest.raises(SystemExit) as e:
        main([str(FIXTURES / "orders_canonical.csv"), "--db", str(tmp_db), *args])
    assert e.value.code == 2
