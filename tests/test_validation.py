import numpy as np
import pytest

from helpers.validation import (
    accept_dark_images,
    check_batch_size,
    check_choice,
    check_images,
    check_labels,
    check_theta,
)


def test_accepts_float_and_uint8_and_returns_float32():
    x = np.full((2, 4, 4, 3), 7, np.uint8)
    out = check_images(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert check_images(np.full((1, 2, 2, 3), 255.0)).max() == 255.0


@pytest.mark.parametrize("x, message", [
    (np.zeros((4, 4, 3)), "rank 4"),
    (np.zeros((0, 4, 4, 3)), "empty batch"),
    (np.zeros((1, 4, 4, 1)), "grayscale"),
    (np.zeros((1, 4, 4, 4)), "RGBA"),
    (np.zeros((1, 4, 4, 2)), "3 channels"),
    (np.full((1, 2, 2, 3), np.nan), "NaN"),
    (np.full((1, 2, 2, 3), np.inf), "NaN or Inf"),
    (np.full((1, 2, 2, 3), 256.0), r"\[0, 255\]"),
    (np.full((1, 2, 2, 3), -1.0), r"\[0, 255\]"),
])
def test_rejects_bad_images(x, message):
    with pytest.raises(ValueError, match=message):
        check_images(x)


def test_rejects_wrong_type_dtype_and_size():
    with pytest.raises(TypeError, match="numpy array"):
        check_images([[[[0, 0, 0]]]])
    with pytest.raises(TypeError, match="numeric dtype"):
        check_images(np.zeros((1, 2, 2, 3), bool))
    with pytest.raises(ValueError, match="224x224"):
        check_images(np.zeros((1, 8, 8, 3)), size=(224, 224))


def test_theta_labels_choice_batch_size():
    assert check_theta(0) == 0.0 and check_theta(1) == 1.0
    for bad in (-0.1, 1.01, float("nan")):
        with pytest.raises(ValueError, match="theta"):
            check_theta(bad)
    with pytest.raises(TypeError, match="theta"):
        check_theta("0.1")
    assert check_labels([0, 4], 2, 5).dtype == np.int32
    with pytest.raises(ValueError, match="class indices"):
        check_labels([0, 5], 2, 5)
    with pytest.raises(ValueError, match="shape"):
        check_labels([0], 2, 5)
    with pytest.raises(TypeError, match="integer"):
        check_labels([0.5, 1.0], 2, 5)
    assert check_choice("a", ("a", "b"), "thing") == "a"
    with pytest.raises(ValueError, match="unknown thing 'c'; expected one of 'a', 'b'"):
        check_choice("c", ("a", "b"), "thing")
    with pytest.raises(ValueError, match="batch_size"):
        check_batch_size(0)


def test_unit_range_data_is_rejected_unless_dark_images_are_accepted(rng):
    x01 = rng.random((2, 4, 4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"looks like \[0, 1\] data.*x \* 255"):
        check_images(x01)
    with pytest.raises(ValueError, match="accept_dark_images"):
        check_images(np.zeros((1, 2, 2, 3), np.uint8))  # all black: also suspicious
    np.testing.assert_array_equal(check_images(x01 * 255), x01 * 255)
    with accept_dark_images():
        np.testing.assert_array_equal(check_images(x01), x01)
    with pytest.raises(ValueError, match="looks like"):  # the opt-out ends with its block
        check_images(x01)
