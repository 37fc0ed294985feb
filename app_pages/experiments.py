"""Experiments: every A/B test in the warehouse with its verdicts (metrics.experiments), a lift
chart with 95% intervals per metric, and a sample-size calculator (metrics.experiments_stats).

Shown as computed by ``metrics.experiments.from_warehouse``: the page only formats. The chart
shows relative lift (variant / control − 1) with its 95% delta-method interval per variant, the
zero line and the practical minimum lift (``experiments.MIN_LIFT``).
"""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

import ui
from metrics import experiments, experiments_stats

VERDICT_COLOR = {"ship": "green", "harmful": "red", "keep running": "blue", "no difference": "gray"}
EMPTY = "No A/B experiments in the warehouse yet"
WHAT_TO_UPLOAD = ("Upload either **experiment users** (one row per user: experiment, variant, user id and "
                  "metric columns such as converted 0/1 or revenue) or **per-variant totals** (experiment, "
                  "variant, users, conversions, revenue), as a testing or e-mail tool reports them.")


@ui.cached
def results(con) -> list[dict]:
    """Every experiment's analysis, as ``python -m metrics.experiments --json`` gives it."""
    return experiments.from_warehouse(con)


def _flat(c: dict) -> dict:
    """A comparison's numbers; a nested result (e.g. ``cuped``) becomes ``cuped_<key>`` columns."""
    out = {}
    for k, v in c.items():
        if isinstance(v, dict):
            out |= {f"{k}_{kk}": vv for kk, vv in v.items() if kk != "error" and not isinstance(vv, (dict, list))}
        elif k not in ("explanation", "error") and not isinstance(v, list):
            out[k] = v
    return out


def comparisons(exp: dict) -> pl.DataFrame:
    """One row per metric × treatment with every number of the analysis (new keys included)."""
    rows = [{"metric": m["metric"], "type": m["type"], "control": m["control"], **_flat(c)}
            for m in exp["metrics"] for c in m["comparisons"]]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def overview(res: list[dict]) -> pl.DataFrame:
    """One row per experiment: users, SRM and the verdicts of its comparisons."""
    return pl.DataFrame([{
        "experiment": e["name"], "variants": len(e["variants"]), "users": sum(v["users"] for v in e["variants"]),
        "srm_p": e["srm_p"], "srm_flag": e["srm_flag"],
        "verdicts": "; ".join(f"{m['metric']} {c['variant']}: {c['verdict']}"
                              for m in e["metrics"] for c in m["comparisons"])} for e in res],
        schema_overrides={"srm_p": pl.Float64})


def lift_chart(metric: dict) -> go.Figure | None:
    """Relative lift with its 95% interval per variant; None when no comparison has one."""
    cmps = [c for c in metric["comparisons"] if c["rel_lift"] is not None and c["rel_ci_low"] is not None]
    if not cmps:
        return None
    fig = go.Figure(go.Scatter(
        x=[c["rel_lift"] for c in cmps], y=[c["variant"] for c in cmps], mode="markers",
        marker=dict(size=14, color=[ui.COLORS[0] if c["verdict"] != "harmful" else ui.COLORS[3] for c in cmps]),
        error_x=dict(type="data", symmetric=False, thickness=3, width=10, color=ui.COLORS[0],
                     array=[c["rel_ci_high"] - c["rel_lift"] for c in cmps],
                     arrayminus=[c["rel_lift"] - c["rel_ci_low"] for c in cmps]),
        hovertemplate="%{y}: %{x:+.1%}<extra></extra>", name="lift"))
    adjusted = [c for c in cmps if (c.get("cuped") or {}).get("rel_lift") is not None
                and c["cuped"].get("rel_ci_low") is not None]
    if adjusted:
        cu = [c["cuped"] for c in adjusted]
        fig.add_scatter(x=[a["rel_lift"] for a in cu], y=[f"{c['variant']} (CUPED)" for c in adjusted],
                        mode="markers", marker=dict(size=13, symbol="diamond", color=ui.COLORS[4]),
                        error_x=dict(type="data", symmetric=False, thickness=3, width=10, color=ui.COLORS[4],
                                     array=[a["rel_ci_high"] - a["rel_lift"] for a in cu],
                                     arrayminus=[a["rel_lift"] - a["rel_ci_low"] for a in cu]),
                        hovertemplate="%{y}: %{x:+.1%}<extra></extra>", name="CUPED-adjusted lift")
    fig.add_vline(x=0, line=dict(color="#52606d", width=2))
    fig.add_vline(x=experiments.MIN_LIFT, line=dict(color=ui.COLORS[2], width=2, dash="dash"),
                  annotation_text=f"practical minimum {experiments.MIN_LIFT:+.0%}", annotation_position="top")
    fig.update_layout(xaxis=dict(tickformat="+.0%", title=f"relative lift vs {metric['control']} (95% CI)"),
                      yaxis=dict(type="category"), showlegend=False, margin=dict(t=40))
    return fig


