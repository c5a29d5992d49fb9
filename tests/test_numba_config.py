"""skscratch under the ways Numba can be configured, and when it imports it.

Numba reads its configuration from the environment when it is imported, and
some settings abort the whole process when code does not follow them, so
each case runs in a fresh interpreter (:func:`_run`). A fresh target CPU
compiles the kernels once (seconds); Numba caches them for the next run.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import skscratch
from skscratch import ScratchMLPClassifier, _engines
from skscratch.core import compiled

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="needs the fast extra: pip install 'skscratch[fast]'",
)

# Mostly-zero rows (10% nonzero), wide enough for the compressed first
# layer, and a prediction large enough to be split between two threads.
_COMPRESSED_FIT = """
import numpy as np
from skscratch import ScratchMLPClassifier, _engines
from skscratch.core import compiled, compressed

rng = np.random.default_rng(0)
X = ((rng.random((5000, 100)) < 0.1) * rng.random((5000, 100))).astype(np.float32)
y = (X[:, :10].sum(axis=1) > X[:, 10:20].sum(axis=1)).astype(int)
clf = ScratchMLPClassifier(
    hidden_layer_sizes=(64,), max_iter=10, learning_rate_init=0.01, random_state=0
)
clf.fit(X[:1000], y[:1000])
compressing = compressed.worth_compressing(X, X.dtype, 64)
assert compressing == compiled.enabled()
compressed.MAX_DENSITY = 0.0  # the same fit on the dense path
dense_fit = ScratchMLPClassifier(**clf.get_params()).fit(X[:1000], y[:1000])
compressed.MAX_DENSITY = 0.25
np.testing.assert_allclose(clf.loss_curve_, dense_fit.loss_curve_, rtol=1e-4)
_engines.available_threads = lambda: 2  # the split prediction, on any machine
proba = clf.predict_proba(X)
dense = clf._network_for_training().predict(X, clf.out_activation_)
np.testing.assert_allclose(proba[:, 1:], dense, rtol=1e-4, atol=1e-6)
print("compressing", compressing, "accuracy", clf.score(X, y))
if compressing:
    print("vector_shape", compiled.vector_shape())
