"""The README and the documentation's how-to pages show code that runs.

Every Python block of README.md, and every ``.. code-block:: python`` of the
pages listed in ``PAGES``, runs here, in order, one namespace per page, in a
scratch directory. A block that needs an optional extra that is not installed
is skipped (CI installs every extra, so there none is); any other error
fails. The Quick start commands are checked against what CI runs.
"""

import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [
    "README.md",
    "docs/index.rst",
    "docs/getting_started.rst",
    "docs/ecosystem.rst",
    "docs/from_the_tutorials.rst",
    "docs/gpu.rst",
]
# Top-level modules of the optional extras: a block importing one that is
# missing is skipped, not failed.
OPTIONAL = {
    "dask",
    "dask_ml",
    "distributed",
    "matplotlib",
    "onnx",
    "onnxruntime",
    "pandas",
    "polars",
    "skl2onnx",
    "skops",
    "tqdm",
    "torch",
}

pytestmark = pytest.mark.skipif(
    not README.is_file(), reason="README.md is not there (installed package)"
)


def _markdown_blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def _rst_python_blocks(text):
    blocks = []
    for match in re.finditer(
        r"^\.\. code-block:: python\n((?:\n|   .*\n)+)", text, re.M
    ):
        lines = match.group(1).splitlines()
        blocks.append("\n".join(line[3:] for line in lines) + "\n")
    return blocks


def _python_blocks(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    if page.endswith(".md"):
        return _markdown_blocks(text, "python")
    return _rst_python_blocks(text)


def _needs_an_extra(exc):
    """Whether an import failed for want of an optional extra: the package is
    missing, or a skscratch integration module said which extra to install."""
    missing = (exc.name or "").split(".")[0] in OPTIONAL
    return missing or 'pip install "skscratch[' in str(exc)


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    if not (ROOT / page).is_file():
        pytest.skip(f"{page} is not there")
    blocks = _python_blocks(page)
    assert blocks, f"{page} has no Python blocks"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    skipped = []
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"{page} block {number}", "exec"), namespace)
        except (ImportError, NameError) as exc:
            if skipped:  # it may need what a skipped block defines or needs
                skipped.append(f"block {number}: after a skipped block ({exc})")
            elif isinstance(exc, ImportError) and _needs_an_extra(exc):
                skipped.append(f"block {number}: {exc}")
            else:
                raise
    if skipped:
        pytest.skip(f"{page}: ran {len(blocks) - len(skipped)}; " + "; ".join(skipped))


def test_quick_start_is_what_ci_runs():
    commands = _markdown_blocks(README.read_text(encoding="utf-8"), "bash")[:2]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert len(commands) == 2
    for command in commands:
        assert command.strip() in ci.splitlines(), command


def test_readme_is_short_and_lists_every_extra():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    guide = (ROOT / "docs" / "getting_started.rst").read_text(encoding="utf-8")
    for extra in extras:
        assert f"| `{extra}` |" in text, f"README's install table lacks {extra}"
        assert f"``{extra}``" in guide, f"getting_started.rst lacks {extra}"
