"""Short paragraphs that say what the numbers of a subsection mean, as a planner would write them.

Each function takes the :class:`~gis_planner.report.sections.ReportContext` and the section being built
and appends one or more :class:`~gis_planner.report.document.Para` with ``topic`` set to the
subsection (``general``, ``balance`` … ``measures``), so tests and editors can find them. The paragraphs
say what is large, what changed, what conflicts, what the scenario demands and where it goes, and
what is unmet; every number comes from the workspace or the analyses of the context, in the number
format of the language, with counts as whole numbers and their nouns in the agreeing form
(:func:`~gis_planner.report.fmt.count_noun`). A subsection without data gets no paragraph (its
placeholder says what is missing).

The texts are the ``report.narr.*`` keys of ``gis_planner/i18n/report-narr.yaml``.
"""
from __future__ import annotations

import pandas as pd

from ..catalog import catalogue, load_rules
from ..i18n import t
from .document import Para
from .fmt import count_noun, fmt_number, fmt_percent

HA = 10_000.0


def _say(doc, topic: str, key: str, lang: str, join: bool = False, **kw) -> None:
    """Append the sentence(s) ``report.narr.<key>`` as a paragraph, or with ``join`` to the paragraph just
    written on the same topic (so a subsection reads as two or three paragraphs, not a list of lines)."""
    text = t(f"report.narr.{key}", lang, **kw)
    last = doc.blocks[-1] if doc.blocks else None
    if join and isinstance(last, Para) and last.topic == topic:
        last.text = f"{last.text} {text}"
    else:
        doc.blocks.append(Para(text, topic=topic))


def _ha(v, lang: str) -> str:
    return fmt_number(v, lang, 1)


def _label(cat, code, lang: str) -> str:
    return cat.label(code, lang) if code in cat.items else str(code)


# ----------------------------------------------------------------------------- section 6
def general(ctx, doc) -> None:
    """6.1: size, parcels, settlements and where people live."""
    ws, lang, b = ctx.ws, ctx.lang, ctx.balance
    s = ctx.layer("settlements")
    names = ", ".join(str(n) for n in s["name"]) if s is not None and len(s) else "—"
    _say(doc, "general", "general", lang, name=ws.name, total=_ha(b.total_ha, lang),
         parcels=count_noun(int(b.by_category["parcels"].sum()), "parcel", lang),
         settlements=count_noun(0 if s is None else len(s), "settlement", lang), names=names)
    if s is not None and len(s) and "population" in s and s["population"].notna().any():
        pop = pd.to_numeric(s["population"], errors="coerce").fillna(0)
        big = int(pop.idxmax())
        _say(doc, "general", "general_pop", lang, join=True, population=count_noun(pop.sum(), "person", lang),
             big=s.loc[big, "name"], big_pop=count_noun(pop[big], "person", lang),
             big_share=fmt_percent(pop[big] / pop.sum() if pop.sum() else 0, lang))


