"""Notebook parameters: every notebook's parameters are in the registry, listed by papermill with a
type, checked right after the parameters cell, and bad values get an error naming the parameter."""

import ast
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from conftest import Bad, cases

from helpers.attacks import ATTACKS
from helpers.emphasis import COLORMAPS, OVERLAY_ORDERS
from helpers.models import MODEL_NAMES
from helpers.params import CHANNEL_ORDERS, LINF_ATTACKS, PARAMS, check_params, study_models
from helpers.saliency import SALIENCY_METHODS
from helpers.transforms import NOISES, ZERO_MEAN_REFERENCES

TESTS = Path(__file__).resolve().parent
NOTEBOOKS = TESTS.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def parameters_cell(path: Path) -> tuple[int, str]:
    """Index and source of the cell tagged ``parameters``."""
    cells = nbformat.read(path, as_version=4).cells
    return next((i, c.source) for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))


def assigned_names(source: str) -> list[str]:
    """The names assigned (with or without an annotation) in a parameters cell, in order."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def defaults(path: Path) -> dict:
    """A notebook's default parameter values: its parameters cell, executed."""
    namespace: dict = {}
    exec(parameters_cell(path)[1], namespace)
    return {name: namespace[name] for name in assigned_names(parameters_cell(path)[1])}


@pytest.fixture
def in_notebooks(monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)  # notebooks run there (make reproduce, papermill --cwd notebooks)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_parameter_is_in_the_registry(path):
    names = assigned_names(parameters_cell(path)[1])
    assert names
    assert [n for n in names if n not in PARAMS] == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_defaults_pass(path, in_notebooks):
    params = defaults(path)
    assert check_params({**params, "In": [], "Out": {}, "__name__": "__main__"}) == params


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_parameters_are_checked_in_the_next_cell(path):
    index, _ = parameters_cell(path)
    cell = nbformat.read(path, as_version=4).cells[index + 1]
    assert cell.cell_type == "code"
    assert "check_params(globals())" in cell.source


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_papermill_lists_every_parameter_with_its_type(path):
    listed = pm.inspect_notebook(str(path))
    assert list(listed) == assigned_names(parameters_cell(path)[1])
    assert {name: p["inferred_type_name"] for name, p in listed.items() if p["inferred_type_name"] in (None, "None")} \
        == {}


def test_other_names_are_ignored():
    assert check_params({"In": [], "Out": {}, "np": object(), "x": "anything"}) == {}


def test_check_is_fast(in_notebooks):
    every = [defaults(path) for path in PATHS]  # each notebook's own: fpr goes with notebook 08's calibration_images
    start = time.perf_counter()
    for params in every:
        check_params(params)
    assert time.perf_counter() - start < 1.0


def _names(choices) -> list[str]:
    return [repr(c) for c in choices]


