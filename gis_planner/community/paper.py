"""Paper base maps for community mapping sessions (A3/A2 PDF + PNG a group can draw on).

Around a table, a working group draws with markers on a printed map. :func:`basemap` prints one for a session:
the hillshade of the workspace DEM, streets (``roads``), houses (``buildings``) and parcels where known, water,
the boundary, settlement names, a lettered/numbered grid with metre coordinates (Kyrg-06, the workspace CRS)
at the frame, a legend, north arrow, scale bar and a round printed scale (1:2000, 1:5000 …), and a title with
village, session and date in Kyrgyz or Russian.

Four **corner marks** (black squares with a white centre holding 1–4 dots: NW 1, NE 2, SE 3, SW 4) sit at
known map coordinates inside the frame corners. A photo of the drawn map can be georeferenced from them
automatically (:func:`gis_planner.community.georef.detect_marks`), or from grid crossings clicked by hand.

Beside the PDF/PNG, a JSON *sheet* file records the CRS, extent, scale, the marks' coordinates and the
map → PNG pixel transform; a copy is kept in ``<workspace>/community_media/sheets/`` so the app can find the
marks of the sheet a photo shows.

User text (village names, labels from the layers) is printed literally: ``$`` never starts matplotlib's
math mode (:func:`plain`).

>>> plain("10$ and 20$")
'10\\\\$ and 20\\\\$'
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import load_rules
from ..errors import GisPlannerError
from ..i18n import check_lang, t
from ..text import normalize_key

MEDIA_DIR = "community_media"
CORNERS = ("NW", "NE", "SE", "SW")  # mark numbers 1..4 in this order
# dot offsets (in units of dot spacing) inside the white centre of mark 1..4
DOTS = {1: [(0, 0)], 2: [(-1, 1), (1, -1)], 3: [(-1, -1), (1, -1), (0, 1)], 4: [(-1, -1), (1, -1), (-1, 1), (1, 1)]}


def plain(text: Any) -> str:
    """Text for matplotlib printed as is: ``$`` escaped so it never starts math mode."""
    return "" if text is None else str(text).replace("$", r"\$")


def paper_rules(ws: Any = None) -> dict:
    """``layers/community_paper.yaml`` (with the workspace's override)."""
    return load_rules("community_paper", ws)


@dataclass
class Sheet:
    """A printed base map: where it is, at what scale, and where its corner marks are (workspace CRS)."""

    sheet_id: str
    crs: str
    extent: tuple[float, float, float, float]
    scale: int
    size: str
    paper_mm: tuple[float, float]
    frame_mm: tuple[float, float, float, float]  # left, bottom, right, top of the map frame on the sheet
    grid_m: float
    marks: list[dict] = field(default_factory=list)  # id, corner, x, y (mark centres)
    png_dpi: int = 150
    # map (x, y) → PNG pixel (col, row): col = a * x + c, row = e * y + f
    png_affine: tuple[float, float, float, float] = (1.0, 0.0, -1.0, 0.0)
    png_size: tuple[int, int] = (0, 0)
    session_id: int | None = None
    village: str | None = None
    lang: str = "ky"
    created: str = ""
    files: dict = field(default_factory=dict)

    def map_to_png(self, x, y):
        a, c, e, f = self.png_affine
        return np.asarray(x) * a + c, np.asarray(y) * e + f

    def png_to_map(self, col, row):
        a, c, e, f = self.png_affine
        return (np.asarray(col) - c) / a, (np.asarray(row) - f) / e

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path) -> "Sheet":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for k in ("extent", "paper_mm", "frame_mm", "png_affine", "png_size"):
            data[k] = tuple(data[k])
        return cls(**data)


# --------------------------------------------------------------------------- extent and scale
def _village_geometry(ws, village: str):
    try:
        st = ws.read_layer("settlements", missing_ok=True)
    except GisPlannerError:
        return None
    if st is None or st.empty:
        return None
    key = normalize_key(village)
    for col in ("name", "name_ru", "name_ky"):
        if col in st.columns:
            hit = st[[normalize_key(v) == key for v in st[col]]]
            if len(hit):
                return hit.to_crs(ws.crs).geometry.union_all()
    return None