def balance(ctx, doc) -> None:
    """6.2: the dominant categories and land types, ownership, and the difference to the official balance."""
    ws, lang, b = ctx.ws, ctx.lang, ctx.balance
    cats = catalogue("land_categories", ws)
    bc = b.by_category.sort_values("area_ha", ascending=False)
    if len(bc) >= 2:
        top, second = bc.iloc[0], bc.iloc[1]
        rest = float(bc["area_ha"].iloc[2:].sum())
        _say(doc, "balance", "balance", lang, top=_label(cats, top["code"], lang), top_ha=_ha(top["area_ha"], lang),
             top_share=fmt_percent(top["area_ha"] / b.total_ha, lang), second=_label(cats, second["code"], lang),
             second_ha=_ha(second["area_ha"], lang), second_share=fmt_percent(second["area_ha"] / b.total_ha, lang),
             n_rest=fmt_number(len(bc) - 2, lang, 0), rest_share=fmt_percent(rest / b.total_ha, lang))
    lt = catalogue("land_types", ws)
    types = b.by_land_type
    if len(types):
        known = types[types["code"].isin(list(lt.items))]
        parents = known[[lt.parent(c) is None for c in known["code"]]].sort_values("area_ha", ascending=False)
        if len(parents) >= 2:
            _say(doc, "balance", "land_types", lang, top=_label(lt, parents.iloc[0]["code"], lang),
                 top_ha=_ha(parents.iloc[0]["area_ha"], lang), second=_label(lt, parents.iloc[1]["code"], lang),
                 second_ha=_ha(parents.iloc[1]["area_ha"], lang))
        children = known[[lt.parent(c) is not None for c in known["code"]]].sort_values("area_ha", ascending=False)
        area = known.set_index("code")["area_ha"]
        if len(children):
            child = children.iloc[0]
            parent = lt.parent(child["code"])
            if area.get(parent, 0) > 0:
                _say(doc, "balance", "land_type_part", lang, join=True, parent=_label(lt, parent, lang),
                     child=_label(lt, child["code"], lang), child_ha=_ha(child["area_ha"], lang),
                     share=fmt_percent(child["area_ha"] / area[parent], lang))
    if len(b.by_owner) >= 2:
        ow = catalogue("owner_types", ws)
        o = b.by_owner.sort_values("area_ha", ascending=False)
        _say(doc, "balance", "owners", lang, join=True, top=_label(ow, o.iloc[0]["code"], lang),
             top_share=fmt_percent(o.iloc[0]["share_pct"] / 100.0, lang), second=_label(ow, o.iloc[1]["code"], lang),
             second_share=fmt_percent(o.iloc[1]["share_pct"] / 100.0, lang))
    rec = b.reconciliation
    if len(rec) and "reported_ha" in rec:
        from .sections import _reported_source

        rec = rec[rec["reported_ha"].notna()]
        total = rec[rec["code"] == "total"]
        cats_rec = rec[rec["code"] != "total"]
        if len(total) and len(cats_rec):
            diff = float(total["diff_ha"].iloc[0])
            source = _reported_source(ws) or "—"
            flagged = cats_rec[cats_rec["flag"].astype(bool)]
            if len(flagged):
                worst = cats_rec.loc[cats_rec["diff_ha"].abs().idxmax()]
                _say(doc, "balance", "reconciliation", lang, source=source, diff=fmt_number(abs(diff), lang, 1),
                     dir=t(f"report.narr.{'less' if diff < 0 else 'more'}", lang),
                     diff_pct=fmt_percent(abs(float(total["diff_pct"].iloc[0])) / 100.0, lang, 2),
                     flagged=", ".join(f"«{_label(cats, c, lang)}»" for c in flagged["code"]),
                     cat=_label(cats, worst["code"], lang), cat_diff=fmt_number(worst["diff_ha"], lang, 1))
            else:
                _say(doc, "balance", "reconciliation_ok", lang, source=source, diff=fmt_number(abs(diff), lang, 1))


def zoning(ctx, doc, zones) -> None:
    """6.3: how much of the territory the zoning map covers and which zone is largest."""
    ws, lang = ctx.ws, ctx.lang
    if zones is None or not len(zones):
        return
    rules = load_rules("zoning_rules", ws).get("zones", {})
    areas = zones.geometry.area.groupby(zones["zone_code"]).sum().sort_values(ascending=False) / HA
    zoned = float(areas.sum())
    top = areas.index[0]
    _say(doc, "zoning", "zoning", lang, zones=count_noun(len(zones), "zone", lang), zoned=_ha(zoned, lang),
         zoned_share=fmt_percent(zoned / ctx.balance.total_ha if ctx.balance.total_ha else 0, lang),
         n_types=fmt_number(len(areas), lang, 0), top=(rules.get(top, {}).get("names") or {}).get(lang, top),
         top_ha=_ha(areas.iloc[0], lang), top_share=fmt_percent(areas.iloc[0] / zoned if zoned else 0, lang))


