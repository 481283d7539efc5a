"""Georeferencing photos and scans of drawn paper maps, and tracing over them.

A group draws on the printed base map (:mod:`gis_planner.community.paper`); someone photographs the sheet with
a phone. To put the drawing on the map:

1. **Control points** — pairs of photo pixel (column, row) ↔ map coordinates (workspace CRS, metres): the four
   corner marks found automatically (:func:`detect_marks`, matched to the sheet's marks by their 1–4 dots) or
   grid crossings / marks clicked by hand.
2. **Fit** (:func:`fit`) by least squares: an *affine* transform (≥ 3 points: a flat scan, shift/rotation/scale/
   shear) or a *projective* one (homography, ≥ 4 points: a photo taken at an angle). Per-point residuals and
   the RMS are reported in photo pixels and in metres; with more points than the minimum they show a
   mis-clicked point.
3. **Warp** (:func:`warp`) the photo into the workspace CRS: a GeoTIFF (RGBA, transparent outside the photo)
   and a PNG with a world file (``.pgw`` + ``.prj``) for QGIS. Affine fits are warped with rasterio
   (``rasterio.transform.from_gcps`` → ``rasterio.warp.reproject``); a projective fit cannot be expressed as
   GDAL's polynomial GCP transforms, so the exact homography is applied with numpy/scipy (bilinear) and the
   result written with rasterio.
4. **Store** (:func:`save_overlay`) the photo, the overlay and its provenance (file name, uploader, date,
   control points, residuals, RMS) in ``<workspace>/community_media/georef/<id>/``; the app shows the overlay
   semi-transparently to trace over, and the hearing HTML shows it.
5. **Trace** (:func:`trace`): a shape digitised in photo pixels becomes a geometry in map coordinates.

Pixel coordinates are continuous with the photo's top-left corner at (0, 0): the centre of the top-left pixel
is (0.5, 0.5) (the GDAL/rasterio convention).

>>> f = fit([(0, 0), (100, 0), (0, 100)], [(1000, 2000), (1100, 2000), (1000, 1900)])
>>> f.kind, [round(float(v), 6) for v in f.to_map([50], [50])[0]]
('affine', [1050.0])
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import GisPlannerError
from .paper import MEDIA_DIR, Sheet, paper_rules

KINDS = ("affine", "projective")


# --------------------------------------------------------------------------- fitting
@dataclass
class Fit:
    """A fitted pixel → map transform with its control points and residuals."""

    kind: str
    matrix: np.ndarray  # 3x3: [x, y, w]^T = M @ [col, row, 1]^T
    pixels: np.ndarray  # (n, 2) col, row
    coords: np.ndarray  # (n, 2) x, y
    residual_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    residual_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rms_px: float = 0.0
    rms_m: float = 0.0
    dof: int = 0  # redundant observations: 0 means the points cannot check each other

    def to_map(self, cols, rows) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of photo pixels."""
        return _apply(self.matrix, cols, rows)

    def to_pixel(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        """Photo pixels of map coordinates."""
        return _apply(np.linalg.inv(self.matrix), xs, ys)

    def metres_per_pixel(self, col: float, row: float) -> float:
        """Ground size of a photo pixel at (col, row) (square root of the local area scale)."""
        (x0, x1, x2), (y0, y1, y2) = self.to_map([col, col + 1, col], [row, row, row + 1])
        return float(math.sqrt(abs((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))))

    def table(self) -> pd.DataFrame:
        """One row per control point: point, col, row, x, y, residual_px, residual_m."""
        return pd.DataFrame({"point": np.arange(1, len(self.pixels) + 1), "col": self.pixels[:, 0],
                             "row": self.pixels[:, 1], "x": self.coords[:, 0], "y": self.coords[:, 1],
                             "residual_px": self.residual_px, "residual_m": self.residual_m})

    def as_dict(self) -> dict:
        return {"kind": self.kind, "matrix": self.matrix.tolist(), "rms_px": self.rms_px, "rms_m": self.rms_m,
                "dof": self.dof, "points": self.table().to_dict("records")}


def _apply(m: np.ndarray, a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    w = m[2, 0] * a + m[2, 1] * b + m[2, 2]
    return (m[0, 0] * a + m[0, 1] * b + m[0, 2]) / w, (m[1, 0] * a + m[1, 1] * b + m[1, 2]) / w


def _normaliser(p: np.ndarray) -> np.ndarray:
    c = p.mean(axis=0)
    d = np.sqrt(((p - c) ** 2).sum(axis=1)).mean()
    s = math.sqrt(2) / d if d > 0 else 1.0
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])