# (name, bad value, error type, what the message must also contain: the value, the valid values)
BAD = [
    ("attacks", ["nosuch"], ValueError, ["'nosuch'", *_names(ATTACKS)]),
    ("attacks", "fgsm", TypeError, _names(ATTACKS)),
    ("attacks", [], ValueError, _names(ATTACKS)),
    ("attacks", ["fgsm", "fgsm"], ValueError, ["twice"]),
    ("attack_settings", "paperr", ValueError, ["'paperr'", "'default'", "'paper'"]),
    ("attack_params", {"fgsmm": {"eps": 0.01}}, ValueError, ["'fgsmm'", *_names(ATTACKS)]),
    ("attack_params", {"fgsm": 0.01}, TypeError, ["'fgsm'"]),
    ("attack_params", [], TypeError, ["dict"]),
    ("n_images", "two", TypeError, ["'two'", "integer >= 1"]),
    ("n_images", 2.0, TypeError, ["integer >= 1"]),
    ("n_images", True, TypeError, ["integer >= 1"]),
    ("n_images", 0, ValueError, ["integer >= 1"]),
    ("n_images", 10_000, ValueError, ["'samples'"]),
    ("batch_size", 0, ValueError, ["integer >= 1"]),
    ("cost_images", "32", TypeError, ["integer >= 1"]),
    ("seed", -1, ValueError, ["[0, 2**32 - 1]"]),
    ("eps", "0.01", TypeError, ["'0.01'", "(0, 1]"]),
    ("eps", 2, ValueError, ["(0, 1]", "2/255 is 2 grey levels"]),
    ("eps", 0, ValueError, ["(0, 1]"]),
    ("fpr", "0.05", TypeError, ["[0, 1)"]),
    ("fpr", 1.0, ValueError, ["[0, 1)"]),
    ("fpr", float("nan"), ValueError, ["[0, 1)"]),
    ("theta", 1.5, ValueError, ["[0, 1]"]),
    ("thetas", [], ValueError, ["[0, 1]"]),
    ("thetas", [0.1, -0.1], ValueError, ["-0.1", "[0, 1]"]),
    ("thetas", 0.1, TypeError, ["list"]),
    ("roc_thetas", ["0.1"], TypeError, ["'0.1'"]),
    ("noises", ["none", "blur"], ValueError, ["'blur'", *_names(NOISES)]),
    ("colormap", "viridis", ValueError, _names(COLORMAPS)),
    ("overlay_order", "fine", ValueError, _names(OVERLAY_ORDERS)),
    ("saliency_method", "scorecam", ValueError, ["'scorecam'", *_names(SALIENCY_METHODS)]),
    ("saliency_method", None, TypeError, _names(SALIENCY_METHODS)),
    ("zero_mean_reference", "black", ValueError, _names(ZERO_MEAN_REFERENCES)),
    ("channel_order", "RGB", ValueError, _names(CHANNEL_ORDERS)),
    ("sweep_attacks", ["cw_l2"], ValueError, ["'cw_l2'", *_names(LINF_ATTACKS)]),
    ("sweep_eps_255", [1, 0], ValueError, ["(0, 255]"]),
    ("sweep_eps_255", [2, 510], ValueError, ["510", "grey levels"]),
    ("squeezers", ["bit_depth:9"], ValueError, ["'bit_depth:9'", "1..8"]),
    ("squeezers", ["median:2x3"], ValueError, ["'median:2x3'", "square"]),
    ("squeezers", ["nlm:10-3-4"], ValueError, ["'nlm:10-3-4'", "odd"]),
    ("squeezers", "bit_depth:5", TypeError, ["list"]),
    ("joint", ["blur:3"], ValueError, ["'blur:3'", "'bit_depth:B'"]),
    ("model", "vgg", ValueError, ["'vgg'", *_names(MODEL_NAMES), ".keras"]),
    ("model", "missing.keras", ValueError, ["missing.keras", "not found"]),
    ("weights", "missing.h5", ValueError, ["missing.h5", "not found", "'imagenet'"]),
    ("model_options", {"preproc": "tf"}, ValueError, ["'preproc'", "'preprocessing'", "'output'"]),
    ("image_source", "no/such/folder", ValueError, [str(Path("no/such/folder").resolve()), "'samples'"]),
    ("figures_dir", None, TypeError, ["None", "folder"]),
    ("cache_dir", 3, TypeError, ["folder"]),
    ("results_dir", Path("x"), TypeError, ["folder"]),
    ("calibration_images", 0, ValueError, ["integer >= 2"]),
    ("calibration_images", 1, ValueError, ["integer >= 2", "two halves"]),
    ("noise", "blur", ValueError, ["'blur'", *_names(NOISES)]),
    ("variants", ["exact"], ValueError, ["'exact'", "'bpda'", "'gradcam'"]),
    ("eps_l2", 0, ValueError, ["L2 budget"]),
    ("cw_confidence", 0.5, ValueError, [">= 1"]),
    ("black_box_eps_255", 300, ValueError, ["grey levels"]),
]
VALID = {"model": "efficientnet_lite0", "weights": "imagenet", "model_options": {}, "image_source": "samples",
         "n_images": 4, "attacks": ["fgsm"], "attack_settings": "default", "attack_params": {}}


