"""Settings: targets, currency, time zone, service levels, restock and alert defaults; validated
(data/settings_spec.py) and stored with who changed them (settings_log)."""
from zoneinfo import available_timezones

import streamlit as st

import ui
from data import settings_spec, warehouse

try:
    from auth import current_user
except ImportError:  # access control not installed
    def current_user():
        return None

PCT = dict(min_value=None, max_value=None, step=1.0, format="%.1f")


def pct(label: str, value: float | None, key: str, help: str | None = None) -> float | None:
    """A percentage input (shown in %, returned as a fraction; empty = None)."""
    v = st.number_input(label, value=None if value is None else round(100 * value, 4), key=key, help=help,
                        placeholder="no target", **PCT)
    return None if v is None else v / 100


def stored(cur) -> tuple[dict, list[str]]:
    """(every setting's value, the keys whose stored value is unreadable): a value that is not JSON
    or not of its default's kind (edited outside the app) reads as its default, so this page can
    replace it."""
    current, broken = {}, []
    for k, default in warehouse.DEFAULT_SETTINGS.items():
        try:
            v = warehouse.get_setting(cur, k)
        except warehouse.BadSetting:
            v = None
        kind = (int, float) if isinstance(default, (int, float)) else type(default)
        ok = isinstance(v, kind) and not isinstance(v, bool)
        if ok and k == "service_levels":
            ok = all(c in v for c in "ABC")
        current[k] = v if ok else default
        broken += [] if ok else [k]
    return current, broken


def render() -> None:
    st.title("Settings")
    with ui.connection().cursor() as cur:
        current, broken = stored(cur)
    targets = current["targets"] or {}
    st.caption("Every change is stored with the time and who made it (settings log); dashboards pick it up at once.")
    if broken:
        st.warning(f"Stored value{'s' * (len(broken) > 1)} of {', '.join(broken)} could not be read (edited outside "
                   "the app): the form shows the default. Save to replace "
                   f"{'them' if len(broken) > 1 else 'it'}.", icon=":material/warning:")
    with st.form("settings"):
        st.subheader("Targets")
        c = st.columns(3)
        t = {}
        with c[0]:
            t["repurchase_rate"] = pct("Repurchase rate ≥ (%)", targets.get("repurchase_rate"), "set_t_rep")
            t["new_customer_share"] = pct("New customer share ≥ (%)", targets.get("new_customer_share"), "set_t_new")
        with c[1]:
            t["gross_margin"] = pct("Gross margin ≥ (%)", targets.get("gross_margin"), "set_t_margin")
            t["conversion_rate"] = pct("Conversion rate ≥ (%)", targets.get("conversion_rate"), "set_t_conv")
        with c[2]:
            t["aov_min"] = st.number_input("AOV at least", value=targets.get("aov_min"), key="set_t_aov_min",
                                           placeholder="no minimum")
            t["aov_max"] = st.number_input("AOV at most", value=targets.get("aov_max"), key="set_t_aov_max",
                                           placeholder="no maximum")
        st.subheader("Store")
        c = st.columns(3)
        currency = c[0].text_input("Currency (ISO code)", current["currency"], key="set_currency", max_chars=8)
        zones = sorted(available_timezones() | {"UTC"})
        timezone = c[1].selectbox("Time zone", zones, index=zones.index(current["timezone"])
                                  if current["timezone"] in zones else zones.index("UTC"), key="set_timezone",
                                  help="Times in exports with a UTC offset are converted to this zone at upload.")
        with c[2]:
            drop = pct("Conversion alert: drop below benchmark (%)", current["conversion_alert_drop"], "set_drop")
        st.subheader("Restock")
        c = st.columns(3)
        levels = {cls: c[i].number_input(f"Service level class {cls} (%)", value=100 * current["service_levels"][cls],
                                         key=f"set_sl_{cls}", **PCT) / 100 for i, cls in enumerate("ABC")}
        c = st.columns(4)
        days = {k: c[i].number_input(label, value=current[k], key=f"set_{k}", step=1)
                for i, (k, label) in enumerate([("default_lead_time_days", "Default lead time (days)"),
                                                ("review_period_days", "Review period (days)"),
                                                ("low_stock_days", "Low stock at ≤ days of cover"),
                                                ("promo_cover_days", "Promotion cover (days)")])}
        saved = st.form_submit_button("Save settings", type="primary")
    if not saved:
        return
    values, problems = settings_spec.validate({"currency": currency, "timezone": timezone, "targets": t,
                                               "service_levels": levels, "conversion_alert_drop": drop, **days})
    if problems:
        st.error("Nothing was saved:\n\n" + "\n".join(f"- {ui.text_md(p)}" for p in problems), icon=":material/error:")
        return
    values |= {k: current[k] for k in broken if k not in values}  # not on the form: back to the default
    changed = [k for k, v in values.items() if v != current[k] or k in broken]
    with ui.connection().cursor() as cur:
        for k in changed:
            warehouse.set_setting(cur, k, values[k], user=current_user())
    st.success(f"Saved: {', '.join(changed)}." if changed else "No change to save.", icon=":material/check:")


render()
