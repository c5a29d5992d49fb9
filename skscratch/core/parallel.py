"""Using every core for one batch: data parallelism over threads.

NumPy's matrix products use all cores (BLAS runs them multi-threaded), but its
element-wise operations (activations, bias additions, the optimizer update) run
on one. On an MNIST-sized network they take a third of the training time, with
the other cores idle. So where it pays (see :func:`plan_threads`),
:class:`DataParallel` splits the batch's rows between threads instead:

1. each thread runs a *replica* of the network on its share of the rows, with
   single-threaded BLAS. The replicas share the parameter vector and each has
   its own gradient vector. The objective is a sum over rows, so the batch
   gradient is the sum of the replicas' gradients;
2. each thread then takes a block of the flat parameter vector, sums the
   replicas' gradients there, adds the L2 penalty, and applies the optimizer's
   update to that block. In a training step both phases are one task per
   thread, with a meeting in between (:meth:`DataParallel._step_in_blocks`),
   so a block's parameters, summed gradient and optimizer state stay on the
   core that updates them, step after step.

It serves inputs that are mostly zeros too: each thread then hands the
first layer its rows stored by their nonzero entries
(:mod:`skscratch.core.compressed`), whose compiled products use one core
each. Prediction needs no replicas: the threads share the network.

NumPy releases the GIL inside BLAS calls and element-wise loops, so the
threads run truly in parallel. With one thread (small networks, one core, or a
caller that limited BLAS to one thread, as joblib's workers do) everything runs
inline on the network itself, with exactly the arithmetic of
:meth:`Network.loss_and_gradient <skscratch.core.network.Network.loss_and_gradient>`.

The number of threads is planned from the cores and the caller's BLAS limit,
never from the one-thread limit that calls running in other threads set for
their duration (see :func:`available_threads`): a split call gives the same
numbers alone or beside others. A call that leaves the products to BLAS's own
threads (a mini-batch not split, a prediction on dense rows) runs them on one
thread while another thread's split call holds that limit, and OpenBLAS may
then add them up in another order: the last bits of such a call can depend on
what runs beside it.
"""

import os
import threading
import time
from contextlib import ExitStack
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from . import compiled
from .compressed import CompressedRows
from .losses import get_loss
from .memory import aligned_empty
from .rows import NonFiniteRowsError, check_finite_rows, take_rows

# When splitting pays. Every NumPy call releases and re-takes the GIL, and
# when two threads make short calls the GIL bounces between them with a
# thread wake-up each time, which can cost more than the second core saves
# (measurements: docs/performance/design.rst, "Data-parallel threads"):
# - mini-batches with the NumPy optimizer code: only from about 1.5 MB of
#   parameters, where the element-wise work outweighs the GIL hand-offs;
# - mini-batches with the compiled optimizer kernels (skscratch.core.compiled):
#   never, since the optimizer step that splitting spread over the cores is
#   then short;
# - full batches (L-BFGS, BLAS limited to one thread): from
#   MIN_FULL_BATCH_WORK, their few long calls meeting few hand-offs;
# - mini-batches whose first layer gets compressed rows
#   (skscratch.core.compressed), whose products run on one core each: from
#   about 20 million rows x parameters per batch, below which one thread,
#   spared the hand-overs, is as fast.
MIN_PARAM_BYTES = 1_500_000
MIN_ROWS_PER_THREAD = 32
MIN_FULL_BATCH_WORK = 1_000_000  # rows x parameters
MIN_COMPRESSED_BATCH_WORK = 20_000_000  # rows x parameters
# Mini-batches make many short NumPy calls, whose GIL hand-offs grow with the
# number of threads, so two is the most that pays. Full batches make few,
# long calls and may use every core allowed.
MAX_MINI_BATCH_THREADS = 2

