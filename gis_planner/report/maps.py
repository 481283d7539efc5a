"""Print maps (matplotlib): hillshade basemap, layers, legend, scale bar, north arrow, title, sources.

Each topic map is a PNG at print resolution (default 200 dpi on an A4-width figure) drawn in the
workspace CRS (metric Kyrg-06), so the scale bar is true.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrow, Patch, Rectangle  # noqa: E402

from ..basemap import hillshade, read_dem  # noqa: E402
from ..i18n import t  # noqa: E402
from ..text import literal_figure_text  # noqa: E402


@dataclass
class MapLayer:
    """One layer on a print map.

    ``gdf`` is drawn in one colour, or by ``column`` with ``colors`` {value: colour} and ``labels``
    {value: legend text}. ``kind`` is ``polygon``, ``line`` or ``point``.
    """

    gdf: object
    label: str = ""
    color: str = "#888888"
    column: str | None = None
    colors: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    kind: str = "polygon"
    alpha: float = 0.6
    edgecolor: str | None = None
    linewidth: float = 0.3
    hatch: str | None = None
    markersize: float = 12
    legend: bool = True
    zorder: int = 2


def nice_length(max_len: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k metres) not longer than ``max_len``.

    >>> nice_length(3700)
    2000.0
    >>> nice_length(800)
    500.0
    """
    if max_len <= 0:
        return 0.0
    exp = math.floor(math.log10(max_len))
    for m in (5, 2, 1):
        v = m * 10.0 ** exp
        if v <= max_len:
            return float(v)
    return float(10.0 ** (exp - 1) * 5)


def _scale_bar(ax, lang: str) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = nice_length((x1 - x0) * 0.25)
    if length <= 0:
        return
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    h = (y1 - y0) * 0.008
    half = length / 2
    ax.add_patch(Rectangle((bx - (x1 - x0) * 0.015, by - (y1 - y0) * 0.012), length + (x1 - x0) * 0.05,
                           (y1 - y0) * 0.05, facecolor="white", alpha=0.75, edgecolor="none", zorder=19))
    ax.add_patch(Rectangle((bx, by), half, h, facecolor="black", edgecolor="black", zorder=20))
    ax.add_patch(Rectangle((bx + half, by), half, h, facecolor="white", edgecolor="black", zorder=20))
    text = f"{length / 1000:g} {t('report.km', lang)}" if length >= 1000 else f"{length:g} {t('report.m', lang)}"
    ax.text(bx, by + h * 2.2, "0", fontsize=7, ha="center", zorder=20)
    ax.text(bx + length, by + h * 2.2, text, fontsize=7, ha="center", zorder=20)


def _north_arrow(ax) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    x = x1 - (x1 - x0) * 0.05
    y = y1 - (y1 - y0) * 0.14
    dy = (y1 - y0) * 0.07
    ax.add_patch(FancyArrow(x, y, 0, dy, width=(x1 - x0) * 0.006, head_width=(x1 - x0) * 0.022,
                            head_length=dy * 0.4, length_includes_head=True, color="black", zorder=20))
    ax.text(x, y + dy * 1.08, "N", ha="center", va="bottom", fontsize=10, fontweight="bold", zorder=20)


class _PrintCanvas(FigureCanvasAgg):
    """An Agg canvas that draws only when saved: geopandas asks for a redraw (``draw_idle``) after every
    layer it plots, which on a print map with a hillshade cost a full render per layer (29 renders for
    the five maps of the demo report instead of five)."""

    def draw_idle(self, *args, **kwargs) -> None:
        pass


@literal_figure_text
def render_map(ws, layers: Sequence[MapLayer], title: str, sources: Sequence[str], out_png: str | Path,
               lang: str = "ky", extent=None, dpi: int = 200, width_in: float = 7.5, basemap=None) -> Path:
    """Draw ``layers`` over the DEM hillshade of ``ws`` and save a PNG; returns its path.

    ``basemap`` is ``(hillshade, (left, bottom, right, top))`` from :func:`dem_basemap`; pass it when
    drawing several maps of one workspace so the DEM is read once.
    """
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    boundary = ws.read_layer("boundary", missing_ok=True)
    if extent is None:
        if boundary is not None and len(boundary):
            extent = boundary.total_bounds
        else:
            bounds = [lay.gdf.total_bounds for lay in layers if lay.gdf is not None and len(lay.gdf)]
            extent = (min(b[0] for b in bounds), min(b[1] for b in bounds),
                      max(b[2] for b in bounds), max(b[3] for b in bounds)) if bounds else (0, 0, 1, 1)
    minx, miny, maxx, maxy = extent
    padx, pady = (maxx - minx) * 0.04, (maxy - miny) * 0.04
    minx, maxx, miny, maxy = minx - padx, maxx + padx, miny - pady, maxy + pady
    aspect = (maxy - miny) / max(maxx - minx, 1e-9)
    map_h = width_in * min(max(aspect, 0.45), 1.4)
    # a bare Figure (no pyplot state): thread-safe inside the app, and no redraw after every layer
    fig = Figure(figsize=(width_in, map_h + 1.9))
    _PrintCanvas(fig)
    ax = fig.add_axes([0.02, 1.6 / (map_h + 1.9), 0.96, map_h / (map_h + 1.9)])
    if basemap is None:
        basemap = dem_basemap(ws)
    if basemap is not None:
        hs, (l, b, r, tp) = basemap
        ax.imshow(hs, extent=(l, r, b, tp), cmap="Greys_r", vmin=0, vmax=1, alpha=0.55, zorder=0,
                  interpolation="bilinear")
    handles = []
    for lay in layers:
        gdf = lay.gdf
        if gdf is None or not len(gdf):
            continue
        if lay.column is None:
            _plot(ax, gdf, lay, lay.color)
            if lay.legend and lay.label:
                handles.append(_handle(lay, lay.color, lay.label))
        else:
            colors = [lay.colors.get(v, lay.color) for v in gdf[lay.column]]
            _plot(ax, gdf, lay, colors)
            if lay.legend:
                present = set(gdf[lay.column].dropna().unique())
                order = [v for v in lay.colors if v in present] + sorted(present - set(lay.colors), key=str)
                for value in order:
                    handles.append(_handle(lay, lay.colors.get(value, lay.color), lay.labels.get(value, str(value))))
    if boundary is not None and len(boundary):
        boundary.boundary.plot(ax=ax, color="black", linewidth=1.2, linestyle="--", zorder=15)
        handles.append(Line2D([0], [0], color="black", lw=1.2, ls="--", label=t("report.legend_boundary", lang)))
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
    _scale_bar(ax, lang)
    _north_arrow(ax)
    fig.suptitle(title, fontsize=12, fontweight="bold", y=0.995, va="top")
    if handles:
        ncol = 3 if len(handles) > 6 else 2
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.02, 0.30 / (map_h + 1.9) + 0.02),
                   ncol=ncol, fontsize=7, frameon=False)
    crs_text = ws.crs.name if ws.crs is not None else ""
    src = "; ".join(sources)
    fig.text(0.02, 0.01, f"{t('report.sources', lang)}: {src}\n{t('core.crs', lang)}: {crs_text}",
             fontsize=6, va="bottom", wrap=True)
    _save_png(fig, out_png, dpi)
    return out_png


