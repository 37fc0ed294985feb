"""Bayesian view against independent computations: exact rational arithmetic (Evan Miller's
closed form with Beta functions of whole numbers as factorials), a log-space numpy sum, nested
scipy quadrature for the expected loss, and the normal distribution for means."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, stats
from scipy.special import betaln, logsumexp

from metrics.experiments_stats import Stats, bayes_means, bayes_proportions, prob_beta_greater

PROPS = settings(max_examples=25, derandomize=True, deadline=None, database=None)


def beta_fn(a: int, b: int) -> Fraction:
    return Fraction(math.factorial(a - 1) * math.factorial(b - 1), math.factorial(a + b - 1))


def miller_exact(a1, b1, a2, b2) -> Fraction:
    """P(X2 > X1) = sum_{i<a2} B(a1 + i, b1 + b2) / ((b2 + i) B(1 + i, b2) B(a1, b1)), exactly."""
    return sum((beta_fn(a1 + i, b1 + b2) / ((b2 + i) * beta_fn(1 + i, b2) * beta_fn(a1, b1)) for i in range(a2)),
               Fraction(0))


def miller_logspace(a1, b1, a2, b2) -> float:
    i = np.arange(a2, dtype=float)
    return float(np.exp(logsumexp(betaln(a1 + i, b1 + b2) - np.log(b2 + i) - betaln(1 + i, b2) - betaln(a1, b1))))


small = st.integers(0, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))


@PROPS
@given(c=small, v=small)
def test_prob_beat_control_equals_exact_rational(c, v):
    (n_c, x_c), (n_v, x_v) = c, v
    got = bayes_proportions(Stats.from_counts(n_c, x_c), Stats.from_counts(n_v, x_v)) if n_c and n_v else None
    exact = float(miller_exact(1 + x_c, 1 + n_c - x_c, 1 + x_v, 1 + n_v - x_v))
    assert prob_beta_greater(1 + x_c, 1 + n_c - x_c, 1 + x_v, 1 + n_v - x_v) == pytest.approx(exact, abs=1e-11)
    if got:
        assert got.prob_beat_control == pytest.approx(exact, abs=1e-11)


@PROPS
@given(c=st.integers(20, 4000).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n // 4))),
       v=st.integers(20, 4000).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n // 4))))
def test_prob_beat_control_equals_log_space_sum(c, v):
    (n_c, x_c), (n_v, x_v) = c, v
    ref = miller_logspace(1 + x_c, 1 + n_c - x_c, 1 + x_v, 1 + n_v - x_v)
    got = bayes_proportions(Stats.from_counts(n_c, x_c), Stats.from_counts(n_v, x_v)).prob_beat_control
    assert got == pytest.approx(ref, abs=1e-9)


def test_prob_beat_control_hand_checked_and_large_counts():
    # Beta(1, 2) control vs Beta(2, 1) variant: P = 1 - integral of 2(1-x) * x^2 ... = 5/6
    assert prob_beta_greater(1, 2, 2, 1) == pytest.approx(5 / 6, abs=1e-13)
    assert prob_beta_greater(3, 7, 3, 7) == pytest.approx(0.5, abs=1e-12)       # identical posteriors
    # 3.3M users per arm: the exact log-space sum agrees to 1e-8 (its own rounding at this size)
    a = (1 + 330_000, 1 + 2_970_000, 1 + 331_000, 1 + 2_969_000)
    assert prob_beta_greater(*a) == pytest.approx(miller_logspace(*a), abs=1e-8)


def beta_pdf(a: int, b: int):
    log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return lambda x: math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - log_b) if 0 < x < 1 else 0.0


@pytest.mark.parametrize("c, v", [((20, 3), (20, 6)), ((50, 10), (40, 5)), ((1, 0), (1, 1)), ((120, 18), (100, 19))])
def test_expected_loss_equals_nested_quadrature(c, v):
    (n_c, x_c), (n_v, x_v) = c, v
    fc, fv = beta_pdf(1 + x_c, 1 + n_c - x_c), beta_pdf(1 + x_v, 1 + n_v - x_v)
    # E[max(p_c - p_v, 0)] = double integral over y > x of (y - x) f_c(y) f_v(x)
    ref, _ = integrate.dblquad(lambda y, x: (y - x) * fc(y) * fv(x), 0, 1, lambda x: x, lambda x: 1,
                               epsabs=1e-13, epsrel=1e-11)
    got = bayes_proportions(Stats.from_counts(n_c, x_c), Stats.from_counts(n_v, x_v))
    assert got.expected_loss == pytest.approx(ref, abs=1e-9)
    if c == (1, 0):  # Beta(1, 2) vs Beta(2, 1): E[max(Xc - Xv, 0)] = 1/30 by hand
        assert got.expected_loss == pytest.approx(1 / 30, abs=1e-12) and got.prob_beat_control == pytest.approx(5 / 6)


def test_means_normal_approximation():
    c, v = Stats.from_values([10.0, 12.0, 9.0, 14.0, 11.0]), Stats.from_values([13.0, 12.5, 15.0, 11.0])
    mu = 12.875 - 11.2
    sd = math.sqrt(np.var([10, 12, 9, 14, 11], ddof=1) / 5 + np.var([13, 12.5, 15, 11], ddof=1) / 4)
    d = stats.norm(mu, sd)
    got = bayes_means(c, v)
    assert got.prob_beat_control == pytest.approx(d.sf(0), abs=1e-12)
    loss, _ = integrate.quad(lambda t: -t * d.pdf(t), -np.inf, 0, epsabs=1e-13)
    assert got.expected_loss == pytest.approx(loss, abs=1e-10)
    assert bayes_means(Stats.from_values([1.0]), v) == (None, None)
    assert bayes_means(Stats.from_values([2.0, 2.0]), Stats.from_values([2.0, 2.0])) == (None, None)