_controller = None
_controller_lock = threading.Lock()


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, or None."""
    global _controller
    with _controller_lock:
        if _controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # pragma: no cover - it comes with scikit-learn
                _controller = False
            else:
                _controller = ThreadpoolController().select(user_api="blas")
    return _controller or None


def _set_num_threads(lib, n_threads):
    """Set a BLAS library's thread count from whichever thread calls.

    threadpoolctl 3.8 silently ignores an OpenBLAS count set by any thread
    but the first to set one, until that thread lets go; the thread that
    restores the shared limit is often another, and the limit's lock
    already orders its changes.
    """
    set_directly = getattr(lib, "_real_set_num_threads", None)
    if set_directly is not None:
        set_directly(n_threads)
    else:  # an older threadpoolctl, which sets from any thread
        lib.set_num_threads(n_threads)


class _SharedBlasLimit:
    """One BLAS thread per calling thread while any call of this process
    needs it, and the BLAS libraries' own settings back exactly when the
    last such call ends.

    BLAS's thread count is a setting of the whole process. Calls that each
    saved it on entry and restored it on exit would, when they overlap in
    several threads, let a call that started inside another save that one's
    "1" and, ending last, leave every later product of the process on one
    core. So the calls share one limit, counted under a lock: the first to
    enter saves each library's thread count and sets 1, the last to leave
    restores those counts.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = None  # [(library controller, its thread count)] while held

    def acquire(self):
        with self._lock:
            if self._depth == 0:
                controller = _blas_controller()
                libs = controller.lib_controllers if controller is not None else []
                saved = [(lib, lib.num_threads) for lib in libs]
                try:
                    for lib, _ in saved:
                        _set_num_threads(lib, 1)
                except BaseException:
                    self._restore(saved)
                    raise
                self._saved = saved
            self._depth += 1

    def release(self):
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                saved, self._saved = self._saved, None
                self._restore(saved)

    @staticmethod
    def _restore(saved):
        for lib, n_threads in saved:
            _set_num_threads(lib, n_threads)

    def baseline(self):
        """The BLAS libraries' thread counts as they are outside this limit:
        those saved while it is held, else the current ones (none without
        threadpoolctl)."""
        # Under the lock: another thread may be entering or leaving.
        with self._lock:
            if self._depth:
                return [n_threads for _, n_threads in self._saved]
            controller = _blas_controller()
            libs = controller.lib_controllers if controller is not None else []
            return [lib.num_threads for lib in libs]

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()
        return False


_blas_limit = _SharedBlasLimit()