@pytest.mark.parametrize(("name", "value", "error", "expected"), BAD, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_value(name, value, error, expected):
    with pytest.raises(error) as info:
        check_params({**VALID, name: value})
    message = str(info.value)
    assert f"parameter {name} = " in message
    assert [s for s in expected if s not in message] == []


@pytest.mark.parametrize(("params", "error", "expected"), [
    ({"attack_params": {"fgsm": {"epss": 0.01}}}, ValueError, ["attack_params", "fgsm", "'epss'", "valid: eps"]),
    ({"attack_params": {"fgsm": {"eps": "0.01"}}}, TypeError, ["attack_params", "'0.01'", "number"]),
    ({"attack_params": {"fgsm": {"eps": 2}}}, ValueError, ["attack_params", "[0, 1] units"]),
    ({"attack_params": {"cw_l2": {"max_iter": 5.0}}}, TypeError, ["attack_params", "max_iter", "integer"]),
    ({"attack_params": {"cw_l2": {"targeted": 1}}}, TypeError, ["attack_params", "targeted", "True or False"]),
    ({"attack_settings": "paper", "attack_params": {"pgd": {"eps_step": -1}}}, ValueError,
     ["attack_params", "pgd", "eps_step"]),
    ({"thetas": [0.0, 0.1], "roc_thetas": [0.3]}, ValueError, ["roc_thetas", "[0.3]", "thetas"]),
    ({"model_options": {"preprocessing": "tf"}}, ValueError, ["model_options", ".keras"]),
    ({"weights": __file__}, ValueError, ["weights", "efficientnet_lite0", "'imagenet'"]),
    ({"model": "efficientnet_lite2", "weights": __file__}, ValueError, ["weights", "efficientnet_lite2", "'imagenet'"]),
    ({"adaptive_budget": {"max_iters": 5}}, ValueError, ["parameter adaptive_budget", "unknown adaptive budget name(s) "
                                                         "['max_iters']", "max_iter"]),
    ({"adaptive_budget": {"n_targets": 10}}, ValueError, ["adaptive_budget", "n_targets is at most 9"]),
    ({"adaptive_budget": {"sweep_factor": 1}}, ValueError, ["adaptive_budget", "sweep_factor"]),
    ({"adaptive_budget": {"losses": ["ce", "hinge"]}}, ValueError, ["adaptive_budget", "losses", "'hinge'"]),
    ({"adaptive_budget": {"untargeted": 1}}, TypeError, ["adaptive_budget", "untargeted must be True or False"]),
    ({"attack_settings": "paper", "adaptive_budget": {"max_iter": 2.5}}, TypeError, ["adaptive_budget", "max_iter"]),
    ({"fpr": 0.0, "calibration_images": 100}, ValueError,
     ["parameters fpr = 0 and calibration_images = 100", "half of them (50)", "fpr x 50 = 0 < 5",
      "fpr to at least 0.1"]),
    ({"fpr": 0.2, "calibration_images": 40}, ValueError,
     ["fpr = 0.2 and calibration_images = 40", "fpr x 20 = 4 < 5", "calibration_images to at least 50"]),
])
def test_bad_combination(params, error, expected):
    with pytest.raises(error) as info:
        check_params({**VALID, **params})
    assert [s for s in expected if s not in str(info.value)] == []


# The cases users hit first, one line each as in test_bad_inputs.py (the full matrix is BAD above).
NOTEBOOK = {
    "attacks: [nosuch]": Bad(lambda e: check_params({"attacks": ["nosuch"]}), ValueError,
                             "parameter attacks = \\['nosuch'\\].*'fgsm', 'bim'"),
    "attack_settings: paperr": Bad(lambda e: check_params({"attack_settings": "paperr"}), ValueError,
                                   "parameter attack_settings = 'paperr'.*'default', 'paper'"),
    "attack_params: {fgsmm: ...}": Bad(lambda e: check_params({"attack_params": {"fgsmm": {"eps": 0.1}}}),
                                       ValueError, "parameter attack_params .*unknown attack 'fgsmm'"),
    "attack_params: {fgsm: {epss}}": Bad(lambda e: check_params({"attack_params": {"fgsm": {"epss": 0.1}}}),
                                         ValueError, r"attack_params .*unknown parameter\(s\) \['epss'\]"),
    "noises: [blur]": Bad(lambda e: check_params({"noises": ["none", "blur"]}), ValueError,
                          "parameter noises .*'blur'.*'color_reverse'"),
    "n_images: two": Bad(lambda e: check_params({"n_images": "two"}), TypeError, "parameter n_images = 'two'"),
    "eps: '0.01'": Bad(lambda e: check_params({"eps": "0.01"}), TypeError, "parameter eps = '0.01'.*2/255"),
    "fpr: '0.05'": Bad(lambda e: check_params({"fpr": "0.05"}), TypeError, r"parameter fpr = '0.05'.*\[0, 1\)"),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK))
def test_bad_notebook_parameter_gets_a_clear_error(env, case):
    with pytest.raises(case.error, match=case.match):
        case.call(env)


def test_a_misspelled_papermill_parameter_is_refused_with_the_closest_name():
    history = ["", "import numpy as np\n", "n_images = 8\nthetas = [0.1]\nseed = 0\n",
               "# Parameters\nn_imagse = 2\nthetaz = [0.9]\n", "check_params(globals())\n"]
    with pytest.raises(ValueError, match=r"'n_imagse' \(did you mean 'n_images'\?\); 'thetaz' \(did you mean "
                                         r"'thetas'\?\)"):
        check_params({"In": history, "n_images": 8, "thetas": [0.1], "seed": 0, "n_imagse": 2, "thetaz": [0.9]})
    history[3] = "# Parameters\nn_images = 2\n"  # a declared name passes
    assert check_params({"In": history, "n_images": 2, "thetas": [0.1], "seed": 0})["n_images"] == 2


