"""How the latent map draws latents of any size in 2-D: the projection, its axes, and the plane of latents
a decoded grid is drawn over. No Qt: the map view holds one :class:`Projection` and asks it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from latent_explorer.models.analysis.latent import PCA
from latent_explorer.models.lazy import lazy_import

METHODS = {"latent": "Latent (2-D)", "pca": "PCA", "dims": "Dimensions", "tsne": "t-SNE", "umap": "UMAP"}
NONLINEAR = ("tsne", "umap")  # fitted maps (models.analysis.embedding): new latents are placed by a job


def methods_for(dim: int, computed=()) -> list[str]:
    """The projections offered for latents of ``dim`` dimensions (t-SNE and UMAP once computed)."""
    out = ["latent"] if dim == 2 else ["pca", "dims"]
    return out + [m for m in NONLINEAR if m in set(computed)]


@dataclass
class Projection:
    method: str = "latent"  # one of METHODS
    axes: tuple[int, int] = (0, 1)  # 0-based components (PCA) or dimensions (dims)
    pca: PCA | None = None
    maps: dict = field(default_factory=dict)  # "tsne" / "umap" -> models.analysis.embedding.Embedding of the data

    @property
    def embedding(self) -> np.ndarray | None:
        """(N, 2) coordinates of the data on the current non-linear map, if any."""
        m = self.maps.get(self.method)
        return None if m is None else m.xy

    @property
    def linear(self) -> bool:
        """A linear map: any latent is placed at once, and there is a plane of latents to decode over."""
        return self.method not in NONLINEAR

    @property
    def has_axes(self) -> bool:
        return self.method in ("pca", "dims")

    def axis_count(self, dim: int) -> int:
        """How many axes a user may choose from."""
        if self.method == "pca":
            return len(self.pca.components) if self.pca is not None else 2
        return dim if self.method == "dims" else 2

    def with_axes(self, a: int, b: int, dim: int) -> Projection:
        """The same projection on axes (a, b), clamped to what exists and kept distinct: the same axis
        twice would draw every point on a diagonal line."""
        n = max(2, self.axis_count(dim))
        a, b = int(np.clip(a, 0, n - 1)), int(np.clip(b, 0, n - 1))
        if a == b:
            b = (a + 1) % n
        return Projection(self.method, (a, b), self.pca, self.maps)

    def project(self, z: np.ndarray) -> np.ndarray | None:
        """Map coordinates (N, 2) of latents (N, D); None for t-SNE and UMAP, whose fitted map places new
        latents by an optimisation (``self.maps[method].place``, run as a job)."""
        z = np.atleast_2d(np.asarray(z, np.float32))
        a, b = self.axes
        if self.method == "latent":
            return z[:, :2]
        if self.method == "pca":
            return self.pca.transform(z, (a, b))
        if self.method == "dims":
            return z[:, [a, b]]
        return None

    def coordinates(self, z: np.ndarray) -> np.ndarray:
        """Where the data's latents ``z`` are drawn (the fitted coordinates for t-SNE and UMAP)."""
        return self.embedding if not self.linear else self.project(z)

    def axis_labels(self) -> tuple[str, str]:
        a, b = self.axes
        return {"latent": ("z0", "z1"), "pca": (f"PC{a + 1}", f"PC{b + 1}"), "dims": (f"z{a}", f"z{b}"),
                "tsne": ("t-SNE 1", "t-SNE 2"), "umap": ("UMAP 1", "UMAP 2")}[self.method]

    def plane(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(center, u, v, map centre) of the plane a decoded grid is drawn over: the 2-D latent plane
        itself, or the plane through ``z`` spanned by the two chosen axes. Not defined for t-SNE."""
        if not self.linear:
            raise ValueError(f"a {METHODS[self.method]} map has no plane of latents to decode over")
        z = np.asarray(z, np.float32)
        d = len(z)
        if self.method == "latent":
            u, v = np.eye(d, dtype=np.float32)[:2]
            return np.zeros(d, np.float32), u, v, np.zeros(2, np.float32)
        a, b = self.axes
        if self.method == "pca":
            u, v = self.pca.components[a], self.pca.components[b]
        else:
            u, v = np.eye(d, dtype=np.float32)[[a, b]]
        return z, u, v, self.project(z)[0]


def plane_latents(center: np.ndarray, u: np.ndarray, v: np.ndarray, n: int, extent: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid of latents center + a*u + b*v for a, b in [-extent, extent].

    Returns (latents (n*n, D), coords (n*n, 2)); rows go from +b (top) to -b (bottom) so the grid
    reads like the map with its y axis pointing up."""
    ticks = np.linspace(-extent, extent, n, dtype=np.float32)
    a, b = np.meshgrid(ticks, ticks[::-1])
    coords = np.stack([a.ravel(), b.ravel()], 1)
    lat = center[None] + coords[:, :1] * u[None] + coords[:, 1:] * v[None]
    return lat.astype(np.float32), coords


def grid_rect(map_centre: np.ndarray, n: int, extent: float) -> tuple[float, float, float, float]:
    """(x, y, width, height) in map coordinates covered by an n x n grid of cells centred on the plane's
    ticks: each cell is one tick step wide."""
    step = 2 * extent / (n - 1)
    return (float(map_centre[0] - extent - step / 2), float(map_centre[1] - extent - step / 2),
            2 * extent + step, 2 * extent + step)


def auto_extent(xy: np.ndarray) -> float:
    """A grid range (± this) that covers the bulk (98%) of the points, in steps of 0.5 (from at most 100,000 of
    them, evenly strided: a percentile of a million points read to the nearest 0.5 is that of a tenth)."""
    xy = xy[:: max(1, len(xy) // 100_000)]
    spread = float(np.percentile(np.abs(xy - np.median(xy, 0)), 98))
    return max(0.5, round(spread * 2) / 2)


def nearest_point(xy: np.ndarray, x: float, y: float, pixel: tuple[float, float], max_px: float = 8.0) -> int | None:
    """The index of the point of ``xy`` (N, 2) nearest to (x, y) on screen (distances in pixels of size
    ``pixel`` = (width, height) in data units), if it lies within ``max_px`` pixels."""
    if len(xy) == 0:
        return None
    px, py = pixel
    d = ((xy[:, 0] - x) / px) ** 2 + ((xy[:, 1] - y) / py) ** 2
    i = int(np.argmin(d))
    return i if d[i] <= max_px**2 else None


def decode_plane(model, projection: Projection, z, label, n: int, extent: float):
    """Generator: images decoded over an n x n grid of the projection's plane through ``z`` (± ``extent``);
    returns (mosaic picture, its rect (x, y, w, h) in map coordinates)."""
    from latent_explorer.models.analysis.latent import decode_batched
    from latent_explorer.models.display import mosaic

    center, u, v, mc = projection.plane(z)
    lat, _ = plane_latents(center, u, v, n, extent)
    imgs = yield from decode_batched(model, lat, label)
    return mosaic(imgs, n, gap=max(1, model.image_shape[1] // 8)), grid_rect(mc, n, extent)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points (N, 2) lie inside a closed polygon (K, 2) (even-odd rule, a ray cast to +x per edge,
    vectorised over the points): a lasso or a rectangle drawn on the map. -> (N,) bool."""
    xy = np.asarray(xy, np.float64)
    poly = np.asarray(polygon, np.float64)
    inside = np.zeros(len(xy), bool)
    if len(poly) < 3 or len(xy) == 0:
        return inside
    x, y = xy[:, 0], xy[:, 1]
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, 0)):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


class PointIndex:
    """A spatial index of map points (a k-d tree, scipy's cKDTree): the point under the mouse among a
    million in microseconds, where scanning them all takes tens of milliseconds."""

    def __init__(self, xy: np.ndarray):
        cKDTree = lazy_import("scipy.spatial").cKDTree

        self.xy = np.asarray(xy, np.float64)
        self.tree = cKDTree(self.xy)

    def nearest(self, x: float, y: float, pixel: tuple[float, float], max_px: float = 8.0) -> int | None:
        """As :func:`nearest_point`: the nearest on screen within ``max_px`` pixels, or None."""
        px, py = pixel
        cand = self.tree.query_ball_point((x, y), max_px * max(px, py))
        if not cand:
            return None
        j = nearest_point(self.xy[cand], x, y, pixel, max_px)
        return None if j is None else int(cand[j])