def area_of_interest(ws, *, store=None, session_id: int | None = None, village: str | None = None,
                     bounds=None) -> tuple[float, float, float, float]:
    """The extent to print (workspace CRS): ``bounds``; else the session's village (``village`` or the session's)
    in the ``settlements`` layer — streets and houses at a scale people can draw on; else the session's
    features; else the workspace boundary. A wider area (pastures) is printed with ``bounds``/``scale``."""
    if bounds is not None:
        return tuple(float(v) for v in bounds)
    geoms = []
    if store is not None and session_id is not None:
        village = village or store.get_session(session_id).get("village")
    if village:
        g = _village_geometry(ws, village)
        if g is not None:
            geoms.append(g)
    if not geoms and store is not None and session_id is not None:
        feats = store.features(session_id=session_id)
        if len(feats):
            geoms.append(feats.to_crs(ws.crs).geometry.union_all())
    if not geoms:
        b = ws.read_layer("boundary", missing_ok=True)
        if b is None or b.empty:
            raise GisPlannerError("nothing to centre the base map on", file=str(ws.root),
                                  fix="give a session with features, a village in the settlements layer or bounds",
                                  code="no_extent")
        return tuple(float(v) for v in b.to_crs(ws.crs).total_bounds)
    import shapely

    return tuple(float(v) for v in shapely.union_all(geoms).bounds)


def _choose(values, need):
    for v in values:
        if v >= need:
            return v
    return values[-1]


