"""The examples in docstrings and in the documentation's tutorial pages run.

Every ``>>>`` example in the package's modules, and in the reStructuredText
pages of docs/ that walk through code (the core tutorial, the drop-in page),
is executed with :mod:`doctest`: what the documentation shows is what the
code does.
"""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import skscratch

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOCUMENTED_PAGES = ["core_tutorial.rst", "dropin.rst"]
OPTIONS = doctest.NORMALIZE_WHITESPACE


def _module_names():
    yield skscratch.__name__
    for info in pkgutil.walk_packages(skscratch.__path__, prefix="skscratch."):
        yield info.name


def _report(results, runner_output):
    return f"{results.failed} of {results.attempted} examples failed:\n" + "".join(
        runner_output
    )


@pytest.mark.parametrize("name", sorted(_module_names()))
def test_module_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        # A module built on an optional dependency that is not installed.
        pytest.skip(f"cannot import {name}: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    output = []
    for test in finder.find(module, name):
        runner.run(test, out=output.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, _report(results, output)


@pytest.mark.parametrize("page", DOCUMENTED_PAGES)
def test_documentation_page_examples(page):
    path = DOCS / page
    if not path.is_file():
        pytest.skip(f"{path} is not there (installed package without docs/)")
    text = path.read_text(encoding="utf-8")
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, page, str(path), 0)
    assert test.examples, f"{page} has no examples to run"
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    output = []
    runner.run(test, out=output.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, _report(results, output)


def test_modules_with_examples_are_collected():
    # Guards against the walk above silently finding nothing.
    names = set(_module_names())
    assert {"skscratch.core", "skscratch.callbacks", "skscratch.cli"} <= names
