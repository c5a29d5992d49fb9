"""``--compare-ref``: time skscratch as of another git commit beside the
current code, in the same run.

The ref's ``skscratch/`` is exported with ``git archive`` into a temporary
directory. Two worker processes then run the same benchmark code: one
imports skscratch from that directory, the other from this checkout. Both
stand in the interleaved rotation as the implementations ``skscratch@REF``
and ``skscratch``, receive the same arrays once, and time each fit or
``predict_proba`` call themselves (the pipe is not timed); while one works,
the other waits idle on its pipe, so both run under the same conditions.
"""

import gc
import io
import itertools
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from implementations import limit_threads
from runner import fit_quietly, load_kernels
from settings import REPO_ROOT, SCRIPT, log, ref_label


class CompareError(RuntimeError):
    """The ref cannot be exported or its worker cannot start."""


def _git(*args):
    done = subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, check=False
    )
    if done.returncode:
        message = done.stderr.decode(errors="replace").strip()
        raise CompareError(f"git {' '.join(args)} failed: {message}")
    return done.stdout


def export_ref(ref, dest):
    """Write the ``skscratch`` package of git ``ref`` under ``dest``; return
    the full commit id."""
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except FileNotFoundError as exc:  # no git executable
        raise CompareError(f"git is needed for --compare-ref ({exc})") from exc
    commit = commit.decode().strip()
    archive = _git("archive", "--format=tar", commit, "--", "skscratch")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python releases before the extraction filters
            tar.extractall(dest)
    return commit


# ---------------------------------------------------------------------------
# The benchmark's side: a worker process and estimators that use it
# ---------------------------------------------------------------------------


class Worker:
    """A child process running ``bench_mlp.py --worker`` on one skscratch."""

    def __init__(self, label, skscratch_path, threads=None):
        self.label = label
        self.path = Path(skscratch_path).resolve()
        cmd = [sys.executable, str(SCRIPT), "--worker"]
        cmd += ["--skscratch-path", str(self.path)]
        if threads:
            cmd += ["--threads", str(threads)]
        # stderr is inherited, so a worker's traceback shows with the progress.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._sent = {}  # id(array) -> (array, key): arrays the worker holds
        self._keys = itertools.count()
        self.latest_model = None

    def _key(self, array, pending):
        """The worker's name for ``array``, sending it along if it is new."""
        known = self._sent.get(id(array))
        if known is not None and known[0] is array:
            return known[1]
        key = next(self._keys)
        self._sent[id(array)] = (array, key)  # kept alive so the id stays unique
        pending[key] = array
        return key

    def call(self, op, arrays=(), **fields):
        """Send one request and return the reply (RuntimeError on failure)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.label} worker exited ({self.proc.returncode})")
        pending = {}
        keys = [self._key(a, pending) for a in arrays]
        request = dict(fields, op=op, keys=keys, arrays=pending)
        try:
            pickle.dump(request, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
            reply = pickle.load(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self.proc.kill()
            raise RuntimeError(f"{self.label} worker died: {exc!r}") from exc
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def worker_estimator_class(worker):
    """An MLPClassifier-like class whose models live in ``worker``."""

    class WorkerMLPClassifier:
        def __init__(self, **params):
            self.params = params

        def fit(self, X, y):
            reply = worker.call("fit", (X, y), params=self.params)
            self.model_id = worker.latest_model = reply["model"]
            self.n_iter_ = reply["n_iter"]
            self.worker_fit_seconds = reply["seconds"]
            return self

        def _call(self, op, X):
            if worker.latest_model != self.model_id:
                raise RuntimeError("the worker keeps only the latest model fitted")
            return worker.call(op, (X,), model=self.model_id)

        def predict(self, X):
            return self._call("predict", X)["result"]

        def predict_proba(self, X):
            reply = self._call("predict_proba", X)
            self.worker_call_seconds = reply["seconds"]
            return reply["result"]

    WorkerMLPClassifier.__name__ = f"WorkerMLPClassifier[{worker.label}]"
    return WorkerMLPClassifier


class Comparison:
    """The two workers of ``--compare-ref`` and the exported ref; a context
    manager that stops them and deletes the export."""

    def __init__(self, ref, threads=None):
        self.ref = ref
        self.label = ref_label(ref)
        self.tmp = tempfile.mkdtemp(prefix="skscratch-compare-")
        self.workers = []
        try:
            self.commit = export_ref(ref, self.tmp)
            # Both start now and import in parallel; "hello" waits for them.
            self.workers = [
                Worker("skscratch", REPO_ROOT, threads),
                Worker(self.label, self.tmp, threads),
            ]
            self.imported = [self._hello(w) for w in self.workers]
        except BaseException:
            self.close()
            raise

    def _hello(self, worker):
        """Check that ``worker`` imported skscratch from its own directory."""
        try:
            where = Path(worker.call("hello")["skscratch"]).resolve()
        except RuntimeError as exc:
            raise CompareError(f"{worker.label} worker did not start: {exc}") from exc
        if worker.path not in where.parents:
            raise CompareError(
                f"{worker.label} worker imported skscratch from {where}, "
                f"not from {worker.path}"
            )
        log(f"{worker.label}: skscratch from {where.parent}")
        return str(where.parent)

    def replace(self, classes):
        """``classes`` with skscratch in its worker, followed by the ref's."""
        out = {}
        for name, cls in classes.items():
            if name == "skscratch":
                out[name] = worker_estimator_class(self.workers[0])
                out[self.label] = worker_estimator_class(self.workers[1])
            else:
                out[name] = cls
        return out

    def sources(self):
        """The skscratch directory of the ref's implementation (memory probe)."""
        return {self.label: self.tmp}

    def notes(self):
        return [
            f"{self.label} is skscratch at commit {self.commit[:12]}, exported "
            "with git archive; it and skscratch (this checkout, as it is on "
            "disk) each run in a worker process of their own, interleaved with "
            "the others, and time their own fits and predict_proba calls"
        ]

    def as_json(self):
        return {"ref": self.ref, "commit": self.commit, "label": self.label}

    def close(self):
        for worker in self.workers:
            worker.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