# --------------------------------------------------------------------------- printing
def basemap(ws, out, *, store=None, session_id: int | None = None, village: str | None = None,
            size: str = "A3", lang: str | None = None, bounds=None, scale: int | None = None,
            date: str | None = None, png: bool = True, keep_sheet: bool = True) -> Sheet:
    """Print the session base map to ``out`` (``.pdf`` or ``.png``; with ``png=True`` a PNG copy is written
    beside a PDF) and the sheet description ``out.json``; returns the :class:`Sheet`.

    The extent comes from :func:`area_of_interest`; the scale is the smallest round scale of
    ``layers/community_paper.yaml`` at which it fits the frame (or ``scale``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    lang = check_lang(lang)
    rules = paper_rules(ws)
    sizes = {k.upper(): v for k, v in (rules.get("paper_mm") or {}).items()}
    size = str(size).upper()
    if size not in sizes:
        raise GisPlannerError(f"unknown paper size '{size}'", fix=f"use one of {', '.join(sizes)}",
                              code="bad_option")
    if ws.crs is None:
        raise GisPlannerError("the workspace has no CRS", file=str(ws.root), fix="set the workspace CRS",
                              code="missing_crs")
    out = Path(out)
    if out.suffix.lower() not in (".pdf", ".png"):
        raise GisPlannerError(f"cannot print to '{out.suffix}'", file=str(out), fix="use a .pdf or .png file name",
                              code="bad_format")
    W, H = (float(v) for v in sizes[size])
    mg = rules.get("margins_mm") or {}
    left, right, top, bottom = (float(mg.get(k, d)) for k, d in (("left", 16), ("right", 70), ("top", 24),
                                                                  ("bottom", 16)))
    fw, fh = W - left - right, H - top - bottom
    session = store.get_session(session_id) if (store is not None and session_id is not None) else None
    if session is not None:
        village = village or session.get("village")
    minx, miny, maxx, maxy = area_of_interest(ws, store=store, session_id=session_id, village=village,
                                              bounds=bounds)
    pad = float(rules.get("pad_m", 150))
    half = float(rules.get("min_half_size_m", 300))
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    need_w = max(maxx - minx + 2 * pad, 2 * half)
    need_h = max(maxy - miny + 2 * pad, 2 * half)
    need = max(need_w / (fw / 1000), need_h / (fh / 1000))
    scale = int(scale or _choose([int(s) for s in rules.get("scales") or [5000]], need))
    gw, gh = fw / 1000 * scale, fh / 1000 * scale
    x0, x1, y0, y1 = cx - gw / 2, cx + gw / 2, cy - gh / 2, cy + gh / 2
    # the spacing nearest (in ratio) to `grid_cells` cells across
    want = gw / float(rules.get("grid_cells", 8))
    grid = min((float(s) for s in rules.get("grid_spacings_m") or [100]), key=lambda s: abs(math.log(s / want)))
    # snap the extent to whole metres so the printed coordinates are exact
    x0, y0 = math.floor(x0), math.floor(y0)
    x1, y1 = x0 + gw, y0 + gh
    dpi = int(rules.get("png_dpi", 150))

    fig = plt.figure(figsize=(W / 25.4, H / 25.4), dpi=dpi)
    # geopandas redraws the whole figure after every layer (canvas.draw_idle): once at the end is enough
    fig.canvas.draw_idle = lambda *a, **k: None
    ax = fig.add_axes((left / W, bottom / H, fw / W, fh / H))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_linewidth(1.2)
    bbox = (x0, y0, x1, y1)
    _draw_terrain(ax, ws, bbox, float(rules.get("hillshade_alpha", 0.45)))
    handles = _draw_layers(ax, ws, bbox, lang)
    ax.set_xlabel("")
    ax.set_ylabel("")
    _draw_grid(fig, ax, bbox, grid, W, H, left, bottom, fw, fh)
    m_per_mm = scale / 1000.0
    marks = _draw_marks(ax, bbox, rules.get("fiducial") or {}, m_per_mm)
    # ---- margin: title, legend, scale, north arrow, notes
    title = t("paper.title", lang)
    parts = [plain(village)] if village else []
    if session is not None:
        groups = load_rules("community_categories", ws).get("participant_groups") or {}
        gname = ((groups.get(session["participant_group"]) or {}).get("names") or {}).get(lang, "")
        parts.append(t("paper.session", lang, id=session_id, group=plain(gname)))
    day = date or (session or {}).get("date") or _dt.date.today().isoformat()
    parts.append(plain(day))
    fig.text(left / W, 1 - 9 / H, plain(title), fontsize=18, fontweight="bold", va="center")
    fig.text(left / W, 1 - 17 / H, " · ".join(parts), fontsize=12, va="center")
    lx = (W - right + 6) / W
    fig.text(lx, 1 - top / H, t("community.legend", lang), fontsize=11, fontweight="bold", va="top")
    leg = fig.add_axes(((W - right + 5) / W, (H - top - 120) / H, (right - 8) / W, 112 / H))
    leg.axis("off")
    if handles:
        leg.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, borderaxespad=0)
    # scale text and bar (mm on paper → metres)
    bar_m = _nice(min(fw / 4, right - 16) * m_per_mm)
    bar_mm = bar_m / m_per_mm
    sy = (bottom + 36) / H
    fig.text(lx, sy + 14 / H, t("paper.scale", lang, scale=f"{scale:,}".replace(",", " ")), fontsize=11,
             fontweight="bold")
    sb = fig.add_axes((lx, sy, bar_mm / W, 5 / H))
    sb.set_xlim(0, bar_m)
    sb.set_ylim(0, 1)
    sb.axis("off")
    for i in range(4):
        sb.add_patch(Rectangle((i * bar_m / 4, 0.55), bar_m / 4, 0.35, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6))
    for v in (0, bar_m / 2, bar_m):
        sb.text(v, 0.0, t("community.unit_m", lang, n=f"{v:g}"), ha="center", va="bottom", fontsize=6)
    # north arrow (grid north of the workspace CRS)
    na = fig.add_axes(((W - right + 6) / W, (bottom + 58) / H, 12 / W, 22 / H))
    na.axis("off")
    na.annotate("", xy=(0.5, 0.95), xytext=(0.5, 0.25), arrowprops=dict(arrowstyle="-|>", lw=2, color="black",
                                                                       mutation_scale=18))
    na.text(0.5, 0.05, t("community.north", lang), ha="center", va="bottom", fontsize=12, fontweight="bold")
    epsg = ws.crs.to_epsg()
    crs_text = f"EPSG:{epsg}" if epsg else ws.crs.to_string()
    chars = max(20, int((right - 8) / 1.9))  # characters of 7 pt text per line of the margin
    fig.text(lx, (bottom + 26) / H, textwrap.fill(t("paper.grid_note", lang, grid=f"{grid:g}", crs=crs_text), chars),
             fontsize=7, va="top")
    fig.text(lx, (bottom + 12) / H, textwrap.fill(t("paper.marks_note", lang), chars), fontsize=7, va="top")
    # lines to fill in by hand
    ny = (H - top - 128) / H
    fig.text(lx, ny, t("paper.fill_in", lang), fontsize=8, va="top", linespacing=2.2)
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sheet_id = hashlib.sha1(f"{ws.root}|{session_id}|{bbox}|{scale}|{size}|{created}".encode()).hexdigest()[:10]
    fig.text(left / W, 5 / H, plain(t("paper.footer", lang, sheet=sheet_id, date=created[:10],
                                      source=_sources(ws))), fontsize=6, va="bottom")
    # map → PNG pixel transform (the axes box at the PNG dpi; the figure is saved without cropping)
    fig.canvas.draw()
    (c0, r0b), (c1, r1b) = ax.transData.transform([(x0, y0), (x1, y1)])
    width_px, height_px = fig.canvas.get_width_height()  # whole pixels, as the PNG is written
    a = (c1 - c0) / (x1 - x0)
    c = c0 - a * x0
    # display y grows upwards; PNG rows grow downwards
    e = -(r1b - r0b) / (y1 - y0)
    f = (height_px - r0b) - e * y0
    sheet = Sheet(sheet_id=sheet_id, crs=crs_text, extent=(x0, y0, x1, y1), scale=scale, size=size,
                  paper_mm=(W, H), frame_mm=(left, bottom, W - right, H - top), grid_m=grid, marks=marks,
                  png_dpi=dpi, png_affine=(float(a), float(c), float(e), float(f)),
                  png_size=(int(width_px), int(height_px)),
                  session_id=session_id, village=village, lang=lang, created=created)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = {}
    if out.suffix.lower() == ".pdf":
        fig.savefig(out, format="pdf")
        files["pdf"] = str(out)
    if png or out.suffix.lower() == ".png":
        png_path = out if out.suffix.lower() == ".png" else out.with_suffix(".png")
        fig.savefig(png_path, dpi=dpi)
        files["png"] = str(png_path)
    plt.close(fig)
    sheet.files = files
    out.with_suffix(".json").write_text(sheet.to_json(), encoding="utf-8")
    if keep_sheet:
        try:
            d = Path(ws.root) / MEDIA_DIR / "sheets"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{sheet_id}.json").write_text(sheet.to_json(), encoding="utf-8")
        except OSError:  # a read-only workspace: the JSON beside the print still describes the sheet
            pass
    return sheet


def sheets(ws, session_id: int | None = None) -> list[Sheet]:
    """Sheets printed for the workspace (newest first), optionally of one session."""
    d = Path(ws.root) / MEDIA_DIR / "sheets"
    out = []
    for p in sorted(d.glob("*.json")) if d.exists() else []:
        try:
            s = Sheet.load(p)
        except (ValueError, TypeError, KeyError):
            continue
        if session_id is None or s.session_id == session_id:
            out.append(s)
    return sorted(out, key=lambda s: s.created, reverse=True)


def _sources(ws) -> str:
    names = []
    for layer in ("roads", "buildings", "parcels", "settlements"):
        try:
            prov = ws.provenance(layer)
        except Exception:  # noqa: BLE001 - a layer without provenance is simply not named
            continue
        if isinstance(prov, dict) and prov.get("source"):
            names.append(f"{layer}: {prov['source']}")
    if ws.dem_path is not None:
        names.append("DEM: " + ws.dem_path.name)
    return "; ".join(names)[:300]


def _nice(m: float) -> float:
    if m <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(m))
    for f in (5, 2, 1):
        if f * exp <= m:
            return f * exp
    return exp


def _draw_terrain(ax, ws, bbox, alpha) -> None:
    from ..basemap import hillshade, read_dem

    try:
        dem = read_dem(ws, dst_crs=ws.crs)
    except Exception:  # noqa: BLE001 - an unreadable DEM leaves the sheet without terrain, said in the footer
        dem = None
    if dem is None:
        return
    z, (l, b, r, tp), _crs, (rx, ry) = dem
    x0, y0, x1, y1 = bbox
    # the DEM window of the sheet, a margin of one cell
    c0 = max(0, int((x0 - l) / rx) - 1)
    c1 = min(z.shape[1], int(math.ceil((x1 - l) / rx)) + 1)
    r0 = max(0, int((tp - y1) / ry) - 1)
    r1 = min(z.shape[0], int(math.ceil((tp - y0) / ry)) + 1)
    if c1 <= c0 or r1 <= r0:
        return
    hs = hillshade(z[r0:r1, c0:c1], rx, ry)
    ax.imshow(hs, cmap="gray", vmin=0, vmax=1, alpha=alpha, interpolation="bilinear", zorder=0,
              extent=(l + c0 * rx, l + c1 * rx, tp - r1 * ry, tp - r0 * ry))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _read(ws, name, bbox):
    try:
        g = ws.read_layer(name, missing_ok=True)
    except GisPlannerError:
        return None
    if g is None or g.empty:
        return None
    g = g.to_crs(ws.crs) if g.crs is not None and g.crs != ws.crs else g
    return g.cx[bbox[0]:bbox[2], bbox[1]:bbox[3]]


def _draw_layers(ax, ws, bbox, lang) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    parcels = _read(ws, "parcels", bbox)
    if parcels is not None and len(parcels):
        parcels.boundary.plot(ax=ax, color="#9e9e9e", linewidth=0.25, zorder=1)
        handles.append(Patch(facecolor="none", edgecolor="#9e9e9e", linewidth=0.5, label=t("paper.parcels", lang)))
    water = _read(ws, "water_bodies", bbox)
    if water is not None and len(water):
        polys = water[water.geom_type.str.contains("Polygon")]
        lines = water[~water.geom_type.str.contains("Polygon")]
        if len(polys):
            polys.plot(ax=ax, facecolor="#b3e5fc", edgecolor="#0288d1", linewidth=0.5, zorder=2)
        if len(lines):
            lines.plot(ax=ax, color="#0288d1", linewidth=1.2, zorder=2)
        handles.append(Line2D([0], [0], color="#0288d1", linewidth=1.5, label=t("paper.water", lang)))
    bld = _read(ws, "buildings", bbox)
    if bld is not None and len(bld):
        bld.plot(ax=ax, facecolor="#d7b899", edgecolor="#6d4c41", linewidth=0.3, zorder=3)
        handles.append(Patch(facecolor="#d7b899", edgecolor="#6d4c41", label=t("paper.buildings", lang)))
    roads = _read(ws, "roads", bbox)
    if roads is not None and len(roads):
        roads.plot(ax=ax, color="#424242", linewidth=2.4, zorder=4)
        roads.plot(ax=ax, color="#fafafa", linewidth=1.4, zorder=4.1)
        handles.append(Line2D([0], [0], color="#424242", linewidth=2.4, label=t("paper.roads", lang)))
        if "name" in roads.columns:
            done = set()
            for name, geom in zip(roads["name"], roads.geometry):
                if not name or not isinstance(name, str) or name in done or geom is None or geom.is_empty:
                    continue
                done.add(name)
                clipped = geom.intersection(_box(bbox, 0.05))
                if clipped.is_empty or clipped.length < (bbox[2] - bbox[0]) * 0.08:
                    continue
                p = clipped.interpolate(0.5, normalized=True)
                ax.text(p.x, p.y, plain(name), fontsize=6, color="#212121", ha="center", va="center", zorder=6,
                        bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.7))
    boundary = _read(ws, "boundary", bbox)
    if boundary is not None and len(boundary):
        boundary.boundary.plot(ax=ax, color="#6a1b9a", linewidth=1.2, linestyle="--", zorder=5)
        handles.append(Line2D([0], [0], color="#6a1b9a", linewidth=1.2, linestyle="--",
                              label=t("paper.boundary", lang)))
    st = _read(ws, "settlements", bbox)
    if st is not None and len(st):
        st.boundary.plot(ax=ax, color="#e65100", linewidth=0.8, zorder=5)
        handles.append(Line2D([0], [0], color="#e65100", linewidth=0.8, label=t("paper.settlements", lang)))
        if "name" in st.columns:
            inner = _box(bbox, 0.08)
            for name, geom in zip(st["name"], st.geometry):
                if not name or geom is None or geom.is_empty:
                    continue
                part = geom.intersection(inner)
                if part.is_empty:
                    continue
                p = part.representative_point()
                ax.text(p.x, p.y, plain(name), fontsize=16, fontweight="bold", color="#bf360c", ha="center",
                        va="center", zorder=7, alpha=0.85,
                        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.6))
    handles.append(Line2D([0], [0], color="#1565c0", linewidth=0.6, linestyle=(0, (4, 3)),
                          label=t("paper.grid", lang)))
    return handles


def _box(bbox, shrink):
    from shapely.geometry import box

    x0, y0, x1, y1 = bbox
    dx, dy = (x1 - x0) * shrink, (y1 - y0) * shrink
    return box(x0 + dx, y0 + dy, x1 - dx, y1 - dy)


def column_letter(i: int) -> str:
    """Grid column names: A … Z, AA, AB … (Latin, as on topographic sheets).

    >>> [column_letter(i) for i in (0, 25, 26)]
    ['A', 'Z', 'AA']
    """
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def grid_lines(bbox, grid: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid line coordinates (x, y) inside ``bbox`` at multiples of ``grid`` metres."""
    x0, y0, x1, y1 = bbox
    xs = np.arange(math.ceil(x0 / grid) * grid, x1 + 1e-9, grid)
    ys = np.arange(math.ceil(y0 / grid) * grid, y1 + 1e-9, grid)
    return xs[(xs > x0) & (xs < x1)], ys[(ys > y0) & (ys < y1)]