def restrictions(ctx, doc) -> None:
    """6.4: the regime that covers most land, and what it means for the largest category."""
    lang, b = ctx.lang, ctx.balance
    rt = b.restricted
    kinds = [c for c in rt.columns if c not in ("any", "unrestricted", "total")]
    if not len(rt) or not kinds or "any" not in rt:
        return
    by_kind = rt[kinds].sum().sort_values(ascending=False)
    if by_kind.iloc[0] <= 0:
        return
    cats = catalogue("land_categories", ctx.ws)
    big = b.by_category.sort_values("area_ha", ascending=False).iloc[0]["code"]
    row = rt.loc[big]
    main = row[kinds].astype(float).idxmax()
    _say(doc, "restrictions", "restrictions", lang, kind=t(f"report.kind.{by_kind.index[0]}", lang),
         kind_ha=_ha(by_kind.iloc[0], lang), cat=_label(cats, big, lang), cat_ha=_ha(row["any"], lang),
         cat_share=fmt_percent(row["any"] / row["total"] if row["total"] else 0, lang),
         cat_kind=t(f"report.kind.{main}", lang), cat_kind_ha=_ha(row[main], lang))


def conflicts(ctx, doc, summary, restriction_text) -> None:
    """6.5: how many parcels conflict with a regime, and the largest conflict."""
    c, lang = ctx.conflicts, ctx.lang
    if c is None or not len(c) or summary is None or not len(summary):
        return
    lu = catalogue("land_uses", ctx.ws)
    top = summary.iloc[0]
    regimes = c.assign(subtype=c["subtype"].fillna("").astype(str))[["kind", "subtype"]].drop_duplicates()
    _say(doc, "conflicts", "conflicts", lang, parcels=count_noun(c["cadastral_no"].nunique(), "parcel_loc", lang),
         area=_ha(float(c["conflict_area_ha"].sum()), lang), n_regimes=fmt_number(len(regimes), lang, 0),
         top_restriction=restriction_text(top["kind"], top["subtype"], lang),
         top_use=_label(lu, top["land_use"], lang), top_area=_ha(top["conflict_area_ha"], lang),
         top_parcels=count_noun(int(top["parcels"]), "parcel_loc", lang), file=f"conflicts_{lang}.xlsx")


def programmes(ctx, doc, rows) -> None:
    """6.6: the programmes that touch the territory, with what they build where."""
    lang = ctx.lang
    if not rows:
        return
    items = "; ".join(f"{name} ({years})" + (f": {spatial}" if spatial else "") for name, years, _body, spatial in rows)
    _say(doc, "programmes", "programmes", lang, n=count_noun(len(rows), "programme_gen", lang), items=items)


def scenario(ctx, doc) -> None:
    """6.6: what the growth scenario demands, where the land is found, what stays unmet and what changes."""
    lang, r = ctx.lang, ctx.scenario
    d = r.demand
    pop = {int(k): int(v) for k, v in (d.population or {}).items()}
    y0, y1 = int(d.base_year), int(d.horizon_year)
    if y0 in pop and y1 in pop:
        growth = pop[y1] - pop[y0]
        _say(doc, "scenario", "scenario_grow" if growth >= 0 else "scenario_decline", lang,
             y0=y0, y1=y1, p0=fmt_number(pop[y0], lang, 0),
             p1=fmt_number(pop[y1], lang, 0), p1_noun=count_noun(pop[y1], "person_gen", lang),
             growth=fmt_number(abs(growth), lang, 0) if growth >= 0 else fmt_number(growth, lang, 0))
    summ = r.allocation.summary.set_index("use")
    v = getattr(r.allocation, "villages", None)
    if "housing" in summ.index:
        h = summ.loc["housing"]
        social = summ.loc["social_facility"] if "social_facility" in summ.index else None
        vh = v[v["use"] == "housing"] if v is not None and len(v) else pd.DataFrame()
        if len(vh):
            where = vh.sort_values("allocated", ascending=False, kind="stable").iloc[0]
            _say(doc, "scenario", "scenario_demand", lang, join=True, plots=count_noun(h["demand"], "house_plot", lang),
                 social_ha=_ha(float(social["demand"]) if social is not None else 0.0, lang),
                 alloc=count_noun(h["allocated"], "house_plot_gen" if lang == "ru" else "house_plot", lang),
                 alloc_n=fmt_number(h["allocated"], lang, 0), village=where["village"],
                 village_plots=count_noun(where["allocated"], "house_plot", lang))
            if float(h["unmet"]) > 0:
                short = vh.sort_values("unmet", ascending=False, kind="stable").iloc[0]
                _say(doc, "scenario", "scenario_unmet", lang, join=True,
                     unmet=count_noun(h["unmet"], "house_plot_gen" if lang == "ru" else "house_plot", lang),
                     village=short["village"], village_plots=count_noun(short["unmet"], "house_plot", lang))
            else:
                _say(doc, "scenario", "scenario_all_placed", lang, join=True)
        if social is not None and float(social["unmet"]) > 0.005:
            _say(doc, "scenario", "scenario_social_unmet", lang, join=True, ha=fmt_number(social["unmet"], lang, 2))
    tr = r.consequences.transformations
    if tr is not None and len(tr):
        cats = catalogue("land_categories", ctx.ws)
        moves = tr.groupby(["current_category", "target_category"])["area_ha"].sum().sort_values(ascending=False)
        (cur, target), main = moves.index[0], float(moves.iloc[0])
        _say(doc, "scenario", "transformations", lang, parcels=count_noun(tr["cadastral_no"].nunique(), "parcel_gen", lang),
             area=_ha(float(tr["area_ha"].sum()), lang), cat=_label(cats, cur, lang), target=_label(cats, target, lang),
             main_area=_ha(main, lang))