# ---------------------------------------------------------------------------
# The worker's side
# ---------------------------------------------------------------------------


def _handle(request, arrays, models):
    """The reply to one request of the benchmark process."""
    from skscratch import ScratchMLPClassifier
    from skscratch import __file__ as skscratch_file

    op = request["op"]
    args = [arrays[k] for k in request["keys"]]
    if op == "hello":
        return {"skscratch": skscratch_file}
    if op == "fit":
        estimator = ScratchMLPClassifier(**request["params"])
        gc.collect()
        seconds = fit_quietly(estimator, *args)
        model = max(models, default=-1) + 1
        models.clear()  # only the latest model is ever used again
        models[model] = estimator
        return {"model": model, "seconds": seconds, "n_iter": estimator.n_iter_}
    estimator = models[request["model"]]
    if op == "predict":
        return {"result": estimator.predict(*args)}
    if op == "predict_proba":
        gc.collect()
        start = time.perf_counter()
        result = estimator.predict_proba(*args)
        return {"result": result, "seconds": time.perf_counter() - start}
    raise ValueError(f"unknown request {op!r}")


def serve(threads=None):
    """The worker's loop: answer requests on stdin until it closes."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the replies
    sys.stdout = sys.stderr
    # Loaded up front, as the benchmark process does when it checks for
    # skscratch-numpy, so that every job of both workers finds them.
    load_kernels()
    if threads:
        limit_threads(threads)  # after the imports that load the libraries
    arrays, models = {}, {}
    requests = sys.stdin.buffer
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return 0
        arrays.update(request["arrays"])
        try:
            reply = _handle(request, arrays, models)
        except Exception as exc:  # the benchmark reports it and goes on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()
