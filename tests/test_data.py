import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from helpers.data import (
    VIEWS,
    folder_labels,
    imagenet_label,
    keep_correct,
    list_folder,
    list_photographs,
    load_folder,
    load_images,
    prepare_image,
    sample_images,
)


def test_photographs_exist_and_are_colour():
    photos = list_photographs()
    assert len(photos) == 8
    for path in photos.values():
        with Image.open(path) as img:
            assert img.mode == "RGB" and min(img.size) >= 256


def test_sample_images_first_pass_then_views():
    s = sample_images(8)
    assert s.x.shape == (8, 224, 224, 3) and s.x.dtype == np.float32
    assert s.description == "8 views of 8 photographs" and (s.labels == -1).all()
    more = sample_images(10)
    assert more.description == "10 views of 8 photographs"
    assert more.ids[8] == "skimage/astronaut#view1"
    np.testing.assert_array_equal(more.x[:8], s.x)
    np.testing.assert_array_equal(more.x[8], s.x[0][:, ::-1])  # view 1 is the mirror image
    np.testing.assert_array_equal(sample_images(10).x, more.x)  # deterministic
    with pytest.raises(ValueError, match="n must lie in"):
        sample_images(0)
    with pytest.raises(ValueError, match="n must lie in"):
        sample_images(8 * len(VIEWS) + 1)


def test_prepare_image_crops_the_centre():
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[25:75, 75:125] = 200  # the central 50x50 square
    out = prepare_image(Image.fromarray(arr), (10, 10), crop_fraction=0.5, resize_method="bilinear")
    # Only the crop is seen; its border rows blend with pixels just outside (the filter support).
    assert out.shape == (10, 10, 3) and np.all(out[1:-1, 1:-1] == 200) and out.min() > 100
    with pytest.raises(ValueError, match="mode must be RGB"):
        prepare_image(Image.fromarray(arr[..., 0]), (10, 10), 0.5)
    with pytest.raises(ValueError, match="unknown resize method"):
        prepare_image(Image.fromarray(arr), (10, 10), 0.5, "lanczos")


def _save(path, mode="RGB", size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=120 if mode == "L" else None).save(path)


def test_folder_labels_from_wnids_and_validation_names(tmp_path):
    _save(tmp_path / "n01440764_tench.JPEG")
    _save(tmp_path / "n01443537" / "fish.png")
    _save(tmp_path / "ILSVRC2012_val_00000001.JPEG")
    _save(tmp_path / "holiday.jpg")
    s = load_folder(tmp_path, size=(16, 16))
    labels = dict(zip(s.ids, s.labels.tolist(), strict=True))
    assert labels == {"ILSVRC2012_val_00000001.JPEG": 65, "holiday.jpg": -1,
                      "n01440764_tench.JPEG": 0, "n01443537/fish.png": 1}
    assert s.x.shape == (4, 16, 16, 3)
    assert imagenet_label(tmp_path / "n99999999_unknown.JPEG") == -1


def test_folder_subset_is_seeded(tmp_path):
    for i in range(6):
        _save(tmp_path / f"img{i}.png")
    a, b = load_folder(tmp_path, size=(8, 8), n=3, seed=1), load_folder(tmp_path, size=(8, 8), n=3, seed=1)
    assert a.ids == b.ids and len(a) == 3 and list(a.ids) == sorted(a.ids)


def test_grayscale_and_rgba_policy(tmp_path):
    _save(tmp_path / "gray.png", "L")
    _save(tmp_path / "alpha.png", "RGBA")
    with pytest.warns(UserWarning, match="2 of 2 images were not RGB"):
        s = load_folder(tmp_path, size=(8, 8))
    gray = s.x[s.ids.index("gray.png")]
    assert np.all(gray == 120)
    with pytest.raises(ValueError, match="alpha.png: image mode RGBA is not RGB"):
        load_folder(tmp_path, size=(8, 8), color_policy="error")


def test_unreadable_files_raise_or_are_skipped(tmp_path):
    _save(tmp_path / "good.jpg", size=(300, 300))
    full = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read image .*text.png"):
        load_folder(tmp_path, size=(8, 8))
    with pytest.warns(UserWarning, match=r"skipping 2 unreadable images of 3 in .*: text.png .*truncated.jpg"):
        s = load_folder(tmp_path, size=(8, 8), on_error="skip")
    assert s.ids == ("good.jpg",)
    (tmp_path / "text.png").unlink()
    with pytest.raises(ValueError, match="truncated.jpg"):
        load_folder(tmp_path, size=(8, 8))


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no JPEG or PNG images"):
        load_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown on_error"):
        load_folder(tmp_path, on_error="ignore")