def _draw_grid(fig, ax, bbox, grid, W, H, left, bottom, fw, fh) -> None:
    x0, y0, x1, y1 = bbox
    xs, ys = grid_lines(bbox, grid)
    for x in xs:
        ax.axvline(x, color="#1565c0", linewidth=0.6, linestyle=(0, (4, 3)), zorder=5.5, alpha=0.8)
    for y in ys:
        ax.axhline(y, color="#1565c0", linewidth=0.6, linestyle=(0, (4, 3)), zorder=5.5, alpha=0.8)
    # cell labels: letters across (top and bottom), numbers down (left and right)
    cx = np.concatenate([[x0], xs, [x1]])
    cy = np.concatenate([[y1], ys[::-1], [y0]])
    trans = ax.transData
    inv = fig.transFigure.inverted()
    for i in range(len(cx) - 1):
        xm = (cx[i] + cx[i + 1]) / 2
        fx, _ = inv.transform(trans.transform((xm, y0)))
        for fy, va in (((bottom + fh + 1.5) / H, "bottom"), ((bottom - 1.5) / H, "top")):
            fig.text(fx, fy, column_letter(i), ha="center", va=va, fontsize=11, fontweight="bold", color="#1565c0")
    for j in range(len(cy) - 1):
        ym = (cy[j] + cy[j + 1]) / 2
        _, fy = inv.transform(trans.transform((x0, ym)))
        for fx, ha in (((left - 1.5) / W, "right"), ((left + fw + 1.5) / W, "left")):
            fig.text(fx, fy, str(j + 1), ha=ha, va="center", fontsize=11, fontweight="bold", color="#1565c0")
    # metre coordinates at the grid lines, inside the frame edge
    for x in xs:
        ax.text(x, y0, f" {x:,.0f}".replace(",", " "), rotation=90, fontsize=5.5, color="#0d47a1", ha="right",
                va="bottom", zorder=8)
        ax.text(x, y1, f"{x:,.0f} ".replace(",", " "), rotation=90, fontsize=5.5, color="#0d47a1", ha="right",
                va="top", zorder=8)
    for y in ys:
        ax.text(x0, y, f" {y:,.0f}".replace(",", " "), fontsize=5.5, color="#0d47a1", ha="left", va="bottom",
                zorder=8)
        ax.text(x1, y, f"{y:,.0f} ".replace(",", " "), fontsize=5.5, color="#0d47a1", ha="right", va="bottom",
                zorder=8)


