"""The notebooks' image protocol (helpers.data.image_protocol): clean accuracy first, misclassified
images dropped on labelled sets (only_correct), the number dropped always stated."""

import numpy as np
import pytest

from helpers.data import ImageSet, image_protocol
from helpers.metrics import wilson_interval


class _Predicts:
    """A stand-in model whose prediction is the image's red value at the top-left pixel."""

    def predict(self, x, batch_size=32):
        return x[:, 0, 0, 0].round().astype(int), None


def _images(predicted, labels, ids):
    x = np.zeros((len(ids), 4, 4, 3), np.float32)
    x[:, 0, 0, 0] = predicted
    return ImageSet(x, tuple(ids), np.asarray(labels, np.int32), f"{len(ids)} images")


def test_labelled_images_report_accuracy_first_and_drop_the_misclassified():
    images = _images([1, 2, 3, 9, 5], [1, 2, 3, 4, 5], "abcde")  # d is misclassified
    for only_correct in (None, True):
        kept, lines = image_protocol(images, _Predicts(), only_correct)
        assert kept.ids == ("a", "b", "c", "e")
        lo, hi = wilson_interval(4, 5)  # one view per photograph: plain Wilson
        assert lines == [f"clean top-1 accuracy: 4/5 = 80.0% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%)",
                         "only_correct: 1 of 5 misclassified images dropped"]
        assert kept.description == "5 images, 1 of 5 misclassified dropped"
    kept, lines = image_protocol(images, _Predicts(), False)
    assert kept is images and lines[1] == "only_correct off: 0 of 5 dropped (1 misclassified kept)"


def test_views_widen_the_accuracy_interval_and_unlabelled_images_pass_unchanged():
    # 3 photographs x 2 views, both views of photograph q misclassified.
    images = _images([1, 1, 7, 7, 3, 3], [1, 1, 2, 2, 3, 3], ["p", "p#view1", "q", "q#view1", "r", "r#view1"])
    lines = image_protocol(images, _Predicts(), None)[1]
    lo, hi = wilson_interval(2, 3)  # the views agree within each photograph: n_eff = 3
    assert lines[0] == f"clean top-1 accuracy: 4/6 = 66.7% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%, 3 photographs)"
    unlabelled = _images([1, 2], [-1, -1], "ab")
    kept, lines = image_protocol(unlabelled, _Predicts(), None)
    assert kept is unlabelled
    assert lines == ["clean top-1 accuracy: not measured (images without labels); 0 of 2 dropped"]
    with pytest.raises(ValueError, match="only_correct = True needs labelled images"):
        image_protocol(unlabelled, _Predicts(), True)
