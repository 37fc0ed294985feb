"""End to end on random per-user data (hypothesis): every p-value, adjusted p-value, interval and
SRM figure of ``analyse`` equals statsmodels/scipy to 1e-9, and nothing is NaN or inf."""
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from metrics import experiments as ex


@settings(max_examples=25, derandomize=True, deadline=None, database=None)
@given(seed=st.integers(0, 100_000), n=st.integers(30, 3000), arms=st.integers(2, 4),
       rate=st.floats(0.01, 0.6))
def test_analyse_matches_statsmodels_and_scipy(seed, n, arms, rate):
    rng = np.random.default_rng(seed)
    names = ["control", "b", "c", "d"][:arms]
    arm = rng.integers(0, arms, n)
    variant = np.array(names)[arm]
    conv = (rng.random(n) < rate * rng.uniform(0.8, 1.25, arms)[arm]).astype(int)
    rev = np.round(conv * rng.lognormal(3, 1, n), 2)
    frame = pl.DataFrame({"user": [f"u{i}" for i in range(n)], "variant": variant, "converted": conv,
                          "revenue": rev}).with_columns(pl.all().cast(pl.String))
    f, metrics, warnings = ex.prepare(frame)
    r = ex.analyse(f, metrics, "t", warnings=warnings)
    present = [v for v in sorted(names) if (variant == v).any()]
    counts = [int((variant == v).sum()) for v in present]
    if len(present) > 1:
        assert r["srm_p"] == pytest.approx(stats.chisquare(counts).pvalue, rel=1e-9, abs=1e-12)
    if "control" not in present:
        return
    ctrl = variant == "control"
    for m in r["metrics"]:
        ps, refs = [], []
        for c in m["comparisons"]:
            for key, value in c.items():
                assert not (isinstance(value, float) and not math.isfinite(value)), key
            treat = variant == c["variant"]
            if m["metric"] == "converted" or m["type"] == "proportion":
                y = conv if m["metric"] == "converted" else rev
                x = [int(y[treat].sum()), int(y[ctrl].sum())]
                if 0 < sum(x) < treat.sum() + ctrl.sum():
                    refs.append(proportions_ztest(x, [int(treat.sum()), int(ctrl.sum())])[1])
                else:
                    refs.append(None)
            else:
                ok = treat.sum() > 1 and ctrl.sum() > 1 and (rev[treat].var() > 0 or rev[ctrl].var() > 0)
                refs.append(stats.ttest_ind(rev[treat], rev[ctrl], equal_var=False).pvalue if ok else None)
            ps.append(c)
        for c, ref in zip(ps, refs):
            if ref is None:
                assert c["p_value"] is None and c["error"]
            else:
                assert c["p_value"] == pytest.approx(ref, rel=1e-9, abs=1e-12)
        given_ps = [(c, ref) for c, ref in zip(ps, refs) if ref is not None]
        if len(ps) > 1 and given_ps:
            holm = multipletests([ref for _, ref in given_ps], method="holm")[1]
            for (c, _), h in zip(given_ps, holm):
                assert c["p_adjusted"] == pytest.approx(h, rel=1e-9, abs=1e-12)