def mark_centres(bbox, fid: dict, m_per_mm: float) -> list[dict]:
    """Centres of the four corner marks (NW 1, NE 2, SE 3, SW 4) in map coordinates."""
    x0, y0, x1, y1 = bbox
    inset = float(fid.get("inset_mm", 9)) * m_per_mm
    pos = {"NW": (x0 + inset, y1 - inset), "NE": (x1 - inset, y1 - inset), "SE": (x1 - inset, y0 + inset),
           "SW": (x0 + inset, y0 + inset)}
    return [{"id": i + 1, "corner": c, "x": float(pos[c][0]), "y": float(pos[c][1])} for i, c in enumerate(CORNERS)]


def _draw_marks(ax, bbox, fid: dict, m_per_mm: float) -> list[dict]:
    from matplotlib.patches import Circle, Rectangle

    size = float(fid.get("size_mm", 12)) * m_per_mm
    inner = float(fid.get("inner_mm", 7.5)) * m_per_mm
    dot = float(fid.get("dot_mm", 1.8)) * m_per_mm
    marks = mark_centres(bbox, fid, m_per_mm)
    for mk in marks:
        x, y = mk["x"], mk["y"]
        quiet = size + 4 * m_per_mm
        ax.add_patch(Rectangle((x - quiet / 2, y - quiet / 2), quiet, quiet, facecolor="white", edgecolor="none",
                               zorder=9))
        ax.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, facecolor="black", edgecolor="none",
                               zorder=10))
        ax.add_patch(Rectangle((x - inner / 2, y - inner / 2), inner, inner, facecolor="white", edgecolor="none",
                               zorder=11))
        step = inner / 4.2
        for dx, dy in DOTS[mk["id"]]:
            ax.add_patch(Circle((x + dx * step, y + dy * step), dot / 2, facecolor="black", edgecolor="none",
                                zorder=12))
        # coordinates of the mark, towards the inside of the sheet
        sx = 1 if mk["corner"] in ("NW", "SW") else -1
        sy = -1 if mk["corner"] in ("NW", "NE") else 1
        ax.text(x + sx * (quiet / 2 + m_per_mm), y + sy * quiet / 2,
                f"{mk['id']}: {mk['x']:,.0f} / {mk['y']:,.0f}".replace(",", " "), fontsize=6,
                ha="left" if sx > 0 else "right", va="top" if sy < 0 else "bottom", zorder=12,
                bbox=dict(boxstyle="square,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))
    return marks


__all__ = ["basemap", "Sheet", "sheets", "area_of_interest", "mark_centres", "grid_lines", "column_letter", "plain",
           "paper_rules", "MEDIA_DIR", "CORNERS", "DOTS"]
