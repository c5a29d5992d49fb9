"""Smoke tests of the example scripts: each fast one runs headless, start to
end, and writes its figure.

The MNIST examples need the MNIST files and minutes of training, so they are
not run here; only their message for missing data is checked.
"""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# script -> the figure it writes into the current directory
FAST = {
    "plot_quickstart.py": "quickstart.png",
    "plot_pipeline_gridsearch.py": "pipeline_gridsearch.png",
    "plot_multioutput_regression.py": "multioutput_regression.png",
    "plot_loss_curves.py": "loss_curves.png",
    "plot_activations.py": "activations.png",
    "plot_dropout.py": "dropout.png",
    "plot_squared_error_vs_cross_entropy.py": "squared_error_vs_cross_entropy.png",
}
NEED_MNIST = {
    "plot_mnist.py": "mnist.png",
    "plot_mnist_weights.py": "mnist_weights.png",
    "plot_mnist_tutorials.py": "mnist_tutorials.png",
}

pytestmark = pytest.mark.skipif(
    not EXAMPLES.is_dir(), reason="examples/ is not there (installed package)"
)


@pytest.fixture
def headless(tmp_path, monkeypatch):
    """Agg backend, a scratch working directory, no figure left open."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    plt.close("all")


def test_every_example_is_listed():
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts == set(FAST) | set(NEED_MNIST)


@pytest.mark.parametrize("script", sorted({**FAST, **NEED_MNIST}))
def test_example_saves_the_figure_it_is_listed_with(script):
    source = (EXAMPLES / script).read_text(encoding="utf-8")
    figure = {**FAST, **NEED_MNIST}[script]
    assert f'savefig("{figure}"' in source
    assert source.startswith('"""'), "sphinx-gallery needs a docstring title"
    assert "\n# %%\n" in source


@pytest.mark.parametrize("script", sorted(FAST))
def test_fast_example_runs_and_writes_its_figure(script, headless, capsys):
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    figure = headless / FAST[script]
    assert figure.is_file(), f"{script} did not write {figure.name}"
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert capsys.readouterr().out, f"{script} printed nothing"


@pytest.mark.parametrize("script", sorted(NEED_MNIST))
def test_mnist_example_explains_missing_data(script, headless, monkeypatch):
    monkeypatch.setenv("SKSCRATCH_MNIST_DIR", str(headless / "no-mnist-here"))
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    message = str(exc.value.code)
    assert "needs MNIST" in message
    assert "SKSCRATCH_MNIST_DIR" in message
    assert "train-images-idx3-ubyte" in message