def _save_png(fig, out_png: Path, dpi: int) -> None:
    """The figure as an opaque RGB PNG with fast compression.

    matplotlib writes RGBA at the default compression level: encoding took longer than drawing, and the
    alpha channel (all opaque on a white figure) made LibreOffice carry a soft mask for every map into the
    PDF. Drawn once at ``dpi``, the pixels are those ``savefig`` gives."""
    import numpy as np
    from PIL import Image

    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    Image.fromarray(rgba[..., :3]).save(out_png, format="PNG", compress_level=1, dpi=(dpi, dpi))


def dem_basemap(ws, max_cells: int = 1_500_000):
    """``(hillshade, bounds)`` of the workspace DEM in the workspace CRS, or None without a DEM."""
    dem = read_dem(ws, max_cells=max_cells, dst_crs=ws.crs)
    if dem is None:
        return None
    z, bounds, _crs, (rx, ry) = dem
    return hillshade(z, rx, ry), bounds


def _plot(ax, gdf, lay: MapLayer, color) -> None:
    if lay.kind == "point":
        gdf.plot(ax=ax, color=color, markersize=lay.markersize, edgecolor=lay.edgecolor or "black",
                 linewidth=0.3, zorder=lay.zorder)
    elif lay.kind == "line":
        gdf.plot(ax=ax, color=color, linewidth=max(lay.linewidth, 0.6), zorder=lay.zorder)
    else:
        face = color if not lay.hatch else "none"
        edge = lay.edgecolor or (color if lay.hatch else "none")
        coll = polygon_collection(gdf.geometry.values, face, edge, lay.linewidth, lay.alpha, lay.hatch, lay.zorder)
        if coll is not None:
            ax.add_collection(coll, autolim=False)


def polygon_collection(geoms, facecolor, edgecolor, linewidth: float, alpha: float, hatch=None, zorder: int = 2):
    """The polygons ``geoms`` as one matplotlib ``PathCollection`` (one compound path per feature, holes
    included), or None when none has an area to draw.

    geopandas draws each polygon as a ``PathPatch`` first; for the demo's 5 560 parcels that cost more
    than drawing the map. Colours may be one colour or one per feature (as in ``GeoSeries.plot``).
    """
    import numpy as np
    import shapely
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path as MplPath

    geoms = np.asarray(geoms, dtype=object)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    poly = shapely.get_type_id(parts) == 3                       # polygons only (lines/points elsewhere)
    parts, part_of = parts[poly], part_of[poly]
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    if not len(coords):
        return None
    codes = np.full(len(coords), MplPath.LINETO, dtype=np.uint8)
    starts = np.r_[0, np.flatnonzero(np.diff(coord_of)) + 1]       # first vertex of each ring
    codes[starts] = MplPath.MOVETO
    codes[np.r_[starts[1:] - 1, len(coords) - 1]] = MplPath.CLOSEPOLY
    feature = part_of[ring_of[coord_of]]                          # the feature each vertex belongs to
    cut = np.flatnonzero(np.diff(feature)) + 1
    features = feature[np.r_[0, cut]]
    paths = [MplPath(v, c) for v, c in zip(np.split(coords, cut), np.split(codes, cut))]
    if not isinstance(facecolor, str) and np.ndim(facecolor) and len(facecolor) == len(geoms):
        facecolor = [facecolor[i] for i in features]
    return PathCollection(paths, facecolors=facecolor, edgecolors=edgecolor, linewidths=linewidth, alpha=alpha,
                          hatch=hatch, zorder=zorder)


def _handle(lay: MapLayer, color: str, label: str):
    if lay.kind == "point":
        return Line2D([0], [0], marker="o", color="none", markerfacecolor=color, markeredgecolor="black",
                      markersize=5, label=label)
    if lay.kind == "line":
        return Line2D([0], [0], color=color, lw=1.5, label=label)
    return Patch(facecolor=color if not lay.hatch else "none", alpha=lay.alpha, hatch=lay.hatch,
                 edgecolor=lay.edgecolor or color, label=label)