def available_threads():
    """Threads the caller lets us use: the cores of this process, capped by
    the BLAS thread limit in force outside this package's own calls.

    A caller that limited BLAS to one thread (joblib does so in its worker
    processes, to avoid oversubscription) gets one thread here too; its fits
    may then differ in the last bits from the same fits unlimited. The one
    thread that another thread's call of this package sets for its duration
    is not such a limit: while it holds, the counts it saved are read (a
    caller's limit set in that time is not seen), so that a call plans the
    same threads, and computes the same numbers, whatever runs beside it.

    Returns
    -------
    n_threads : int
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    limits = _blas_limit.baseline()
    if limits:
        cores = min(cores, max(limits))
    return max(1, cores)


def plan_threads(
    n_rows,
    n_params,
    itemsize=8,
    full_batch=False,
    max_threads=None,
    compressed_input=False,
):
    """How many threads to split a batch of ``n_rows`` rows over.

    Parameters
    ----------
    n_rows : int
        Rows of the batch.
    n_params : int
        Parameters of the network.
    itemsize : int, default=8
        Bytes per parameter (4 for float32).
    full_batch : bool, default=False
        Whether the whole data set is one batch with BLAS limited to one
        thread (L-BFGS), where splitting pays much sooner.
    max_threads : int, optional
        Upper bound; by default :func:`available_threads`.
    compressed_input : bool, default=False
        Whether the first layer will get the rows compressed (see
        :mod:`skscratch.core.compressed`). Its compiled products run on one
        core each, so mini-batches with enough work are then split between
        threads.

    Returns
    -------
    n_threads : int
        1 when splitting would not pay.
    """
    limit = available_threads() if max_threads is None else max_threads
    if full_batch:
        worth_it = n_rows * n_params >= MIN_FULL_BATCH_WORK
    else:
        if compressed_input:
            worth_it = n_rows * n_params >= MIN_COMPRESSED_BATCH_WORK
        else:
            worth_it = n_params * itemsize >= MIN_PARAM_BYTES and not compiled.enabled()
        limit = min(limit, MAX_MINI_BATCH_THREADS)
    if not worth_it:
        return 1
    return int(max(1, min(limit, n_rows // MIN_ROWS_PER_THREAD)))


def _blocks(n, parts, align=16):
    """Split ``range(n)`` into ``parts`` contiguous slices, boundaries on
    multiples of ``align`` (whole cache lines of the parameter vector)."""
    edges = [min(n, (n * k // parts) // align * align) for k in range(parts)] + [n]
    return [slice(a, b) for a, b in pairwise(edges)]


# How many times a thread reads the other's counter before it sleeps on a
# lock: polling long enough to outlast what the threads of a training step
# wait through (the other thread's share of the rows, or the other's block
# of the update before the next step), and no longer (see
# docs/performance/design.rst).
SPIN_READS = 10_000


class _Signal:
    """A count that one thread raises and another thread waits for, with a
    value passed along: the hand-overs between the training threads.

    A lock used as a semaphore carries every hand-over. A thread that sleeps
    on a lock costs a wake-up to hand something to, and on a VM the most
    when the threads run on two cores (a training loop's case, every batch),
    since a virtual CPU with nothing to run halts until the host wakes it.

    So, with Numba, the waiting side first polls the count
    (:func:`~skscratch.core.compiled.spin_until_loop`: compiled, without the
    GIL, with the CPU's spin-loop hint) for up to :data:`SPIN_READS` reads,
    and only then sleeps on the lock. The count only tells when taking the
    lock will not block, so a missed or late count costs time, never
    correctness; and a machine with more busy threads than cores (where a
    poll would keep the other thread off its core) only loses the polling
    time. Polling spares the wake-up, and leaves the numbers the same, bit
    for bit (measurements: :ref:`perf-threads`).

    Each :meth:`post` must be matched by one :meth:`wait` before the next
    post: the two threads take turns.

    Parameters
    ----------
    spin : callable or None
        The compiled polling loop (:func:`compiled.spin_kernel
        <skscratch.core.compiled.spin_kernel>`); None goes straight to the
        lock.
    """

    def __init__(self, spin):
        self._lock = threading.Lock()
        self._lock.acquire()
        self._spin = spin
        self._count = np.zeros(1, np.int64)  # posts made, for the poll
        self._n_posted = self._n_waited = 0
        self._value = None

    def post(self, value=None):
        """Hand ``value`` over to the waiting thread."""
        self._value = value
        self._n_posted += 1
        # Release first: a waiter that sees the count finds the lock free.
        self._lock.release()
        self._count[0] = self._n_posted

    def wait(self):
        """Wait for the next :meth:`post`; return its value."""
        self._n_waited += 1
        if self._spin is not None:
            self._spin(self._count, self._n_waited, SPIN_READS)
        self._lock.acquire()
        value, self._value = self._value, None
        return value


class _Worker:
    """A persistent thread running one task at a time, handed over and back
    through two :class:`_Signal` objects (less Python around each hand-over
    than ``concurrent.futures``), with two more for a task that meets its
    caller half-way. ``poll=False`` makes both sides sleep on their locks at
    once (see :class:`DataParallel`)."""

    def __init__(self, poll=True):
        self._spin = compiled.spin_kernel() if poll else None
        self._tasks = _Signal(self._spin)
        self._outcomes = _Signal(self._spin)
        # For a meeting half-way through a task: the task reports to the
        # caller how its part went, and the caller answers whether to go on
        # (see DataParallel._step_in_blocks).
        self.reports = _Signal(self._spin)
        self.answers = _Signal(self._spin)
        self._thread = threading.Thread(
            target=self._serve, name="skscratch-worker", daemon=True
        )
        self._thread.start()

    def _serve(self):
        while True:
            task = self._tasks.wait()
            if task is None:
                return
            try:
                outcome = (True, task())
            except BaseException as exc:  # handed to the caller by result()
                outcome = (False, exc)
            self._outcomes.post(outcome)

    def submit(self, task):
        self._tasks.post(task)

    def result(self):
        ok, value = self._outcomes.wait()
        if not ok:
            raise value
        return value

    def close(self):
        self.submit(None)
        self._thread.join()


def core_round_trip(n=5000):
    """Time for a cache line to go from one thread's core to another's and
    back, in seconds (the mean over ``n`` round trips), or None without
    the compiled kernels.

    Two threads take turns incrementing a shared counter
    (:func:`~skscratch.core.compiled.ping_pong_loop`), in compiled loops
    that never take the GIL. The figure says how far apart the operating
    system placed the two threads: on a VM, ten times longer when the host
    runs the two virtual CPUs on distant cores. Each training step of
    :class:`DataParallel` moves half of the gradient and parameter vectors
    between the threads' cores (each thread sums the other's gradient over
    its block and updates that block, which the other reads back in the
    next forward pass), so two threads lose much of their gain on distant
    cores, while single-thread kernels do not (see
    :ref:`perf-core-placement`).

    Parameters
    ----------
    n : int, default=5000
        Round trips timed, after 100 that let the second thread start.

    Returns
    -------
    seconds : float or None
    """
    if compiled.spin_kernel() is None:  # checks that the intrinsics work
        return None
    # The dtype only passes kernel()'s check: the loop works on int64 counters.
    loop = compiled.kernel("ping_pong", np.float64)
    counter = np.zeros(1, np.int64)
    warm, max_reads = 100, 100_000_000  # a wait gives up after seconds
    other = threading.Thread(
        target=loop, args=(counter, 1, 0, warm + n, max_reads), daemon=True
    )
    other.start()
    try:
        if not loop(counter, 0, 0, warm, max_reads):
            return None
        start = time.perf_counter()
        done = loop(counter, 0, warm, warm + n, max_reads)
        elapsed = time.perf_counter() - start
    finally:
        other.join()
    return elapsed / n if done else None


class DataParallel:
    """Objective, gradient, optimizer steps and predictions of a network,
    computed by ``n_threads`` threads on shares of the rows.

    Use it as a context manager: on entry, BLAS is limited to one thread per
    caller thread (when ``n_threads > 1`` or ``limit_blas``) and the worker
    threads start; on exit both are undone. The limit is the process's, and
    shared by every call that needs it (see :class:`_SharedBlasLimit`): BLAS
    gets back the thread counts it had when the last of them ends.

    Parameters
    ----------
    network : Network
        The network trained or evaluated; its ``params`` and ``grads`` hold
        the results.
    n_threads : int, default=1
        See :func:`plan_threads`.
    limit_blas : bool, optional
        Limit BLAS to one thread even when ``n_threads == 1``. L-BFGS wants
        this: scipy's L-BFGS-B calls its own BLAS library between NumPy's
        matrix products, and two OpenBLAS thread pools spinning on the same
        cores slow each other down several-fold. Default: ``n_threads > 1``.
    compress_rows : bool, default=False
        Hand the first layer each thread's rows of ``X`` stored by their
        nonzero entries (:mod:`skscratch.core.compressed`), for a dense
        ``X`` that is mostly zeros; the network's first layer must be dense.
        A C-ordered ``X``'s rows go straight into that form, without a
        gathered copy, and ``check_rows`` is then tested on the way.
    poll : bool, default=True
        Let a waiting thread poll before it sleeps (see :class:`_Worker`):
        worth it for mini-batches, whose hand-overs are frequent and short
        (a prediction hands over twice per call, and neither gains nor
        loses). L-BFGS passes False: between two of its evaluations the
        worker would poll in vain, keeping a core busy (see
        :ref:`perf-threads`).
    check_rows : bool, default=False
        Check the rows of ``X`` taken for each batch for NaN and infinities
        (:func:`skscratch.core.rows.take_rows`), raising
        :class:`~skscratch.core.rows.NonFiniteRowsError` before they reach
        the network. An attribute too: the estimators set it for their first
        epoch only, when input validation left that check to training.

    Examples
    --------
    >>> import numpy as np
    >>> from skscratch.core import build_mlp
    >>> from skscratch.core.parallel import DataParallel
    >>> net = build_mlp([20, 64, 3], "relu")
    >>> net.initialize(np.random.default_rng(0))
    >>> X = np.random.default_rng(1).normal(size=(256, 20))
    >>> Y = np.eye(3)[np.arange(256) % 3]
    >>> with DataParallel(net, n_threads=2) as dp:
    ...     value = dp.loss_and_gradient(X, Y, "log_loss", alpha=1e-4)
    >>> bool(np.isclose(value, net.loss_and_gradient(X, Y, "log_loss", alpha=1e-4)))
    True
    """

    def __init__(
        self,
        network,
        n_threads=1,
        limit_blas=None,
        compress_rows=False,
        poll=True,
        check_rows=False,
    ):
        self.network = network
        self.n_threads = max(1, int(n_threads))
        self.limit_blas = self.n_threads > 1 if limit_blas is None else limit_blas
        self.compress_rows = bool(compress_rows)
        self.poll = bool(poll)
        self.check_rows = bool(check_rows)
        self.replicas = [network]
        self._workers = []
        self._stack = None
        self._row_buffers = [{} for _ in range(self.n_threads)]
        self._compressed = [CompressedRows() for _ in range(self.n_threads)]

    def __enter__(self):
        self._stack = ExitStack()
        try:
            if self.limit_blas:
                self._stack.enter_context(_blas_limit)
            if self.n_threads > 1:
                # Registered first: a worker that fails to start must not
                # leave the ones already started running.
                self._stack.callback(self._close_workers)
                for _ in range(self.n_threads - 1):
                    self._workers.append(_Worker(self.poll))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _make_replicas(self, n):
        """The replicas training needs (prediction shares the network)."""
        while len(self.replicas) < n:
            self.replicas.append(self.network.replica())

    def __exit__(self, *exc_info):
        self._stack.close()
        self._stack = None
        return False

    def _close_workers(self):
        for worker in self._workers:
            worker.close()
        self._workers = []

    def _map(self, fn, n):
        """``[fn(0), ..., fn(n - 1)]``, ``fn(0)`` in the calling thread."""
        workers = self._workers[: n - 1]
        if len(workers) < n - 1:
            return [fn(k) for k in range(n)]
        for k, worker in enumerate(workers, start=1):
            worker.submit(lambda k=k: fn(k))
        try:
            first = fn(0)
        finally:
            # Always collect the workers, so none is still writing into a
            # buffer when an exception leaves this method.
            outcomes = self._collect(workers)
        return [first, *self._values(outcomes)]

    @staticmethod
    def _collect(workers):
        """Each worker's ``(ok, value or exception)``, once it is done."""
        outcomes = []
        for worker in workers:
            try:
                outcomes.append((True, worker.result()))
            except BaseException as exc:
                outcomes.append((False, exc))
        return outcomes

    @staticmethod
    def _values(outcomes):
        """The values of :meth:`_collect`'s outcomes; the first exception
        among them is raised."""
        for ok, value in outcomes:
            if not ok:
                raise value
        return [value for _, value in outcomes]

    def _step_in_blocks(self, n, forward_backward, penalty, begin, update):
        """One training step on ``n`` threads, each in a single task:
        ``forward_backward(k)``, then a meeting, then ``update(k)``.

        After its own ``forward_backward(0)``, the calling thread computes
        ``penalty()`` (no block has moved yet) and begins the step with
        ``begin()``, which returns a function undoing it. At the meeting
        each thread learns whether every share succeeded; if so, each runs
        ``update(k)`` on its block of the parameters. If a share failed, no
        thread updates anything, the step is undone and the first error is
        raised: the model is left as it was.

        With one worker, the two threads tell each other how their share
        went and go on as soon as both have: a symmetric exchange. With
        more, the calling thread hears from every worker before it answers,
        since each worker must know about all the others. On distant cores
        (see :func:`core_round_trip`) the symmetric exchange spares the
        second way's extra wait for a hand-over.

        Returns
        -------
        value : float
            The sum of the ``forward_backward`` values, plus ``penalty()``.
        """
        workers = self._workers[: n - 1]
        answer_first = len(workers) == 1

        def task(k, worker):
            try:
                value, ok = forward_backward(k), True
            except BaseException as exc:
                value, ok = exc, False
            worker.reports.post(ok)
            # Always waited for, so that every post has its wait.
            if worker.answers.wait() and ok:
                update(k)
            if not ok:
                raise value
            return value

        for k, worker in enumerate(workers, start=1):
            worker.submit(lambda k=k, worker=worker: task(k, worker))
        error, first, extra, undo = None, 0.0, 0.0, None
        try:
            first = forward_backward(0)
            extra = penalty()
            # Before any update reads the step's scalars.
            undo = begin()
        except BaseException as exc:
            error = exc
        if answer_first:
            workers[0].answers.post(error is None)
        reported = [worker.reports.wait() for worker in workers]
        go = error is None and all(reported)
        if not answer_first:
            for worker in workers:
                worker.answers.post(go)
        if go:
            try:
                update(0)
            except BaseException as exc:
                error = exc
        elif undo is not None:
            undo()
        outcomes = self._collect(workers)
        if error is not None:
            raise error
        return sum([first, *self._values(outcomes)]) + extra

    # -- rows ---------------------------------------------------------------

    def _take(self, k, name, A, rows):
        """Rows ``rows`` of ``A`` (a view for a slice, else a gathered copy
        in a buffer of thread ``k``; rows of ``X`` compressed if
        ``compress_rows``); rows of ``X`` checked if ``check_rows``."""
        sparse = sp.issparse(A)
        check = self.check_rows and name == "X" and not sparse
        compress = name == "X" and self.compress_rows and not sparse
        if compress and A.flags.c_contiguous:
            # Straight from X into the compressed form, values checked on
            # the way: no gathered copy for compressing to read again.
            if isinstance(rows, slice):
                rows = np.arange(*rows.indices(A.shape[0]))
            block = self._compressed[k].compress(A, rows)
            if check and not block.finite:
                raise NonFiniteRowsError()
            return block
        if isinstance(rows, slice) or sparse:
            taken = A[rows]
            if check:
                check_finite_rows(taken)
        else:
            shape = (len(rows), *A.shape[1:])
            buf = self._row_buffers[k].get(name)
            if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]:
                buf = self._row_buffers[k][name] = aligned_empty(shape, A.dtype)
            taken = take_rows(A, rows, buf[: shape[0]], check_finite=check)
        if compress:
            return self._compressed[k].compress(np.ascontiguousarray(taken))
        return taken

    def check_skipped_rows(self, X, rows):
        """Check rows that the training loop skips (a batch whose weights
        are all zero) as taking them would, if ``check_rows``.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        rows : slice or ndarray of int
        """
        if self.check_rows and not sp.issparse(X):
            check_finite_rows(X[rows])

    @staticmethod
    def _split_rows(rows, n_rows, parts):
        if isinstance(rows, slice):
            start = rows.start or 0
            return [
                slice(start + b.start, start + b.stop)
                for b in _blocks(n_rows, parts, align=1)
            ]
        return [rows[b] for b in _blocks(n_rows, parts, align=1)]

    # -- the objective --------------------------------------------------------

    def loss_and_gradient(
        self,
        X,
        Y,
        loss,
        alpha=0.0,
        sample_weight=None,
        rows=None,
        weight_sum=None,
        optimizer=None,
    ):
        """Objective and gradient on some rows; optionally one optimizer step.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        Y : ndarray of shape (n_samples, n_outputs)
        loss : str or Loss
        alpha : float, default=0.0
        sample_weight : ndarray of shape (n_samples,), optional
        rows : slice or ndarray of int, optional
            The batch: which rows of ``X``/``Y``/``sample_weight`` to use;
            all of them by default.
        weight_sum : float, optional
            Total weight of the batch, if the caller already knows it.
        optimizer : Optimizer, optional
            When given, take one step with the batch gradient.

        Returns
        -------
        value : float
            The batch objective (see ``Network.loss_and_gradient``), before
            the optimizer step.
        """
        loss = get_loss(loss)
        if rows is None:
            rows = slice(0, X.shape[0])
        n_rows = len(range(X.shape[0])[rows]) if isinstance(rows, slice) else len(rows)
        if weight_sum is None:
            weight_sum = float(
                n_rows if sample_weight is None else sample_weight[rows].sum()
            )
        net = self.network
        n = min(self.n_threads, n_rows, len(self._workers) + 1)
        if n > 1:
            self._make_replicas(n)
        # An optimizer with decoupled weight decay (AdamW) applies alpha
        # itself; the objective then has no penalty term.
        decoupled = optimizer is not None and optimizer.decoupled_weight_decay
        penalised = alpha and not decoupled
        strength = alpha / weight_sum if penalised else 0.0

        # Phase 1: forward and backward on each thread's rows, without the
        # penalty (it does not depend on the rows).
        def forward_backward(k, share):
            return self.replicas[k].loss_and_gradient(
                self._take(k, "X", X, share),
                self._take(k, "Y", Y, share),
                loss,
                sample_weight=None
                if sample_weight is None
                else self._take(k, "w", sample_weight, share),
                weight_sum=weight_sum,
            )

        # Phase 2, by blocks of the parameter vector: the replicas' gradients
        # summed into the network's, then the penalty or the optimizer step.
        def reduce(block):
            grads = net.grads[block]
            for replica in self.replicas[1:n]:
                grads += replica.grads[block]

        def reduce_and_penalise(block):
            reduce(block)
            return net.add_penalty(strength, block) if penalised else 0.0

        def penalty():
            # Its value at the weights the batch saw: before any block moves,
            # over the whole vector.
            return net.penalty(strength) if penalised else 0.0

        weight_decay = alpha if decoupled else 0.0

        def begin():
            return optimizer.begin_step_tentatively(weight_decay=weight_decay)

        def update(block):
            reduce(block)
            # The optimizer adds the penalty's gradient itself: its compiled
            # kernel does it in the pass it makes anyway.
            optimizer.update(net.params, net.grads, block, strength, net.n_weights)

        if n == 1:
            # The same two phases, called directly: splitting rows and blocks
            # and handing tasks over would weigh on a small network's step.
            value = forward_backward(0, rows)
            if optimizer is None:
                return value + reduce_and_penalise(slice(None))
            value += penalty()
            # Nothing can fail any more: no need for begin()'s undo.
            optimizer.begin_step(weight_decay=weight_decay)
            update(slice(None))
            return value

        shares = self._split_rows(rows, n_rows, n)
        blocks = _blocks(net.params.size, n)
        if optimizer is not None:
            # Each thread updates its block in the same task as its forward
            # and backward pass, so that block's parameters, summed gradient
            # and optimizer state stay on its core (see _step_in_blocks).
            return self._step_in_blocks(
                n,
                lambda k: forward_backward(k, shares[k]),
                penalty,
                begin,
                lambda k: update(blocks[k]),
            )
        value = sum(self._map(lambda k: forward_backward(k, shares[k]), n))
        if penalised:
            net.penalty_scratch()  # allocated before the threads share it
        return value + sum(self._map(lambda k: reduce_and_penalise(blocks[k]), n))

    def predict(self, X, output_activation, batch_size=4096):
        """Network output with the output activation, rows split between the
        threads (see ``Network.predict``).

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        output_activation : str or Activation
        batch_size : int, default=4096
            Rows per block within a thread.

        Returns
        -------
        y : ndarray of shape (n_samples, n_outputs)
        """
        n_rows = X.shape[0]
        n = min(self.n_threads, max(1, n_rows // MIN_ROWS_PER_THREAD))
        if n == 1 or len(self._workers) < n - 1:
            return self.network.predict(
                X, output_activation, batch_size, compress_rows=self.compress_rows
            )
        out = np.empty((n_rows, self.network.layer_units[-1]), dtype=self.network.dtype)
        shares = _blocks(n_rows, n, align=1)

        def work(k):
            # Network.predict uses buffers of its own call: the threads can
            # share the network.
            share = shares[k]
            out[share] = self.network.predict(
                X[share],
                output_activation,
                batch_size,
                compress_rows=self.compress_rows,
            )

        self._map(work, n)
        return out
