import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.figures import label_text, short_name
from helpers.plotting import SINGLE_COLUMN, Cell, figure, image_grid, save_figure, save_figures, use_style


def test_save_figure_writes_pdf_and_png_atomically(tmp_path):
    use_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = save_figure(fig, "line", tmp_path / "out")
    assert [p.name for p in paths] == ["line.pdf", "line.png"]
    assert paths[0].read_bytes().startswith(b"%PDF") and paths[1].read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["line.pdf", "line.png"]
    first = paths[0].read_bytes()
    save_figure(fig, "line", tmp_path / "out")
    assert paths[0].read_bytes() == first  # re-runs give identical PDFs
    plt.close(fig)


def test_image_grid_layout():
    img = np.full((8, 8, 3), 100.0)
    cells = [[Cell(img, "a"), Cell(img, "b", np.zeros((8, 8)))], [Cell(img), Cell(img)]]
    fig = image_grid(cells, ["left", "right"], ["r1", "r2"], colorbar_label="H")
    assert len(fig.axes) == 5  # four panels and the colour bar
    assert fig.axes[0].get_title() == "a" and fig.axes[0].get_ylabel() == "r1"
    plt.close(fig)


def test_label_text(lite0):
    assert short_name(lite0, 967) == "espresso"
    assert label_text(lite0, 282, 0.384) == "tiger cat (0.38)"
    assert short_name(lite0, 0, width=3) == "te…"


def test_a_figure_of_one_of_several_models_names_it(tmp_path):
    use_style()
    fig, _ = figure(SINGLE_COLUMN, 2)
    assert [p.name for p in save_figures({"lite0": fig}, "f", tmp_path)] == ["f.pdf", "f.png"]
    assert fig.get_suptitle() == ""
    two = {"lite0": figure(SINGLE_COLUMN, 2)[0], "lite2": figure(SINGLE_COLUMN, 2)[0]}
    assert [p.name for p in save_figures(two, "f", tmp_path)] == ["f_lite0.pdf", "f_lite0.png", "f_lite2.pdf",
                                                                 "f_lite2.png"]
    assert [f.get_suptitle() for f in two.values()] == ["lite0", "lite2"]
    with pytest.raises(ValueError, match="no figure"):
        save_figures({}, "f", tmp_path)