def queue(ctx, doc, entry: dict, source: str) -> None:
    """6.7: the housing queue and the land it needs at the plot norm."""
    lang = ctx.lang
    n = int(entry["households"])
    plot = float(load_rules("scenario_norms", ctx.ws)["housing"]["plot_size_ha"]["value"])
    _say(doc, "land_needs", "queue", lang, households=count_noun(n, "household", lang), source=source,
         plot=fmt_number(plot, lang, 2), ha=_ha(n * plot, lang))


def lengths(ctx, doc, layer: str, field: str, label_prefix: str) -> None:
    """6.8: kilometres of roads (or utility lines) and the type that makes up most of them."""
    lang = ctx.lang
    lines = ctx.layer(layer)
    if lines is None or not len(lines):
        return
    kind = lines[field].fillna("").astype(str) if field in lines else pd.Series("", index=lines.index)
    km = (lines.geometry.length / 1000.0).groupby(kind).sum().sort_values(ascending=False)
    total = float(km.sum())
    top = t(f"{label_prefix}.{km.index[0]}", lang) if km.index[0] else "—"
    _say(doc, "infrastructure", "roads" if layer == "roads" else "lines", lang, km=_ha(total, lang), top=top,
         top_km=_ha(km.iloc[0], lang), top_share=fmt_percent(km.iloc[0] / total if total else 0, lang))


# ----------------------------------------------------------------------------- section 7
def land(ctx, doc) -> None:
    """7.1: pastures, forest and unused land (a reserve) as shares of the territory, and the main pasture class."""
    lang, b = ctx.lang, ctx.balance
    if not b.total_ha:
        return
    unused = float(b.use_status.set_index("code")["area_ha"].get("unused", 0.0))
    pasture = float(b.by_land_type.set_index("code")["area_ha"].get("pasture", 0.0)) if len(b.by_land_type) else 0.0
    forest = float(b.by_category.set_index("code")["area_ha"].get("forest_fund", 0.0))
    _say(doc, "land", "land", lang, pasture=_ha(pasture, lang), pasture_share=fmt_percent(pasture / b.total_ha, lang),
         forest=_ha(forest, lang), unused=_ha(unused, lang), share=fmt_percent(unused / b.total_ha, lang))
    parcels = ctx.layer("parcels")
    if parcels is not None and "pasture_class" in parcels and (parcels["land_type"] == "pasture").any():
        p = parcels[(parcels["land_type"] == "pasture") & parcels["pasture_class"].notna()]
        if len(p):
            pc = catalogue("land_types.pasture_classes", ctx.ws)
            areas = (p.geometry.area / HA).groupby(p["pasture_class"]).sum().sort_values(ascending=False)
            all_pasture = float(parcels.loc[parcels["land_type"] == "pasture"].geometry.area.sum()) / HA
            _say(doc, "land", "pasture_classes", lang, join=True, top=_label(pc, areas.index[0], lang),
                 top_ha=_ha(areas.iloc[0], lang), top_share=fmt_percent(areas.iloc[0] / all_pasture, lang))