@pytest.mark.notebook
def test_papermill_fails_on_a_misspelled_parameter(tmp_path, monkeypatch):
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("n_images = 8\nthetas = [0.1]", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from helpers.params import check_params\nparams = check_params(globals())")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    monkeypatch.setenv("PYTHONPATH", str(TESTS.parent))
    with pytest.raises(pm.PapermillExecutionError, match=r"'n_imagse' \(did you mean 'n_images'\?\)"):
        pm.execute_notebook(tmp_path / "tiny.ipynb", tmp_path / "out.ipynb", parameters={"n_imagse": 2},
                            kernel_name="python3", progress_bar=False)


def test_good_values(tmp_path):
    model = tmp_path / "mine.keras"
    model.write_bytes(b"")
    good = {"attack_params": {"cw_l2": {"max_iter": 50, "targeted": False}, "fgsm": {"eps": 4 / 255}},
            "attack_settings": "paper", "thetas": [0.0, 0.1 + 0.2], "roc_thetas": [0.3], "image_source": str(tmp_path),
            "n_images": 1000, "sweep_eps_255": [0.25, 1, 255], "squeezers": ["nlm:13-3-2.5", "median:3x3"]}
    assert check_params({**VALID, **good})["roc_thetas"] == [0.3]
    assert check_params({"model": str(model), "model_options": {"preprocessing": "tf", "output": "softmax"}})
    assert check_params({"model": "vgg16", "weights": __file__})
    assert check_params({"n_images": 4, "adaptive_budget": {"max_iter": 50, "losses": ["dlr", "margin"]}, "fpr": 0.2,
                         "calibration_images": 50})
    lite2 = {"model": "efficientnet_lite2", "weights": "imagenet", "saliency_method": "gradcam++"}
    assert check_params(lite2) == lite2
    with pytest.raises(ValueError, match="'preprocessing' option"):
        check_params({"model": str(model), "model_options": {}})


def test_models_wins_over_model_and_empty_models_means_model():
    assert study_models(check_params({**VALID, "models": []})) == ["efficientnet_lite0"]
    two = ["efficientnet_lite0", "efficientnet_lite2"]
    assert study_models(check_params({**VALID, "model": "vgg16", "models": two})) == two
    assert study_models({"models": ["vgg16"]}) == ["vgg16"]
    with pytest.raises(ValueError, match=r"parameter models = \[\]: needs at least 1 item\(s\)"):
        check_params({"models": []})  # notebook 10 has no `model` to stand for
    with pytest.raises(ValueError, match="parameter models = .*'vgg'.*not one of the valid values"):
        check_params({**VALID, "models": ["vgg"]})
    with pytest.raises(ValueError, match="efficientnet_lite2 has only its 'imagenet' weights"):
        check_params({**VALID, "model": "vgg16", "weights": __file__, "models": ["vgg16", "efficientnet_lite2"]})
    with pytest.raises(ValueError, match="options are for a .keras model, not for model 'efficientnet_lite2'"):
        check_params({**VALID, "models": ["efficientnet_lite2"], "model_options": {"preprocessing": "tf"}})


def test_docs_parameters_names_every_notebook_parameter():
    """docs/parameters.md says 'every notebook parameter': each name of each notebook's parameters cell is there."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    named = set(re.findall(r"`(\w+)`", (root / "docs" / "parameters.md").read_text()))
    for notebook in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        source = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
        missing = [n for n in re.findall(r"^(\w+)\s*[:=]", source, re.MULTILINE) if n not in named]
        assert not missing, f"{notebook.name}: {missing} not in docs/parameters.md"


# One name, one meaning, one default: a setting that notebooks 05-07 and the study share has the same default
# everywhere (the study scores notebooks 05-07's detectors in one table); n_images differs on purpose (the study's
# quick default is 8 images, the notebooks' 16).
SHARED_SETTINGS = ("attacks", "attack_settings", "attack_params", "colormap", "overlay_order", "zero_mean_reference",
                   "joint", "channel_order", "fpr", "batch_size", "seed", "image_source", "model")


def test_notebooks_05_to_07_and_the_study_share_their_defaults():
    from helpers.study_setup import DEFAULTS

    notebooks = {p.name: defaults(p) for p in sorted(NOTEBOOKS.glob("0[5-7]_*.ipynb"))}
    for name in SHARED_SETTINGS:
        values = {nb: d[name] for nb, d in notebooks.items() if name in d}
        assert values, name
        assert all(v == DEFAULTS[name] for v in values.values()), (name, values, DEFAULTS[name])
    sweep = notebooks["05_theta_sweep.ipynb"]
    assert (sweep["thetas"], sweep["noises"]) == (DEFAULTS["thetas"], DEFAULTS["noises"])  # the study's grid is 05's


def test_squeezers_means_each_squeezer_and_joint_the_joint_detector():
    """``squeezers`` (each squeezer on its own) is a parameter of notebook 06 only; the joint detector is ``joint``
    in 06, 07 and the study (notebook 08 is being changed elsewhere and still says ``squeezers``)."""
    for path in sorted(NOTEBOOKS.glob("0[5-7]_*.ipynb")):
        names = set(assigned_names(parameters_cell(path)[1]))
        assert ("squeezers" in names) == path.name.startswith("06"), path.name
        assert ("joint" in names) == path.name.startswith(("06", "07")), path.name
