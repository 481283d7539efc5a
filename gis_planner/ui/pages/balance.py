"""Land balance: tables, charts, used/unused, restriction cross-tab, topology, reconciliation, downloads."""
import json

import pandas as pd
import streamlit as st

from gis_planner.report.fmt import fmt_number
from gis_planner.ui import analyses, state
from gis_planner.ui.widgets import lazy_tabs, table

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()


def bars(values, labels, height: int):
    """Horizontal bars of areas (ha) whose axis and tooltips write numbers the local way (``st.bar_chart``
    always writes 2,000 … 24,000): Vega's number locale, a no-break space and a decimal comma in ky/ru."""
    import altair as alt

    title = tr("app.balance.area_ha")
    data = pd.DataFrame({"label": list(labels), "ha": [float(v) for v in values]})
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("ha:Q", title=title, axis=alt.Axis(format=",.0f")),
        y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=320)),
        tooltip=[alt.Tooltip("label:N", title=" "), alt.Tooltip("ha:Q", title=title, format=",.2f")],
    ).properties(height=height)
    if lang in ("ky", "ru"):
        chart = chart.configure(locale=alt.Locale(number=alt.NumberLocale(
            decimal=",", thousands="\u00a0", grouping=[3], currency=["", ""])))
    return chart


st.title(tr("app.page.balance"))
with st.spinner(tr("app.computing")):
    b = analyses.balance(ws)
tabs_data = analyses.balance_tables(ws, lang)

u = b.use_ratio
c1, c2, c3, c4 = st.columns(4)
c1.metric(tr("balance.summary.total_ha"), fmt_number(b.total_ha, lang, 2))
c2.metric(tr("balance.summary.used_pct"), f"{fmt_number(u['used_pct'], lang, 1)} %" if u.get("used_pct") is not None else "—")
c3.metric(tr("balance.summary.restricted_ha"), fmt_number(b.total_ha - b.unrestricted_ha, lang, 2))
c4.metric(tr("balance.summary.parcels"), fmt_number(len(b.parcels), lang, 0))

order = [k for k in ("summary", "by_category", "by_land_type", "state_fund", "use_status", "by_owner", "by_zone",
                     "restricted", "restricted_land_type", "restricted_detail", "reconciliation", "overlaps",
                     "gaps", "outside", "parcels", "parcel_restrictions", "provenance") if k in tabs_data]
# only the open sheet is built and sent (17 grids, the parcel list among them, made every visit slow)
tabs = lazy_tabs([tr(f"balance.sheet.{k}") for k in order], key=f"balance_tab_{lang}")
for key, tab in zip(order, tabs):
    if tab.open is False:
        continue
    with tab:
        df = tabs_data[key]
        if key == "by_category" and len(b.by_category):
            st.altair_chart(bars(b.by_category["area_ha"].to_numpy(),
                                 [state.code_label("land_categories", c, short=True) for c in b.by_category["code"]],
                                 260), width="stretch")
        if key == "use_status" and len(b.use_status):
            st.altair_chart(bars(b.use_status["area_ha"].to_numpy(),
                                 [state.code_label("use_status", c) for c in b.use_status["code"]], 160), width="stretch")
        if key == "restricted" and len(b.restricted):
            st.caption(tr("app.balance.restricted_note"))
        if key == "reconciliation":
            flagged = int(b.reconciliation["flag"].sum()) if "flag" in b.reconciliation else 0
            (st.warning if flagged else st.success)(tr("app.balance.reconciliation", n=flagged))
        if df.empty:
            st.caption(tr("app.empty"))
        else:
            table(df, height=min(600, 38 + 35 * len(df)))

st.subheader(tr("app.downloads"))
d1, d2 = st.columns(2)


# made when clicked (Streamlit runs a callable in its own thread), or already by the warm-up; the bytes are
# kept per data version and language (analyses.balance_xlsx). A download does not rerun the page
# (on_click="ignore"): nothing on it changes.
d1.download_button(tr("app.balance.download_xlsx"), lambda: analyses.balance_xlsx(ws, lang),
                   file_name=f"balance_{lang}.xlsx", on_click="ignore",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="dl_xlsx")
d2.download_button(tr("app.balance.download_json"),
                   lambda: json.dumps(b.to_json(), ensure_ascii=False, indent=1, default=str).encode("utf-8"),
                   file_name="balance.json", mime="application/json", key="dl_json", on_click="ignore")
