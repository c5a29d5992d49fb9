"""Data sets shared by the tests: scikit-learn's bundled ones, standardised
(no download, no MNIST needed)."""

import os

# scikit-learn's array-API dispatch (tests/test_array_api.py and the
# array-API estimator checks) needs SciPy's array-API mode, which SciPy reads
# once, at import: before anything here imports it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.preprocessing import StandardScaler


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def iris():
    return _standardised(load_iris)


@pytest.fixture(scope="session")
def digits():
    return _standardised(load_digits)


@pytest.fixture(scope="session")
def diabetes():
    return _standardised(load_diabetes)


def pytest_terminal_summary(terminalreporter):
    """One line per reason for skipping, with its count, instead of one line
    per skipped test: most skips are a missing optional extra."""
    reasons = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skips, by reason", sep="-")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{count:4d}  {reason}")
