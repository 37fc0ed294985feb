"""What each admin-editable setting may hold; :func:`validate` turns form input into values to
store, or says in words what is wrong (defaults: data.warehouse.DEFAULT_SETTINGS, DESIGN §3/§5).

Units: ratios (targets, service levels, alert drop) are fractions (0.25 = 25%); money in the store
currency; days are calendar days. A target left empty (None) is no target.
"""
from __future__ import annotations

import re
from zoneinfo import available_timezones

RATIO_TARGETS = ("repurchase_rate", "new_customer_share", "gross_margin", "conversion_rate")
DAYS = {  # key: (lowest, highest, whole days only)
    "default_lead_time_days": (1, 365, True),
    "review_period_days": (1, 90, True),
    "low_stock_days": (0, 365, False),
    "promo_cover_days": (0, 365, True),
}


def validate(raw: dict) -> tuple[dict, list[str]]:
    """(settings to store, problems). ``raw`` keys: currency, timezone, targets (dict of
    RATIO_TARGETS, aov_min, aov_max; None = no target), service_levels {A, B, C},
    conversion_alert_drop and the DAYS keys. Nothing is returned to store when anything is wrong."""
    out, problems = {}, []
    cur = str(raw.get("currency") or "").strip().upper()
    if re.fullmatch(r"[A-Z]{3}", cur):
        out["currency"] = cur
    else:
        problems.append(f"Currency must be a three-letter ISO 4217 code such as EUR or USD, not “{raw.get('currency')}”.")
    tz = str(raw.get("timezone") or "")
    if tz in available_timezones() or tz == "UTC":
        out["timezone"] = tz
    else:
        problems.append(f"Time zone “{tz}” is unknown; use an IANA name such as Europe/Berlin.")
    targets, given = {}, raw.get("targets") or {}
    for k in RATIO_TARGETS:
        v = given.get(k)
        if v is not None and not 0 <= v <= 1:
            problems.append(f"Target {k.replace('_', ' ')} must lie between 0% and 100%, not {v:.0%}.")
        elif v is not None:
            targets[k] = v
    lo, hi = given.get("aov_min"), given.get("aov_max")
    if any(v is not None and v < 0 for v in (lo, hi)):
        problems.append("AOV targets cannot be negative.")
    elif lo is not None and hi is not None and lo > hi:
        problems.append(f"AOV target band is empty: minimum {lo:g} is above maximum {hi:g}.")
    else:
        targets |= {k: v for k, v in (("aov_min", lo), ("aov_max", hi)) if v is not None}
    out["targets"] = targets
    levels = raw.get("service_levels") or {}
    if all(c in levels and 0.5 <= levels[c] < 1 for c in "ABC"):
        out["service_levels"] = {c: float(levels[c]) for c in "ABC"}
    else:
        problems.append("Service levels for classes A, B and C must each be at least 50% and below 100%.")
    drop = raw.get("conversion_alert_drop")
    if drop is not None and 0 < drop < 1:
        out["conversion_alert_drop"] = float(drop)
    else:
        problems.append("The conversion alert drop must lie between 0% and 100% (e.g. 15%).")
    for k, (low, high, whole) in DAYS.items():
        v = raw.get(k)
        if v is None or not low <= v <= high or (whole and v != int(v)):
            problems.append(f"{k.replace('_', ' ').capitalize()} must be {'a whole number ' if whole else ''}"
                            f"from {low} to {high} days, not {v}.")
        else:
            out[k] = int(v) if whole else float(v)
    return ({} if problems else out), problems
