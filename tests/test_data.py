import numpy as np
import pytest
from PIL import Image

from helpers.data import VIEWS, imagenet_label, list_photographs, load_folder, prepare_image, sample_images


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
    with pytest.warns(UserWarning, match="skipping unreadable image"):
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