def show_experiment(exp: dict) -> None:
    st.subheader(ui.text_md(exp["name"]))
    st.caption("Users per variant: " + ", ".join(f"{ui.text_md(v['variant'])} {v['users']:,}" for v in exp["variants"]))
    if exp["srm_flag"]:
        st.error(f"**Sample ratio mismatch** (SRM p = {exp['srm_p']:.2g} < 0.001): the users per variant do not "
                 f"match the planned {'split' if exp.get('planned_split') else 'equal split'}, so assignment or tracking is broken and the results below "
                 "cannot be trusted. Fix the split before deciding.", icon=":material/warning:")
    elif exp["srm_p"] is not None:
        st.caption(f"Traffic split matches the plan (SRM p = {exp['srm_p']:.2g}; flagged below 0.001).")
    for w in exp["warnings"]:
        st.warning(ui.text_md(w), icon=":material/info:")
    for m in exp["metrics"]:
        with st.container(border=True):
            kind = "conversion rate" if m["type"] == "proportion" else "mean per user"
            st.markdown(f"#### {ui.text_md(m['metric'])} · {kind}")
            for c in m["comparisons"]:
                color = VERDICT_COLOR.get(c["verdict"], "gray")
                p = "—" if c["p_value"] is None else f"{c['p_value']:.3g}"
                st.markdown(f":{color}-badge[{c['verdict']}] **{ui.text_md(c['variant'])}** vs "
                            f"{ui.text_md(m['control'])} · p = {p} — {ui.text_md(c['explanation'])}")
            fig = lift_chart(m)
            if fig is not None:
                ui.chart(fig, key=f"lift_{exp['name']}_{m['metric']}", height=170 + 55 * sum(len(t.y) for t in fig.data))
    frame = comparisons(exp)
    if frame.height:
        st.markdown("##### All comparisons")
        pct = st.column_config.NumberColumn(format="percent")
        ui.table(frame, f"experiment_{exp['name']}", key=f"cmp_{exp['name']}", column_config={
            c: pct for c in ("rel_lift", "rel_ci_low", "rel_ci_high", "power", "prob_beat_control")})


def calculator() -> None:
    """Users needed per variant (normal approximation, as statsmodels NormalIndPower)."""
    st.subheader("Sample-size calculator")
    with st.form("sample_size"):
        kind = st.segmented_control("Metric", ["Conversion rate", "Mean"], default="Conversion rate",
                                    key="ss_kind", required=True)
        c1, c2, c3 = st.columns(3)
        rate = c1.number_input("Baseline conversion rate (%)", 0.01, 99.99, 5.0, step=0.5, key="ss_rate")
        mean = c2.number_input("Baseline mean (mean metric)", value=30.0, key="ss_mean")
        sd = c3.number_input("Standard deviation (mean metric)", 0.0, value=60.0, key="ss_sd")
        c1, c2, c3, c4, c5 = st.columns(5)
        effect = c1.number_input("Minimum effect", value=5.0, step=0.5, key="ss_effect",
                                 help="Relative: % of the baseline. Absolute: percentage points for a rate, "
                                      "units of the metric for a mean.")
        relative = c2.radio("Effect is", ["relative", "absolute"], key="ss_relative") == "relative"
        alpha = c3.number_input("α (two-sided)", 0.001, 0.5, 0.05, step=0.01, format="%.3f", key="ss_alpha")
        power = c4.number_input("Power", 0.5, 0.999, 0.8, step=0.05, format="%.2f", key="ss_power")
        share = c5.number_input("Traffic to the variant (%)", 1.0, 99.0, 50.0, step=5.0, key="ss_share")
        submitted = st.form_submit_button("Calculate", type="primary")
    if not submitted:
        st.caption("Two variants; set the inputs and press Calculate.")
        return
    ratio = share / (100 - share)
    try:
        if kind == "Mean":
            size = experiments_stats.sample_size_means(mean, sd, effect / 100 if relative else effect, relative,
                                                       alpha, power, ratio)
        else:
            size = experiments_stats.sample_size_proportions(rate / 100, effect / 100, relative, alpha, power, ratio)
    except ValueError as e:
        st.error(f"Cannot compute: {e}", icon=":material/error:")
        return
    if size.error:
        st.warning(f"Cannot compute: {size.error}.", icon=":material/info:")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("Users in control", f"{size.n_control:,}")
    c2.metric("Users in the variant", f"{size.n_variant:,}")
    c3.metric("Users in total", f"{size.n_control + size.n_variant:,}")


def render() -> None:
    st.title("Experiments")
    res = results()
    if not res:
        ui.empty_state(EMPTY)
        st.markdown(WHAT_TO_UPLOAD)
    else:
        st.dataframe(overview(res), hide_index=True, alt="Experiments",
                     column_config={"srm_p": st.column_config.NumberColumn("SRM p", format="%.3g"),
                                    "srm_flag": st.column_config.CheckboxColumn("SRM")})
        names = [e["name"] for e in res]
        name = st.selectbox("Experiment", names, key="experiment", bind="query-params")
        show_experiment(next(e for e in res if e["name"] == name))
    st.divider()
    calculator()


render()
