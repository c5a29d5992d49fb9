"""The optional integrations stay optional: ``import skscratch`` loads none of
them, each has its extra in pyproject.toml, and a missing one is named with
the command that installs it."""

import subprocess
import sys
from pathlib import Path

import pytest

OPTIONAL = ["dask", "dask_ml", "distributed", "onnx", "onnxruntime", "polars"]
OPTIONAL += ["skl2onnx", "skops"]


def _python(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )


def test_import_skscratch_imports_no_optional_package():
    result = _python(
        "import sys, skscratch\n"
        f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [
        ("skscratch.onnx", "skl2onnx", "onnx"),
        ("skscratch.onnx", "onnx", "onnx"),
        ("skscratch.skops", "skops", "skops"),
    ],
)
def test_missing_extra_is_named_with_its_install_command(module, missing, extra):
    # Importing a module whose sys.modules entry is None raises ImportError,
    # as if the package were not installed.
    result = _python(f"import sys; sys.modules[{missing!r}] = None; import {module}")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert f'pip install "skscratch[{extra}]"' in result.stderr


def test_every_integration_is_an_extra():
    tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11 or newer")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("runs from a source checkout")
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    required = {
        "dask": {"dask", "distributed", "dask-ml"},
        "onnx": {"skl2onnx", "onnx", "onnxruntime"},
        "skops": {"skops"},
        "polars": {"polars"},
    }
    for extra, packages in required.items():
        names = {_name(requirement) for requirement in extras[extra]}
        assert packages <= names, extra
    in_all = set()
    for requirement in extras["all"]:  # e.g. "skscratch[dask,onnx]"
        in_all |= set(requirement.partition("[")[2].rstrip("]").split(","))
    assert set(required) <= in_all


def _name(requirement):
    for separator in "<>=!~[; ":
        requirement = requirement.split(separator)[0]
    return requirement.strip().lower()