def water(ctx, doc) -> None:
    """7.2: the largest water body (and how much of it is inside the municipality), and the watercourses."""
    import shapely

    from ..zoning.areas import boundary_geometry

    lang = ctx.lang
    w = ctx.layer("water_bodies")
    if w is None or not len(w):
        return
    inside = boundary_geometry(ctx.ws)
    geoms = w.geometry.values
    poly = w.geometry.geom_type.str.endswith("Polygon").to_numpy()
    clipped = shapely.intersection(geoms, inside) if inside is not None else geoms
    km = float(shapely.length(clipped[~poly]).sum()) / 1000.0
    fund = float(ctx.balance.by_category.set_index("code")["area_ha"].get("water_fund", 0.0))
    if not poly.any():
        return
    areas = shapely.area(geoms) / HA
    k = int(pd.Series(areas).where(poly).idxmax())
    row = w.iloc[k]
    wtype = str(row.get("water_type") or "")
    kw = dict(name=row.get("name") or "—", type=t(f"report.water.{wtype}", lang).lower() if wtype else "—",
              area=_ha(areas[k], lang), fund=_ha(fund, lang), km=_ha(km, lang))
    inside_ha = float(shapely.area(clipped[k])) / HA
    if inside_ha < 0.005 * areas[k]:
        shore = float(shapely.length(shapely.intersection(geoms[k].boundary, inside))) / 1000.0 if inside is not None else 0.0
        _say(doc, "water", "water_outside", lang, shore=_ha(shore, lang), **kw)
    elif inside_ha < 0.995 * areas[k]:
        _say(doc, "water", "water_part", lang, inside=_ha(inside_ha, lang), **kw)
    else:
        _say(doc, "water", "water_whole", lang, **kw)


def glaciers(ctx, doc, g) -> None:
    lang = ctx.lang
    areas = g.geometry.area / HA
    k = int(areas.values.argmax())
    name = g.iloc[k].get("name") if "name" in g else None
    _say(doc, "glaciers", "glaciers", lang, n=count_noun(len(g), "glacier", lang), area=_ha(float(areas.sum()), lang),
         top=name or "—", top_area=_ha(float(areas.iloc[k]), lang))


def ecosystems(ctx, doc, rows, pa_area) -> None:
    """7.3: the largest natural ecosystem and the protected areas inside the municipality."""
    lang, total = ctx.lang, ctx.balance.total_ha
    if rows and total:
        top = max(rows, key=lambda r: r[1])
        if top[1] > 0:
            _say(doc, "ecosystems", "ecosystems", lang, top=top[0], top_ha=_ha(top[1], lang),
                 top_share=fmt_percent(top[1] / total, lang))
    if pa_area is not None and len(pa_area):
        ha = float(sum(pa_area))
        _say(doc, "ecosystems", "protected", lang, join=True, n=count_noun(len(pa_area), "protected_area", lang), ha=_ha(ha, lang),
             share=fmt_percent(ha / total if total else 0, lang))


def pasture_load(ctx, p: dict) -> str:
    """7.3: the load of the pastures against their capacity (the text; the caller cites the source)."""
    lang = ctx.lang
    units, capacity = float(p["livestock_units"]), float(p["capacity_units"])
    load = 100.0 * units / capacity
    over = round(load) - 100
    return t(f"report.narr.{'pasture_over' if over > 0 else 'pasture_within'}", lang,
             units=count_noun(units, "livestock_unit", lang), capacity=count_noun(capacity, "livestock_unit", lang),
             load=fmt_number(load, lang, 0), over=fmt_number(over, lang, 0),
             degraded=fmt_number(p.get("degraded_ha") or 0, lang, 0))