def _homography(px: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Least-squares homography: normalised DLT, then Gauss-Newton on the map-space residuals."""
    from scipy.optimize import least_squares

    tp, tm = _normaliser(px), _normaliser(xy)
    p = _apply(tp, px[:, 0], px[:, 1])
    q = _apply(tm, xy[:, 0], xy[:, 1])
    rows = []
    for u, v, x, y in zip(p[0], p[1], q[0], q[1]):
        rows.append([u, v, 1, 0, 0, 0, -x * u, -x * v, -x])
        rows.append([0, 0, 0, u, v, 1, -y * u, -y * v, -y])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    hn = vt[-1].reshape(3, 3)
    hn = hn / hn[2, 2]
    if len(px) > 4:  # refine the geometric (not algebraic) error in normalised map units

        def resid(h):
            m = np.append(h, 1.0).reshape(3, 3)
            x, y = _apply(m, p[0], p[1])
            return np.concatenate([x - q[0], y - q[1]])

        hn = np.append(least_squares(resid, hn.ravel()[:8], method="lm").x, 1.0).reshape(3, 3)
    return np.linalg.inv(tm) @ hn @ tp


def fit(pixels, coords, kind: str = "auto") -> Fit:
    """Fit photo pixels ``[(col, row), …]`` to map coordinates ``[(x, y), …]`` by least squares.

    ``kind``: ``"affine"`` (≥ 3 points), ``"projective"`` (≥ 4 points) or ``"auto"`` (projective from 4
    points on). Raises ``GisPlannerError`` (``too_few_points``, ``degenerate_points``) when the points cannot
    determine the transform (too few, or all on one line).
    """
    px = np.asarray(pixels, dtype="float64").reshape(-1, 2)
    xy = np.asarray(coords, dtype="float64").reshape(-1, 2)
    if len(px) != len(xy):
        raise GisPlannerError(f"{len(px)} photo points but {len(xy)} map points", fix="give pairs of points",
                              code="bad_points")
    if not (np.isfinite(px).all() and np.isfinite(xy).all()):
        raise GisPlannerError("a control point has no number", fix="enter every column, row, x and y",
                              code="bad_points")
    if kind == "auto":
        kind = "projective" if len(px) >= 4 else "affine"
    if kind not in KINDS:
        raise GisPlannerError(f"unknown transform '{kind}'", fix="use affine or projective", code="bad_option")
    need = 3 if kind == "affine" else 4
    if len(px) < need:
        raise GisPlannerError(f"{len(px)} control points are too few for a {kind} transform (at least {need})",
                              fix="add control points: corner marks or grid crossings", code="too_few_points")
    for pts, what in ((px, "photo"), (xy, "map")):
        c = pts - pts.mean(axis=0)
        sv = np.linalg.svd(c, compute_uv=False)
        if sv[-1] <= 1e-9 * max(sv[0], 1e-12):
            raise GisPlannerError(f"the {what} points lie on one line", fix="choose points spread over the sheet, "
                                  "e.g. its four corners", code="degenerate_points")
    if kind == "affine":
        a = np.column_stack([px, np.ones(len(px))])
        sol, *_ = np.linalg.lstsq(a, xy, rcond=None)
        m = np.vstack([sol.T, [0, 0, 1.0]])
    else:
        m = _homography(px, xy)
    f = Fit(kind=kind, matrix=m, pixels=px, coords=xy)
    mx, my = f.to_map(px[:, 0], px[:, 1])
    f.residual_m = np.hypot(mx - xy[:, 0], my - xy[:, 1])
    pc, pr = f.to_pixel(xy[:, 0], xy[:, 1])
    f.residual_px = np.hypot(pc - px[:, 0], pr - px[:, 1])
    f.rms_m = float(np.sqrt(np.mean(f.residual_m ** 2)))
    f.rms_px = float(np.sqrt(np.mean(f.residual_px ** 2)))
    f.dof = 2 * len(px) - (6 if kind == "affine" else 8)
    return f


def trace(f: Fit, pixels) -> Any:
    """A shape digitised over the photo (``[(col, row), …]``: 1 point, a line, or a closed ring for a polygon)
    as a shapely geometry in map coordinates."""
    from shapely.geometry import LineString, Point, Polygon

    p = np.asarray(pixels, dtype="float64").reshape(-1, 2)
    x, y = f.to_map(p[:, 0], p[:, 1])
    pts = list(zip(x.tolist(), y.tolist()))
    if len(pts) == 1:
        return Point(pts[0])
    if len(pts) >= 4 and np.allclose(p[0], p[-1]):
        return Polygon(pts)
    return LineString(pts)


def to_lonlat(geom, crs):
    """A traced geometry (map coordinates in ``crs``) as lon/lat for the community store."""
    import geopandas as gpd

    return gpd.GeoSeries([geom], crs=crs).to_crs(4326).iloc[0]


# --------------------------------------------------------------------------- images
def read_image(image) -> np.ndarray:
    """An image (path, bytes, PIL image or array) as an RGBA uint8 array (rows, cols, 4), EXIF rotation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = np.dstack([a, a, a])
        if a.shape[2] == 3:
            a = np.dstack([a, np.full(a.shape[:2], 255, dtype=a.dtype)])
        return a.astype("uint8")
    try:
        if isinstance(image, (bytes, bytearray)):
            import io

            im = Image.open(io.BytesIO(image))
        elif isinstance(image, Image.Image):
            im = image
        else:
            im = Image.open(Path(image))
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as exc:
        raise GisPlannerError(f"cannot read the image ({exc})", file=str(image)[:200] if not isinstance(
            image, (bytes, bytearray)) else None, fix="give a JPEG, PNG or TIFF photo or scan",
            code="bad_image") from None


def _gray(rgba: np.ndarray) -> np.ndarray:
    a = rgba.astype("float32") / 255.0
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def detect_marks(image, *, min_size_frac: float = 0.006, max_size_frac: float = 0.12) -> dict[int, tuple]:
    """Find the printed corner marks in a photo: ``{mark id (1–4): (col, row)}`` of their centres.

    A mark is a dark square ring (a white square inside a black one) holding 1–4 dark dots; the number of dots
    is the mark's id (NW 1, NE 2, SE 3, SW 4), so the marks are matched whatever way the photo is turned.
    Dark is darker than 70 % of the local mean brightness (robust to uneven light). Marks not found are absent
    from the result.
    """
    from scipy import ndimage

    rgba = read_image(image)
    g = _gray(rgba)
    h, w = g.shape
    win = max(15, int(min(h, w) / 12))
    local = ndimage.uniform_filter(g, size=win, mode="reflect")
    dark = g < local * 0.7
    lab, n = ndimage.label(dark, structure=np.ones((3, 3)))
    if n == 0:
        return {}
    smin, smax = min_size_frac * min(h, w), max_size_frac * min(h, w)
    found: dict[int, tuple] = {}
    score: dict[int, float] = {}
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        bh, bw = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if not (smin <= bh <= smax and smin <= bw <= smax) or not (0.5 <= bh / bw <= 2.0):
            continue
        comp = lab[sl] == i
        filled = ndimage.binary_fill_holes(comp)
        fa = filled.sum()
        if fa < 0.45 * bh * bw:  # a square (turned up to 45°) fills at least half its box
            continue
        hole = filled & ~comp
        ha = hole.sum()
        if not (0.15 <= ha / fa <= 0.7):
            continue
        # the dots: dark inside the hole, away from the ring
        inner = ndimage.binary_erosion(hole, iterations=1)
        dots, nd = ndimage.label(dark[sl] & inner)
        if nd == 0:
            continue
        sizes = ndimage.sum(np.ones_like(dots), dots, index=np.arange(1, nd + 1))
        k = int((sizes >= 0.01 * ha).sum())
        if not 1 <= k <= 4:
            continue
        rr, cc = np.nonzero(filled)
        squareness = fa / (bh * bw)
        if k in found and score[k] >= squareness:
            continue
        found[k] = (float(cc.mean() + sl[1].start + 0.5), float(rr.mean() + sl[0].start + 0.5))
        score[k] = squareness
    return dict(sorted(found.items()))


def fit_marks(image, sheet: Sheet, *, kind: str = "projective") -> Fit:
    """Fit a photo of a printed sheet from its corner marks found by :func:`detect_marks`."""
    found = detect_marks(image)
    marks = {m["id"]: (m["x"], m["y"]) for m in sheet.marks}
    ids = [i for i in sorted(found) if i in marks]
    need = 3 if kind == "affine" else 4
    if len(ids) < need:
        raise GisPlannerError(f"found {len(ids)} of the 4 corner marks in the photo ({ids})",
                              fix="photograph the whole sheet with the four corner marks visible, or click "
                                  "control points by hand", code="marks_not_found")
    return fit([found[i] for i in ids], [marks[i] for i in ids], kind=kind)


# --------------------------------------------------------------------------- warping
def _output_grid(f: Fit, shape, res: float | None, max_px: int, clip=None):
    h, w = shape
    # the photo's outline (edges sampled: a projective map bends nothing, but keeps the box honest)
    t = np.linspace(0, 1, 9)
    cols = np.concatenate([t * w, np.full_like(t, w), (1 - t) * w, np.zeros_like(t)])
    rows = np.concatenate([np.zeros_like(t), t * h, np.full_like(t, h), (1 - t) * h])
    x, y = f.to_map(cols, rows)
    minx, maxx, miny, maxy = x.min(), x.max(), y.min(), y.max()
    if clip is not None:  # only the map frame of a printed sheet (not the table around it)
        minx, miny = max(minx, clip[0]), max(miny, clip[1])
        maxx, maxy = min(maxx, clip[2]), min(maxy, clip[3])
        if maxx <= minx or maxy <= miny:
            raise GisPlannerError("the photo does not show the printed map's area", fix="check the control "
                                  "points", code="bad_points")
    if res is None:
        res = f.metres_per_pixel(w / 2, h / 2)
    res = max(res, max(maxx - minx, maxy - miny) / max_px)
    width = int(math.ceil((maxx - minx) / res))
    height = int(math.ceil((maxy - miny) / res))
    return minx, maxy, res, width, height


def warp(image, f: Fit, out, *, crs, res: float | None = None, max_px: int | None = None,
         clip=None) -> dict[str, Path]:
    """Warp the photo into map coordinates: ``out`` (``.tif``: RGBA GeoTIFF in ``crs``) and a PNG beside it with
    a world file (``.pgw``) and ``.prj``. Outside the photo is transparent. Returns ``{"tif", "png", "pgw",
    "prj"}``; ``res`` is the output pixel size in map units (default: the photo's own at its centre); ``clip``
    (minx, miny, maxx, maxy) limits the overlay to an area, e.g. the printed sheet's map frame."""
    import rasterio
    from PIL import Image
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.transform import from_gcps, from_origin
    from rasterio.warp import Resampling, reproject

    rgba = read_image(image)
    h, w = rgba.shape[:2]
    max_px = int(max_px or (paper_rules().get("georef") or {}).get("max_output_px", 4000))
    minx, maxy, r, width, height = _output_grid(f, (h, w), res, max_px, clip)
    dst_transform = from_origin(minx, maxy, r, r)
    crs = CRS.from_user_input(crs)
    out = Path(out).with_suffix(".tif")
    out.parent.mkdir(parents=True, exist_ok=True)
    dst = np.zeros((4, height, width), dtype="uint8")
    if f.kind == "affine":
        gcps = [GroundControlPoint(row=float(p[1]), col=float(p[0]), x=float(c[0]), y=float(c[1]))
                for p, c in zip(f.pixels, f.coords)]
        src_transform = from_gcps(gcps)  # the same least-squares affine as the fit
        for b in range(4):
            reproject(np.ascontiguousarray(rgba[..., b]), dst[b], src_transform=src_transform, src_crs=crs,
                      dst_transform=dst_transform, dst_crs=crs, resampling=Resampling.bilinear, src_nodata=None,
                      dst_nodata=0)
    else:
        from scipy import ndimage

        cc, rr = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        xs, ys = minx + cc * r, maxy - rr * r
        inv = np.linalg.inv(f.matrix)
        wgt = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
        pc, pr = f.to_pixel(xs, ys)
        # in front of the camera: the same side of the horizon line as the photo's centre
        xc, yc = f.to_map([w / 2], [h / 2])
        wc = inv[2, 0] * xc[0] + inv[2, 1] * yc[0] + inv[2, 2]
        ok = (wgt * wc > 0) & (pc >= 0) & (pc <= w) & (pr >= 0) & (pr <= h)
        coords = np.array([pr - 0.5, pc - 0.5])
        for b in range(4):
            band = ndimage.map_coordinates(rgba[..., b].astype("float32"), coords, order=1, mode="nearest")
            dst[b] = np.where(ok, np.clip(np.rint(band), 0, 255), 0).astype("uint8")
    dst[3] = np.where(dst[3] > 0, dst[3], 0)
    tags = {"GIS_PLANNER_GEOREF": json.dumps({"kind": f.kind, "rms_px": f.rms_px, "rms_m": f.rms_m,
                                               "points": len(f.pixels)})}
    with rasterio.open(out, "w", driver="GTiff", width=width, height=height, count=4, dtype="uint8", crs=crs,
                       transform=dst_transform, photometric="RGB", compress="deflate", alpha="YES") as ds:
        ds.write(dst)
        ds.update_tags(**tags)
    png = out.with_suffix(".png")
    Image.fromarray(np.moveaxis(dst, 0, -1), "RGBA").save(png, optimize=True)
    pgw = out.with_suffix(".pgw")
    # world file: pixel size x, rotation, rotation, -pixel size y, x and y of the CENTRE of the top-left pixel
    pgw.write_text(f"{r:.10f}\n0\n0\n{-r:.10f}\n{minx + r / 2:.6f}\n{maxy - r / 2:.6f}\n", encoding="ascii")
    prj = out.with_suffix(".prj")
    prj.write_text(crs.to_wkt(), encoding="ascii")
    return {"tif": out, "png": png, "pgw": pgw, "prj": prj}


# --------------------------------------------------------------------------- storage in the workspace
def georef_dir(ws) -> Path:
    return Path(ws.root) / MEDIA_DIR / "georef"


def save_overlay(ws, image, f: Fit, *, file_name: str, uploader: str, session_id: int | None = None,
                 sheet_id: str | None = None, res: float | None = None, clip=None) -> dict:
    """Store a georeferenced photo in the workspace with its provenance; returns the record (also
    ``meta.json`` in ``<ws>/community_media/georef/<id>/``): id, session_id, file_name, uploader,
    uploaded_at, sheet_id, crs, bounds, transform kind, control points with residuals, rms_px, rms_m, files.
    ``clip``: keep only this area (the printed sheet's ``extent``: the map frame without the table around it)."""
    from ..text import clean_text

    if ws.crs is None:
        raise GisPlannerError("the workspace has no CRS", file=str(ws.root), fix="set the workspace CRS",
                              code="missing_crs")
    uploader = clean_text(uploader)
    if not uploader:
        raise GisPlannerError("who uploaded the photo is empty", fix="give initials or a role", code="empty_text")
    oid = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
    d = georef_dir(ws) / oid
    tmp = d.with_name(f".{oid}.tmp")
    tmp.mkdir(parents=True)
    try:
        rgba = read_image(image)
        suffix = Path(file_name).suffix.lower() if Path(file_name).suffix.lower() in (".jpg", ".jpeg", ".png",
                                                                                       ".tif", ".tiff") else ".png"
        src = tmp / f"original{suffix}"
        if isinstance(image, (bytes, bytearray)):
            src.write_bytes(bytes(image))
        elif isinstance(image, (str, Path)):
            src.write_bytes(Path(image).read_bytes())
        else:
            from PIL import Image

            src = tmp / "original.png"
            Image.fromarray(rgba, "RGBA").save(src)
        files = warp(rgba, f, tmp / "overlay.tif", crs=ws.crs, res=res, clip=clip)
        import rasterio

        with rasterio.open(files["tif"]) as ds:
            b = ds.bounds
        epsg = ws.crs.to_epsg()
        rec = {"id": oid, "session_id": session_id, "file_name": Path(str(file_name)).name, "uploader": uploader,
               "uploaded_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "sheet_id": sheet_id, "crs": f"EPSG:{epsg}" if epsg else ws.crs.to_wkt(),
               "bounds": [b.left, b.bottom, b.right, b.top], "image_size": [int(rgba.shape[1]), int(rgba.shape[0])],
               **f.as_dict(),
               "files": {"original": src.name, **{k: p.name for k, p in files.items()}}}
        (tmp / "meta.json").write_text(json.dumps(rec, ensure_ascii=False, indent=1, default=float),
                                       encoding="utf-8")
        tmp.rename(d)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rec | {"dir": str(d)}


def overlays(ws, session_id: int | None = None) -> list[dict]:
    """Stored georeferenced photos (newest first), each the ``meta.json`` record plus ``dir``."""
    d = georef_dir(ws)
    out = []
    for p in sorted(d.glob("*/meta.json")) if d.exists() else []:
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if session_id is None or rec.get("session_id") == session_id:
            out.append(rec | {"dir": str(p.parent)})
    return sorted(out, key=lambda r: r.get("uploaded_at", ""), reverse=True)


def overlay_lonlat_bounds(rec: dict) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of an overlay in lon/lat (for a folium ImageOverlay)."""
    from pyproj import Transformer

    tr = Transformer.from_crs(rec["crs"], 4326, always_xy=True)
    l, b, r, t_ = rec["bounds"]
    xs, ys = tr.transform([l, r, l, r], [b, b, t_, t_])
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def points_from_table(rows: Iterable) -> tuple[list, list]:
    """``(pixels, coords)`` from rows with ``col, row, x, y`` (the app's editable table); blank rows skipped."""
    pixels, coords = [], []
    for r in rows:
        vals = [r.get(k) for k in ("col", "row", "x", "y")] if hasattr(r, "get") else list(r)[:4]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) or v == "" for v in vals):
            continue
        try:
            c, rw, x, y = (float(v) for v in vals)
        except (TypeError, ValueError):
            raise GisPlannerError(f"control point {vals} is not four numbers", fix="enter numbers",
                                  code="bad_points") from None
        pixels.append((c, rw))
        coords.append((x, y))
    return pixels, coords


__all__ = ["Fit", "fit", "trace", "to_lonlat", "read_image", "detect_marks", "fit_marks", "warp", "save_overlay", "overlays",
           "overlay_lonlat_bounds", "points_from_table", "georef_dir", "KINDS"]
