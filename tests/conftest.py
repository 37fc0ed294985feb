"""Fixtures shared by every test: a throw-away warehouse and the real public exports."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


def in_ci() -> bool:
    """CI=true turns 'cannot run here' skips into failures (DESIGN §8)."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip with a one-line reason, or fail under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def tmp_db(tmp_path, monkeypatch) -> Path:
    """Path of a fresh warehouse file (not created yet); STOREBOARD_DB points at it."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("STOREBOARD_DB", str(path))
    return path


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata: real public exports (see its README for licences and known traits)."""
    if not REALDATA.is_dir():
        skip_or_fail(f"real data not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory) -> Path:
    """A demo warehouse built once per test session (python -m data.demo, seed 42, scale 0.3: two
    years ending yesterday). Read-only: tests that write copy it (e.g. to ``tmp_db``)."""
    from data import demo
    path = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    demo.build(path, seed=42, scale=0.3)
    return path