def _png(path, arr, color_type):
    """Write a PNG by hand (independent of Pillow's encoder) from an 8- or 16-bit ``arr``; PNG colour
    type 0 (grey), 2 (RGB), 4 (grey + alpha) or 6 (RGBA)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\0" + row.astype(arr.dtype.newbyteorder(">")).tobytes() for row in arr)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8 * arr.dtype.itemsize, color_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def _gradient16(h=32, w=48):
    """uint16 grey gradient covering 0..65535 (both ends present)."""
    return np.round(np.linspace(0, 65535, h * w)).astype(np.uint16).reshape(h, w)


def _grey_rgb(grey):
    return np.repeat(np.asarray(grey, np.float32)[..., None], 3, axis=2)


def test_16bit_grey_png_is_scaled_not_saturated(tmp_path):
    g = _gradient16()
    g[0, 8], g[-1, 39] = 0, 65535  # black and white inside the centre crop
    _png(tmp_path / "a" / "grey16.png", g, 0)
    with pytest.warns(UserWarning, match="1 of 1 images were not RGB"):
        s = load_folder(tmp_path / "a", size=(32, 32), crop_fraction=1.0)
    # The 32x32 centre crop of the 32x48 image at its own size: no resampling, just value / 257.
    np.testing.assert_allclose(s.x[0], _grey_rgb(g[:, 8:40] / 257), rtol=0, atol=1e-4)
    assert s.x.dtype == np.float32 and s.x[0].min() == 0 and s.x[0].max() == 255
    # Resized: the same as the picture stored as 8-bit grey, up to 8-bit rounding.
    _png(tmp_path / "b" / "grey8.png", np.round(g / 257).astype(np.uint8), 0)
    with pytest.warns(UserWarning, match="not RGB"):
        x16 = load_folder(tmp_path / "a", size=(12, 12)).x[0]
    with pytest.warns(UserWarning, match="not RGB"):
        x8 = load_folder(tmp_path / "b", size=(12, 12)).x[0]
    assert np.abs(x16 - x8).max() <= 1.0 and x16.min() >= 0 and x16.max() <= 255
    with pytest.raises(ValueError, match="grey16.png: image mode I;16 is not RGB"):
        load_folder(tmp_path / "a", size=(8, 8), color_policy="error")


@pytest.mark.parametrize("dtype", [np.uint16, ">u2", np.int32])  # Pillow modes I;16, I;16B, I
def test_prepare_image_scales_16bit_grey_modes(dtype):
    g = _gradient16(20, 20)
    img = Image.fromarray(g.astype(dtype))
    assert img.mode in ("I;16", "I;16B", "I")
    out = prepare_image(img, (20, 20), crop_fraction=1.0)
    np.testing.assert_allclose(out, _grey_rgb(g / 257), rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="must lie in 0..65535"):
        prepare_image(Image.fromarray(np.full((4, 4), 70000, np.int32)), (4, 4), 1.0)


def test_16bit_colour_pngs_are_reduced_by_pillow(tmp_path):
    """Pillow opens 16-bit RGB, RGBA and grey+alpha PNGs as 8-bit (the high byte): never saturated."""
    g = _gradient16()
    rgb = np.stack([g, g // 2, 65535 - g], axis=-1)
    alpha = np.full_like(g, 30000)[..., None]
    _png(tmp_path / "rgb16.png", rgb, 2)
    _png(tmp_path / "rgba16.png", np.concatenate([rgb, alpha], axis=-1), 6)
    _png(tmp_path / "la16.png", np.concatenate([g[..., None], alpha], axis=-1), 4)
    with pytest.warns(UserWarning, match="2 of 3 images were not RGB"):
        s = load_folder(tmp_path, size=(32, 32), crop_fraction=1.0)
    assert s.ids == ("la16.png", "rgb16.png", "rgba16.png")
    crop = rgb[:, 8:40] / 257
    for x, want in zip(s.x, (_grey_rgb(g[:, 8:40] / 257), crop, crop), strict=True):
        assert np.abs(x - want).max() < 1.0


def test_palette_bilevel_grey_alpha_and_cmyk_files(tmp_path):
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.paste(1, (0, 0, 8, 4))
    pal.save(tmp_path / "palette.png", transparency=bytes([0, 128]))  # per-entry alpha: a tRNS chunk
    Image.new("LA", (8, 8), (90, 7)).save(tmp_path / "grey_alpha.png")
    Image.new("1", (8, 8), 1).save(tmp_path / "bilevel.png")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # pure red
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = load_folder(tmp_path, size=(8, 8), crop_fraction=1.0)
    # One warning, the count: Pillow's own warning about dropping palette transparency is avoided.
    assert [str(w.message) for w in caught] == ["4 of 4 images were not RGB and were converted to RGB"]
    x = dict(zip(s.ids, s.x, strict=True))
    assert np.all(x["palette.png"][:4] == [200, 100, 50]) and np.all(x["palette.png"][4:] == [10, 20, 30])
    assert np.all(x["grey_alpha.png"] == 90) and np.all(x["bilevel.png"] == 255)
    assert np.abs(x["cmyk.jpg"] - [255, 0, 0]).max() <= 3
    with pytest.raises(ValueError, match="bilevel.png: image mode 1 is not RGB"):
        load_folder(tmp_path, size=(8, 8), color_policy="error")


def test_rgb_results_match_pillow_resize(tmp_path):
    """8-bit RGB files are resized by Pillow in 8 bits with the documented crop box, as before."""
    arr = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "rgb.png")
    s = load_folder(tmp_path, size=(20, 20))
    side = 50 * 0.875  # crop_fraction of the short side, centred
    box = ((70 - side) / 2, (50 - side) / 2, (70 + side) / 2, (50 + side) / 2)
    expected = Image.fromarray(arr).resize((20, 20), Image.Resampling.BICUBIC, box=box)
    np.testing.assert_array_equal(s.x[0], np.asarray(expected, np.float32))


def test_n_must_be_a_whole_number_within_the_folder(tmp_path):
    for i in range(2):
        _save(tmp_path / f"img{i}.png")
    assert len(load_folder(tmp_path, size=(8, 8))) == 2  # n=None: every image
    assert len(load_folder(tmp_path, size=(8, 8), n=np.int64(2))) == 2
    with pytest.raises(ValueError, match=r"n=5 images requested but folder .* holds only 2"):
        load_folder(tmp_path, size=(8, 8), n=5)
    for bad in ("two", 2.5, True):
        with pytest.raises(TypeError, match="n must be an integer, got"):
            load_folder(tmp_path, size=(8, 8), n=bad)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        load_folder(tmp_path, size=(8, 8), n=0)
    with pytest.raises(TypeError, match="n must be an integer, got"):
        sample_images(2.5)


def _bad_files(folder):
    """name -> bytes of files that are not readable images."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "full.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "full.jpg")
    png, jpg = (folder / "full.png").read_bytes(), (folder / "full.jpg").read_bytes()
    (folder / "full.png").unlink()
    (folder / "full.jpg").unlink()
    return {"empty.jpg": b"", "text.jpg": b"just some notes\n", "truncated.png": png[: len(png) // 2],
            "truncated.jpg": jpg[: len(jpg) // 2]}


@pytest.mark.parametrize("name", ["empty.jpg", "text.jpg", "truncated.png", "truncated.jpg"])
def test_bad_file_is_an_error_naming_it(tmp_path, name):
    _save(tmp_path / "good.png")
    (tmp_path / name).write_bytes(_bad_files(tmp_path)[name])
    with pytest.raises(ValueError, match=f"cannot read image .*{name}"):
        load_folder(tmp_path, size=(8, 8))


def test_skipped_files_are_counted(tmp_path):
    _save(tmp_path / "good.png")
    for name, data in _bad_files(tmp_path).items():
        (tmp_path / name).write_bytes(data)
    with pytest.warns(UserWarning, match=r"skipping 4 unreadable images of 5 in .*empty.jpg.*truncated.png"):
        s = load_folder(tmp_path, size=(8, 8), on_error="skip")
    assert s.ids == ("good.png",)


def test_oversized_images_are_errors(tmp_path, monkeypatch):
    # A header claiming 100000 x 100000 pixels: refused before any decoding.
    _png(tmp_path / "a" / "huge.png", np.zeros((1, 1), np.uint8), 0)
    data = bytearray((tmp_path / "a" / "huge.png").read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "a" / "huge.png").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"huge.png: Image size \(10000000000 pixels\)"):
        load_folder(tmp_path / "a", size=(8, 8))
    # Between 1x and 2x Image.MAX_IMAGE_PIXELS Pillow only warns; the loader refuses it too.
    _save(tmp_path / "b" / "big.png", size=(40, 30))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValueError, match=r"big.png: Image size \(1200 pixels\) exceeds limit of 1000"):
        load_folder(tmp_path / "b", size=(8, 8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1200)
    assert len(load_folder(tmp_path / "b", size=(8, 8))) == 1


def test_folder_that_is_a_file_or_empty(tmp_path):
    _save(tmp_path / "one.png")
    with pytest.raises(ValueError, match="one.png is a file, not a folder"):
        load_folder(tmp_path / "one.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no JPEG or PNG images in folder .*empty"):
        load_folder(tmp_path / "empty")


def test_imagenetv2_folders_are_class_indices(tmp_path):
    _save(tmp_path / "0" / "a.jpeg")
    _save(tmp_path / "417" / "b.jpeg")
    _save(tmp_path / "999" / "c.png")
    s = load_folder(tmp_path, size=(8, 8))
    assert dict(zip(s.ids, s.labels.tolist(), strict=True)) == {"0/a.jpeg": 0, "417/b.jpeg": 417, "999/c.png": 999}
    assert folder_labels(tmp_path, list_folder(tmp_path))[1] == "imagenetv2"
    _save(tmp_path / "extra" / "n01440764.png")  # a folder that is not a class index: not ImageNetV2
    assert folder_labels(tmp_path, list_folder(tmp_path))[1] == "imagenet names"


def test_labels_csv_labels_every_image(tmp_path):
    _save(tmp_path / "x" / "one.png")
    _save(tmp_path / "two.jpg")
    _save(tmp_path / "n01440764_tench.JPEG")  # labels.csv wins over names
    (tmp_path / "labels.csv").write_text("file,label\nx/one.png,7\ntwo.jpg,0\nn01440764_tench.JPEG,3\ngone.png,1\n")
    s = load_folder(tmp_path, size=(8, 8))
    assert dict(zip(s.ids, s.labels.tolist(), strict=True)) == {"n01440764_tench.JPEG": 3, "two.jpg": 0,
                                                                 "x/one.png": 7}
    (tmp_path / "labels.csv").write_text("file,label\nx/one.png,7\ntwo.jpg,0\n")
    with pytest.raises(ValueError, match=r"1 images are not listed in .*labels.csv.*n01440764_tench"):
        load_folder(tmp_path, size=(8, 8))
    (tmp_path / "labels.csv").write_text("path,class\nx/one.png,7\n")
    with pytest.raises(ValueError, match="columns 'file' and 'label'"):
        load_folder(tmp_path, size=(8, 8))
    (tmp_path / "labels.csv").write_text("file,label\nx/one.png,cat\n")
    with pytest.raises(ValueError, match="line 2: label 'cat' is not a class index"):
        load_folder(tmp_path, size=(8, 8))


class _Predicts:
    """A stand-in model whose prediction is the image's red value at the top-left pixel."""

    input_size, crop_fraction, resize_method, n_classes = (8, 8), 1.0, "bilinear", 10

    def predict(self, x, batch_size=32):
        return x[:, 0, 0, 0].round().astype(int), None


def test_only_correct_keeps_the_correctly_classified_and_counts_the_dropped(tmp_path):
    for name, red in (("a.png", 5), ("b.png", 9), ("c.png", 7)):  # labels 5, 6, 7: b is misclassified
        Image.new("RGB", (8, 8), (red, 100, 100)).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("file,label\na.png,5\nb.png,6\nc.png,7\n")
    s = load_images(tmp_path, _Predicts(), None, only_correct=True)
    assert s.ids == ("a.png", "c.png") and s.labels.tolist() == [5, 7]
    assert s.description.endswith("1 of 3 misclassified dropped")
    kept, keep = keep_correct(load_images(tmp_path, _Predicts(), None), _Predicts())
    assert keep.tolist() == [True, False, True] and kept.ids == s.ids
    assert load_images(tmp_path, _Predicts(), None, indices=np.array([2, 0])).ids == ("c.png", "a.png")
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(ValueError, match="only_correct needs a label for every image: 3 of 3 have none"):
        load_images(tmp_path, _Predicts(), None, only_correct=True)


def test_views_of_one_photograph_share_its_photograph():
    from helpers.data import photograph_of

    assert photograph_of("skimage/chelsea") == "skimage/chelsea"
    assert photograph_of("skimage/chelsea#view3") == "skimage/chelsea"
    assert photograph_of("n01440764_tench.JPEG") == "n01440764_tench.JPEG"


# Photographs as cameras and editors write them: EXIF orientation, several frames, links, upper-case names.
def _upright(h=40, w=60):
    """An 8-bit RGB picture whose every row and column differs (a rotation or a mirror image shows)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 6, (xx + 2 * yy) * 2], axis=-1).astype(np.uint8)


# EXIF orientation -> how a camera stores an upright picture (the inverse of what a viewer applies)
_STORED = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
           7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def _save_oriented(path, upright, orientation, **kwargs):
    img = Image.fromarray(upright)
    exif = Image.Exif()
    exif[0x0112] = orientation
    (img if _STORED[orientation] is None else img.transpose(_STORED[orientation])).save(path, exif=exif, **kwargs)


def test_a_jpeg_with_exif_orientation_6_is_loaded_upright(tmp_path):
    upright = _upright()
    Image.fromarray(upright).save(tmp_path / "a_upright.jpg", quality=95)
    _save_oriented(tmp_path / "b_sideways.jpg", upright, 6, quality=95)
    with Image.open(tmp_path / "b_sideways.jpg") as raw:
        assert raw.size == (40, 60) and raw.getexif()[0x0112] == 6  # stored on its side, as a camera does
        as_stored = prepare_image(raw.convert("RGB"), (24, 24), 1.0)
    s = load_folder(tmp_path, size=(24, 24), crop_fraction=1.0)
    assert s.ids == ("a_upright.jpg", "b_sideways.jpg")
    assert np.abs(s.x[1] - s.x[0]).mean() < 2  # the upright copy, within JPEG's loss
    assert np.abs(as_stored - s.x[0]).mean() > 20  # what the loader gave before: the picture on its side


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_undone(tmp_path, orientation):
    upright = _upright(30, 50)
    _save_oriented(tmp_path / "a.png", upright, orientation)  # PNG keeps EXIF too (an eXIf chunk), losslessly
    s = load_folder(tmp_path, size=(30, 30), crop_fraction=1.0, resize_method="bilinear")
    np.testing.assert_array_equal(s.x[0], upright[:, 10:40].astype(np.float32))


def test_an_animated_png_is_an_error_naming_it_and_a_multi_picture_jpeg_gives_its_first_picture(tmp_path):
    upright = _upright()
    frames = [Image.fromarray(upright), Image.fromarray(255 - upright)]
    (tmp_path / "a").mkdir()
    frames[0].save(tmp_path / "a" / "animated.png", save_all=True, append_images=frames[1:])
    _save(tmp_path / "a" / "still.png")
    with pytest.raises(ValueError, match=r"cannot read image .*animated.png: .*2 frames"):
        load_folder(tmp_path / "a", size=(8, 8))
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable images of 2 .*animated.png \(.*2 frames"):
        assert load_folder(tmp_path / "a", size=(8, 8), on_error="skip").ids == ("still.png",)
    # A camera's multi-picture JPEG (MPO): the first picture is the photograph, the others previews or views
    (tmp_path / "b").mkdir()
    frames[0].save(tmp_path / "b" / "camera.jpg", format="MPO", save_all=True, append_images=frames[1:], quality=95)
    with Image.open(tmp_path / "b" / "camera.jpg") as img:
        assert img.format == "MPO" and img.n_frames == 2
    s = load_folder(tmp_path / "b", size=(24, 24), crop_fraction=1.0)
    assert np.abs(s.x[0] - prepare_image(frames[0], (24, 24), 1.0)).mean() < 2


def test_upper_case_extensions_are_images(tmp_path):
    for name in ("a.JPG", "b.PNG", "c.jpeg", "d.JPEG", "e.Jpg"):
        _save(tmp_path / name)
    (tmp_path / "f.GIF").write_bytes(b"GIF89a")  # not a JPEG/PNG name: not listed
    assert load_folder(tmp_path, size=(8, 8)).ids == ("a.JPG", "b.PNG", "c.jpeg", "d.JPEG", "e.Jpg")


def test_a_zero_byte_file_is_an_error_saying_it_is_empty(tmp_path):
    _save(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read image .*empty.png: the file is empty \(0 bytes\)"):
        load_folder(tmp_path, size=(8, 8))


def test_symlinked_folders_are_followed_once(tmp_path):
    _save(tmp_path / "elsewhere" / "n01440764" / "tench.png")
    _save(tmp_path / "data" / "top.png")
    (tmp_path / "data" / "n01440764").symlink_to(tmp_path / "elsewhere" / "n01440764", target_is_directory=True)
    s = load_folder(tmp_path / "data", size=(8, 8))
    assert dict(zip(s.ids, s.labels.tolist(), strict=True)) == {"n01440764/tench.png": 0, "top.png": -1}
    (tmp_path / "link").symlink_to(tmp_path / "data", target_is_directory=True)  # the folder itself a link
    assert load_folder(tmp_path / "link", size=(8, 8)).ids == s.ids
    # A link back up the tree (a loop) and a second link to a listed folder: listed once, with a warning naming them
    (tmp_path / "data" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "data" / "same").symlink_to(tmp_path / "elsewhere" / "n01440764", target_is_directory=True)
    with pytest.warns(UserWarning, match=r"2 folder links point to folders listed already.*loop.*same"):
        assert load_folder(tmp_path / "data", size=(8, 8)).ids == s.ids


def test_exif_orientation_is_undone_on_16bit_grey_and_palette_files_too(tmp_path):
    g = _gradient16(30, 50)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(g).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "grey16.png", exif=exif)
    palette = Image.fromarray(_upright(30, 50)).quantize(64)
    palette.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "palette.png", exif=exif)
    with pytest.warns(UserWarning, match="2 of 2 images were not RGB"):
        s = load_folder(tmp_path, size=(30, 30), crop_fraction=1.0, resize_method="bilinear")
    np.testing.assert_allclose(s.x[0], _grey_rgb(g[:, 10:40] / 257), rtol=0, atol=1e-3)
    np.testing.assert_array_equal(s.x[1], np.asarray(palette.convert("RGB"), np.float32)[:, 10:40])


# Files whose right answer is an image, each a uniform colour so that the expected pixel is known.
def uniform(mode: str, value) -> Image.Image:
    return Image.new(mode, (24, 20), value)


def palette() -> Image.Image:
    img = uniform("P", 3)
    img.putpalette([0, 0, 0] * 3 + [200, 40, 10] + [0, 0, 0] * 252)
    img.info["transparency"] = 0
    return img


HANDLED = {  # name: (image, file name, expected RGB of every pixel)
    "16-bit grey": (uniform("I;16", 40000), "a.png", [40000 / 257] * 3),
    "8-bit grey": (uniform("L", 77), "a.png", [77] * 3),
    "grey + alpha": (uniform("LA", (77, 10)), "a.png", [77] * 3),
    "1-bit": (uniform("1", 1), "a.png", [255] * 3),
    "palette with transparency": (palette(), "a.png", [200, 40, 10]),
    "RGBA": (uniform("RGBA", (10, 20, 30, 0)), "a.png", [10, 20, 30]),
    "CMYK JPEG": (uniform("CMYK", (0, 0, 0, 0)), "a.jpg", [255, 255, 255]),
}


@pytest.mark.parametrize("name", HANDLED)
def test_non_rgb_files_give_the_right_pixels(tmp_path, name):
    img, file_name, expected = HANDLED[name]
    img.save(tmp_path / file_name)
    with pytest.warns(UserWarning, match="1 of 1 images were not RGB"):
        loaded = load_folder(tmp_path, size=(8, 8))
    np.testing.assert_allclose(loaded.x[0], np.broadcast_to(np.float32(expected), (8, 8, 3)), atol=1.0)


def test_an_image_below_the_minimum_size_is_counted_and_named(odd_folders):
    with pytest.warns(UserWarning, match=r"1 of 2 images are smaller than 32 px on their short side .*dot.png \(1x1\)"):
        load_folder(odd_folders["1x1"], size=(16, 16))


def test_a_dangling_link_is_skipped_like_any_unreadable_file(odd_folders):
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable images of 2 .*gone.png"):
        assert load_folder(odd_folders["dangling link"], size=(16, 16), on_error="skip").ids == ("good.png",)


def test_a_labels_csv_with_a_byte_order_mark_is_read(odd_folders):
    assert load_folder(odd_folders["BOM"], size=(16, 16)).labels.tolist() == [3]