assert clf.score(X, y) > 0.85, clf.score(X, y)
"""


def _run(*code, timeout=240, **env):
    """Run the pieces of ``code`` in a fresh interpreter with these
    environment variables (None removes one); return the completed process,
    checked for success."""
    code = "\n".join(textwrap.dedent(piece) for piece in code)
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NUMBA_", "SKSCRATCH_COMPILED"))
    }
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    environ.setdefault("PYTHONPATH", str(Path(skscratch.__file__).parents[1]))
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),  # not a directory holding the package
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@needs_numba
@pytest.mark.parametrize(
    "env",
    [
        # What a portable cache is built with: LLVM then lacks AVX-512's
        # compress instructions, which aborted the process.
        {"NUMBA_CPU_FEATURES": "-avx512f,-avx512bw,-avx512vl,-avx512dq,-avx512cd"},
        {"NUMBA_CPU_NAME": "generic"},
        {"NUMBA_ENABLE_AVX": "0"},
    ],
    ids=["no-avx512", "generic", "no-avx"],
)
def test_kernels_follow_the_cpu_numba_compiles_for(env):
    done = _run(_COMPRESSED_FIT, **env)
    assert "compressing True" in done.stdout
    # No AVX-512 vectors where the target lacks them.
    assert "vector_shape (64, 16)" not in done.stdout


_AVX = "+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+avx"  # and what LLVM needs under it


@needs_numba
@pytest.mark.parametrize(
    "cpu_name, cpu_features, vectors, compress",
    [
        # What a CPU brings is not known here: only the features the string
        # turns on count, with those LLVM needs under them.
        (None, "-avx512f", 16, 0),
        ("skylake-avx512", "+avx512f,+avx512vl", 16, 0),
        ("x86-64", _AVX, 32, 0),
        ("x86-64", _AVX + ",+avx2,+fma,+f16c,+avx512f", 64, 0),
        ("x86-64", _AVX + ",+avx2,+fma,+f16c,+avx512f,+avx512vl", 64, 64),
        ("generic", "", 16, 0),
    ],
)
def test_vectors_follow_the_features_numba_compiles_for(
    monkeypatch, cpu_name, cpu_features, vectors, compress
):
    import numba

    monkeypatch.setattr(numba.config, "CPU_NAME", cpu_name)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", cpu_features)
    assert compiled.vector_shape()[0] == vectors
    assert compiled.compress_vector_bytes() == compress


def test_numba_disable_jit_runs_the_numpy_code():
    # NUMBA_DISABLE_JIT turns Numba's compiled functions back into Python
    # ones, which cannot run the kernels' intrinsics: as if Numba were absent.
    _run(
        """
        import numpy as np
        from sklearn.datasets import load_digits
        from skscratch import ScratchMLPClassifier
        from skscratch.core import compiled

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        for solver in ("adam", "sgd"):
            clf = ScratchMLPClassifier(
                solver=solver, max_iter=20, learning_rate_init=0.01, random_state=0
            )
            assert clf.fit(X, y).score(X, y) > 0.9
        assert not compiled.available() and not compiled.load()
        """,
        _COMPRESSED_FIT,
        NUMBA_DISABLE_JIT="1",
    )


def test_switched_off_kernels_never_import_numba():
    _run(
        _COMPRESSED_FIT,
        """
        import sys
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        ScratchMLPClassifier(solver="lbfgs", max_iter=20).fit(X, y).predict(X)
        assert "numba" not in sys.modules
        """,
        SKSCRATCH_COMPILED="0",
    )


def test_small_jobs_leave_numba_unimported():
    # The main job of `python -m skscratch`: kernels do not pay there.
    _run(
        """
        import sys
        from sklearn.datasets import load_digits
        from skscratch import ScratchMLPClassifier

        X, y = load_digits(return_X_y=True)
        for solver, max_iter in (("adam", 50), ("sgd", 10), ("lbfgs", 10)):
            clf = ScratchMLPClassifier(solver=solver, max_iter=max_iter)
            clf.fit(X / 16.0, y).predict_proba(X / 16.0)
        assert "numba" not in sys.modules
        """
    )


def _kernels_pay(n_samples, n_features, hidden, max_iter, dtype=np.float32):
    X = np.broadcast_to(dtype(1), (n_samples, n_features))  # takes no memory
    return _engines.compiled_pays(X, np.zeros(n_samples), hidden, max_iter)


def test_which_jobs_load_the_kernels():
    # scikit-learn's default network on the digits, however many epochs it
    # may take; the benchmark's MNIST network (an MNIST fit loads them anyway,
    # for its mostly-zero rows) for a few epochs of rows.
    assert not _kernels_pay(1797, 64, (100,), max_iter=200)
    assert not _kernels_pay(150, 4, (100,), max_iter=200)
    assert _kernels_pay(60_000, 784, (256, 128), max_iter=3)
    assert _kernels_pay(60_000, 784, (256, 128), max_iter=200)
    # Networks whose mini-batches the NumPy code would split between
    # threads, however small the job: the split changes the last bits.
    assert _kernels_pay(100, 784, (1024, 1024), max_iter=1)
    assert not _kernels_pay(100, 784, (256, 128), max_iter=1)


@needs_numba
def test_a_small_fit_uses_kernels_already_loaded(digits):
    # They give the NumPy code's numbers; loading them is what a small job
    # leaves out.
    assert compiled.available()
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ScratchMLPClassifier(max_iter=2, random_state=0).fit(X, y)
    assert clf._optimizer.uses_kernel(clf.coefs_[0].dtype)


def _read_only_install(tmp_path):
    """A copy of the package where nothing can be written for Numba's cache,
    even by root: its ``__pycache__`` and the home directory are paths
    through a plain file. Returns the environment to run it with."""
    site = tmp_path / "site"
    shutil.copytree(
        Path(skscratch.__file__).parent,
        site / "skscratch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (site / "skscratch" / "core" / "__pycache__").write_text("")
    blocker = tmp_path / "file"
    blocker.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        "PYTHONPATH": str(site),
        "HOME": str(blocker / "home"),
        "XDG_CACHE_HOME": None,
        "NUMBA_CACHE_DIR": None,
        "TMPDIR": str(temp),
    }
    return env, temp


@needs_numba
def test_a_read_only_install_caches_the_kernels_elsewhere(tmp_path):
    env, temp = _read_only_install(tmp_path)
    code = """
        import warnings
        warnings.simplefilter("error", UserWarning)
        import numpy as np
        import skscratch
        from skscratch.core import compiled

        assert skscratch.__file__.startswith({site!r})
        assert compiled.available()
        grads = np.ones(3)
        kernel = compiled.kernel("l2_gradient", grads.dtype)
        kernel(grads, np.full(3, 2.0), 0.25)
        print("hits", sum(kernel.stats.cache_hits.values()))
        """.format(site=env["PYTHONPATH"])
    first = _run(code, **env)
    second = _run(code, **env)
    assert "hits 0" in first.stdout
    assert "hits 1" in second.stdout, second.stdout
    assert list(temp.glob("skscratch-numba-*/**/*l2_gradient*.nbi"))


@needs_numba
def test_no_writable_cache_warns_and_compiles(monkeypatch):
    import numba

    real_njit = numba.njit

    def njit(*args, **options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(*args, **options)

    monkeypatch.setattr(numba, "njit", njit)
    monkeypatch.setattr(compiled, "_private_cache_dir", lambda: None)
    with pytest.warns(compiled.CacheWarning, match="NUMBA_CACHE_DIR"):
        kernels = compiled._build_kernels()
    grads = np.ones(3)
    kernels["l2_gradient"](grads, np.full(3, 2.0), 0.25)
    np.testing.assert_array_equal(grads, 1.5)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_the_private_cache_directory_is_this_users_alone(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    path = compiled._private_cache_dir()
    assert path == str(tmp_path / f"skscratch-numba-{os.getuid()}")
    assert os.stat(path).st_mode & 0o777 == 0o700
    os.chmod(path, 0o777)  # others could plant cache files, which run as code
    assert compiled._private_cache_dir() is None
