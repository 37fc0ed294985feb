"""Products: ABC classes (share of the range's revenue) and roles (best seller, potential, steady,
laggard) per SKU, downloadable (metrics.analyses.abc)."""
import plotly.express as px
import polars as pl
import streamlit as st

import ui
from metrics import analyses

CLASS_ORDER = ["A", "B", "C", "U"]
ROLE_ORDER = ["best seller", "potential", "steady", "laggard"]


@ui.cached
def abc(con, f):
    return analyses.abc(con, f)


def render() -> None:
    st.title("Products")
    f = ui.filters()
    if not ui.has_data("order_lines", "products"):
        ui.empty_state("No orders or products yet: load an orders export or a product list")
        return
    t = abc(f)
    if t.is_empty():
        ui.empty_state("No products sold on or before this range")
        return
    summary = (t.group_by("abc", "role").agg(pl.len().alias("skus"), pl.col("revenue").sum(), pl.col("share").sum())
               .with_columns(pl.col("abc").cast(pl.Enum(CLASS_ORDER)), pl.col("role").cast(pl.Enum(ROLE_ORDER)))
               .sort("abc", "role").with_columns(pl.col("abc", "role").cast(pl.String)))
    cols = st.columns(4)
    for col, cls in zip(cols, CLASS_ORDER):
        part = summary.filter(pl.col("abc") == cls)
        col.metric(f"Class {cls}", f"{part['skus'].sum():,} SKUs", border=True,
                   delta=None if cls == "U" else f"{(part['share'].sum() or 0):.1%} of revenue", delta_color="off",
                   delta_arrow="off")
    st.caption("A: the SKUs making the first 80% of the range's revenue (largest first), B: the next 15%, "
               "C: the rest, U: no sales in the range. Roles: best seller = A; potential = B/C growing ≥ 20% on "
               "the previous period; laggard = U, or C shrinking; steady = the rest.")
    ui.chart(px.bar(summary, x="abc", y="skus", color="role", title="SKUs per class and role",
                    labels={"abc": "class", "skus": "SKUs"},
                    category_orders={"abc": CLASS_ORDER, "role": ROLE_ORDER}), key="pr_classes", height=340)
    ui.table(summary, f"abc_summary_{f.start}_{f.end}", key="pr_summary",
             column_config={"share": st.column_config.NumberColumn(format="percent")})

    st.subheader("Every SKU")
    left, right = st.columns(2)
    classes = left.multiselect("Class", CLASS_ORDER, key="pr_class", placeholder="All classes")
    roles = right.multiselect("Role", ROLE_ORDER, key="pr_role", placeholder="All roles")
    shown = t.filter((pl.col("abc").is_in(classes) if classes else pl.lit(True)) &
                     (pl.col("role").is_in(roles) if roles else pl.lit(True)))
    ui.table(shown, f"abc_{f.start}_{f.end}", key="pr_abc", height=420, xlsx=True,
             column_config={c: st.column_config.NumberColumn(format="percent") for c in ("share", "cum_share")})


render()
