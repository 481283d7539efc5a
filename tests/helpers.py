"""Hand-computable test geometry in Kyrg-06 zone 4 (EPSG:7695)."""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry import box

CRS = 7695
X0, Y0 = 4_300_000.0, 4_720_000.0  # a point on the north shore of Issyk-Kul in zone 4


def square(x, y, size):
    """Axis-aligned square with lower-left corner (X0+x, Y0+y) and side ``size`` metres."""
    return box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size)


def rect(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def gdf(records, geoms, crs=CRS):
    return gpd.GeoDataFrame(records, geometry=list(geoms), crs=crs)


def stop_process(proc, timeout: float = 10.0) -> None:
    """Terminate a server subprocess started by a test (kill it if it does not stop in ``timeout`` s)."""
    import subprocess

    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def leaked_words(ws, docs, lang: str, extra=()) -> set:
    """Catalogue codes (land categories, types, uses, activities, hazards, community categories …) and English
    code words (``extra``) that appear as words in the body of report ``docs`` (headings, paragraphs, table
    captions, headers and cells, figure captions; annexes, which list files, left out)."""
    import re

    from gis_planner.catalog import load_rules
    from gis_planner.report.document import Figure, Heading, Para, Table

    codes = set()
    for name in ("land_categories", "land_types", "land_uses", "activities", "use_status", "owner_types",
                 "hazards", "community_categories", "adaptation_measures"):
        codes |= {c for c in (load_rules(name, ws).get("items") or {}) if len(c) > 3}
    words = codes | {"problem", "unknown", "plots", "hectare", "parcel", "screening", "official", "computed"} | set(extra)
    texts = []
    for b in (b for d in docs if not d.annex for b in d.blocks):
        if isinstance(b, (Heading, Para)):
            texts.append(b.text)
        elif isinstance(b, Table):
            texts += [b.caption, *map(str, b.columns)]
            texts += [b.cell_text(v, j, lang) for row in b.rows for j, v in enumerate(row)]
        elif isinstance(b, Figure):
            texts.append(b.caption)
    body = "\n".join(texts)
    return {w for w in words if re.search(rf"(?<![\w/.-]){re.escape(w)}(?![\w/.-])", body)}
