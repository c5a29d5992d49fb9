"""Data sets shared by the tests: scikit-learn's bundled ones, standardised
(no download, no MNIST needed)."""

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