def hazards(ctx, doc) -> None:
    """7.4: the official hazard zones, what is exposed in the high ones, relocation, and computed zones."""
    lang = ctx.lang
    hc = ctx.hazard_compare
    if hc is None or not len(hc):
        return
    off = hc.groupby("hazard_type")["official_ha"].sum().sort_values(ascending=False)
    if off.iloc[0] > 0:
        top = off.index[0]
        high = float(hc[(hc["hazard_type"] == top) & (hc["level"] == "high")]["official_ha"].sum())
        _say(doc, "hazards", "hazards", lang, ha=_ha(float(off.sum()), lang), top=t(f"report.hazard.{top}", lang),
             top_ha=_ha(off.iloc[0], lang), top_high=_ha(high, lang))
    if "computed_ha" in hc and float(hc["computed_ha"].fillna(0).sum()) == 0.0:
        _say(doc, "hazards", "no_computed", lang, join=True)
    ex = ctx.exposure
    if ex is not None and len(ex):
        hi = ex[ex["level"] == "high"]
        if len(hi):
            total = lambda col: int(pd.to_numeric(hi[col], errors="coerce").fillna(0).sum()) if col in hi else 0
            _say(doc, "hazards", "exposure", lang, parcels=count_noun(total("parcels"), "parcel", lang),
                 house=count_noun(total("house_plots"), "house_plot", lang),
                 buildings=count_noun(total("buildings"), "building", lang),
                 residents=count_noun(total("residents"), "resident", lang),
                 roads=_ha(float(pd.to_numeric(hi.get("roads_km"), errors="coerce").fillna(0).sum()), lang))
    rel = ctx.relocation
    if rel is not None and len(rel):
        hh = int(pd.to_numeric(rel.get("households"), errors="coerce").fillna(0).sum())
        _say(doc, "hazards", "relocation", lang, join=True, n=count_noun(len(rel), "parcel", lang),
             households=count_noun(hh, "household", lang))


def waste_sites(ctx, doc, waste) -> None:
    """7.6: the waste sites by type."""
    lang = ctx.lang
    kinds = waste["site_type"].astype(str).value_counts()
    items = ", ".join(f"{t(f'report.waste.{k}', lang)} ({fmt_number(n, lang, 0)})" for k, n in kinds.items())
    _say(doc, "waste", "waste_sites", lang, n=count_noun(len(waste), "waste_site", lang), items=items)


def waste_coverage(ctx, doc, w: dict) -> None:
    """7.6: the households waste collection does not reach (from the coverage and the settlements)."""
    lang = ctx.lang
    s = ctx.layer("settlements")
    if s is None or "households" not in s:
        return
    hh = float(pd.to_numeric(s["households"], errors="coerce").fillna(0).sum())
    uncovered = 100.0 - float(w["coverage_pct"])
    if hh <= 0 or uncovered <= 0:
        return
    _say(doc, "waste", "waste_uncovered", lang, uncovered=fmt_number(uncovered, lang, 0),
         households=count_noun(round(hh * uncovered / 100.0), "household", lang))


def problems(ctx, doc) -> None:
    """7.6: what residents raised, and the most supported problem."""
    lang, pr = ctx.lang, ctx.problems
    if pr is None or not len(pr):
        return
    votes = pd.to_numeric(pr["votes"], errors="coerce").fillna(0)
    k = votes.idxmax()
    top = pr.loc[k]
    _say(doc, "waste", "problems", lang, n=count_noun(len(pr), "problem_acc", lang), title=top.get("title") or "—",
         village=top.get("village") or "—", votes=count_noun(int(votes[k]), "vote", lang))


def measures(ctx, doc, rows) -> None:
    """7.9: how many measures were chosen, how many have a plan and what they cost."""
    lang = ctx.lang
    if not rows:
        return
    planned = [r for r in rows if all(x not in (None, "") for x in r[2:])]
    cost = sum(float(r[3]) for r in planned)
    n = count_noun(len(rows), "measure_acc", lang)
    if not planned:
        _say(doc, "measures", "measures_none", lang, n=n)
    elif len(planned) == len(rows):
        _say(doc, "measures", "measures_all", lang, n=n, cost=fmt_number(cost, lang, 1))
    else:
        _say(doc, "measures", "measures", lang, n=n, planned=count_noun(len(planned), "measure_gen", lang),
             cost=fmt_number(cost, lang, 1), n_open=fmt_number(len(rows) - len(planned), lang, 0))
