"""The Markdown report (machine header, timing, placement, memory and sweep
tables) and the raw JSON results."""

import json
import statistics
from dataclasses import asdict
from pathlib import Path

from settings import (
    ALL_IMPLS,
    DISTANT_CORES_US,
    FLOOR,
    FLOOR_LABEL,
    RANDOM_STATE,
    SWEEP_BATCHES,
    SWEEP_WIDTHS,
    is_ref_build,
)

UNITS = {
    "adam32": ("s/epoch", 1.0, "float32"),
    "adam64": ("s/epoch", 1.0, "float64"),
    "sgd": ("s/epoch", 1.0, "float32"),
    "lbfgs_digits": ("s/fit", 1.0, "float64"),
    "predict_proba": ("ms/call", 1e3, "float32"),
}


def _fmt(x):
    if x is None:
        return ""
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def _label(impl):
    return FLOOR_LABEL if impl == FLOOR else impl


def _ref_builds(results):
    """The ``skscratch@REF`` implementations with runs, in order of appearance."""
    return list(dict.fromkeys(r.impl for r in results.runs if is_ref_build(r.impl)))


def _table_impls(results, workload):
    """The implementations with runs of ``workload``, in the tables' order."""
    order = [ALL_IMPLS[0], *_ref_builds(results), *ALL_IMPLS[1:], FLOOR]
    return [i for i in order if results.values(workload, i)]


def _row_accuracy(results, workload, impl):
    accs = [
        r.accuracy
        for r in results.runs
        if r.workload == workload and r.impl == impl and r.accuracy is not None
    ]
    return f"{statistics.median(accs):.4f}" if accs else ""


def timing_table(results, workloads):
    lines = [
        (
            "| workload | dtype | impl | unit | median | min-max | vs sklearn "
            "| vs floor | accuracy | core round trip (us) |"
        ),
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        if workload not in UNITS:
            continue
        unit, scale, dtype = UNITS[workload]
        impls = _table_impls(results, workload)
        medians = {i: statistics.median(results.values(workload, i)) for i in impls}
        ref = medians.get("sklearn")
        floor = medians.get(FLOOR)
        for impl in impls:
            vals = results.values(workload, impl)
            med = medians[impl]
            # The floor's ratio is the lowest any NumPy implementation can reach.
            vs_ref = f"{med / ref:.2f}x" if ref else ""
            vs_floor = f"{med / floor:.2f}x" if floor else ""
            lines.append(
                f"| {workload} | {dtype} | {_label(impl)} | {unit} "
                f"| {_fmt(med * scale)} "
                f"| {_fmt(min(vals) * scale)}-{_fmt(max(vals) * scale)} "
                f"| {vs_ref} | {vs_floor} "
                f"| {_row_accuracy(results, workload, impl)} "
                f"| {_round_trips(results, workload, impl)} |"
            )
        for impl, message in results.failed.get(workload, {}).items():
            lines.append(
                f"| {workload} | {dtype} | {impl} | failed | | | | | {message} | |"
            )
    return lines


# ---------------------------------------------------------------------------
# Core placement
# ---------------------------------------------------------------------------


def _placement(run):
    """'nearby', 'distant' or None (no round trip measured) for a run."""
    if run.core_rtt_us is None:
        return None
    return "distant" if run.core_rtt_us > DISTANT_CORES_US else "nearby"


def _round_trips(results, workload, impl):
    """Median core round trip after this row's runs, and how many of them
    found the threads on distant cores."""
    runs = [
        r
        for r in results.runs
        if r.workload == workload and r.impl == impl and _placement(r) is not None
    ]
    if not runs:
        return ""
    distant = sum(_placement(r) == "distant" for r in runs)
    trips = [r.core_rtt_us for r in runs]
    return f"{statistics.median(trips):.2f} ({distant}/{len(trips)} distant)"


def _placement_medians(results, workload, impl, point=None):
    """Median seconds and run count per core placement of these runs."""
    by_place = {"nearby": [], "distant": []}
    for r in results.runs:
        if r.workload == workload and r.impl == impl and r.point == point:
            place = _placement(r)
            if place is not None:
                by_place[place].append(r.seconds)
    return {
        place: (statistics.median(vals) if vals else None, len(vals))
        for place, vals in by_place.items()
    }


def placement_table(results, workloads):
    """Medians and ratios to scikit-learn computed within each core placement.

    The two virtual CPUs of the benchmark's VM run on nearby or distant cores
    in phases, and every two-thread loop is slower in the distant phase; here
    each implementation's runs are compared with scikit-learn's runs in the
    same placement. Returns no lines when no run has a round trip.
    """
    if not any(_placement(r) for r in results.runs):
        return []
    lines = [
        (
            "| workload | impl | nearby runs | nearby median | nearby vs sklearn "
            "| distant runs | distant median | distant vs sklearn |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        if workload not in UNITS:
            continue
        _, scale, _ = UNITS[workload]
        ref = _placement_medians(results, workload, "sklearn")
        for impl in _table_impls(results, workload):
            cells = []
            for place, (med, count) in _placement_medians(
                results, workload, impl
            ).items():
                ref_med = ref[place][0]
                ratio = f"{med / ref_med:.2f}x" if med and ref_med else ""
                cells += [str(count), _fmt(med * scale) if med else "", ratio]
            lines.append(f"| {workload} | {_label(impl)} | " + " | ".join(cells) + " |")
    return lines


def memory_table(results):
    mib = 1024.0**2
    lines = [
        (
            "| impl | tracemalloc peak during fit (MiB) | peak RSS growth (MiB) "
            "| data X (MiB) |"
        ),
        "|---|---:|---:|---:|",
    ]
    for impl, m in results.memory.items():
        if "error" in m:
            lines.append(f"| {impl} | {m['error']} | | |")
            continue
        tm = m.get("tracemalloc_peak")
        rss = m.get("rss_growth")
        lines.append(
            f"| {impl} | {_fmt(tm / mib) if tm is not None else 'n/a'} "
            f"| {_fmt(rss / mib) if rss is not None else 'n/a'} "
            f"| {_fmt(m['data_bytes'] / mib)} |"
        )
    return lines


# ---------------------------------------------------------------------------
# Sweep
# ---------------------------------------------------------------------------


def _grid(title, cell):
    """A width x batch table of ``cell((width, batch))`` under ``title``."""
    rows = [
        f"{title}",
        "",
        "| width \\ batch | " + " | ".join(map(str, SWEEP_BATCHES)) + " |",
        "|---|" + "---:|" * len(SWEEP_BATCHES),
    ]
    for w in SWEEP_WIDTHS:
        cells = [cell((w, b)) for b in SWEEP_BATCHES]
        rows.append(f"| {w} | " + " | ".join(cells) + " |")
    return [*rows, ""]


def _sweep_median(results, impl, point):
    vals = results.values("sweep", impl, point)
    return statistics.median(vals) if vals else None


def _sweep_ratio(results, impl, reference="sklearn"):
    def cell(point):
        a = _sweep_median(results, impl, point)
        b = _sweep_median(results, reference, point)
        return f"{a / b:.2f}x" if a and b else "n/a"

    return cell


def _sweep_placement_ratio(results):
    def cell(point):
        mine = _placement_medians(results, "sweep", "skscratch", point)
        ref = _placement_medians(results, "sweep", "sklearn", point)
        cells = []
        for place in ("nearby", "distant"):
            (a, n_a), (b, n_b) = mine[place], ref[place]
            cells.append(f"{a / b:.2f}x ({n_a}/{n_b})" if a and b else "n/a")
        return " / ".join(cells)

    return cell


def sweep_tables(results):
    def ran(impl):
        return any(r.impl == impl and r.workload == "sweep" for r in results.runs)

    lines = _grid(
        "Ratio skscratch / sklearn (median fit seconds):",
        _sweep_ratio(results, "skscratch"),
    )
    if any(_placement(r) for r in results.runs if r.workload == "sweep"):
        lines += _grid(
            "The same ratio within each core placement, nearby / distant (runs "
            "of skscratch/sklearn in brackets):",
            _sweep_placement_ratio(results),
        )
    for build in filter(ran, _ref_builds(results)):
        lines += _grid(
            f"Ratio skscratch / {build}, new / old (median fit seconds):",
            _sweep_ratio(results, "skscratch", build),
        )
    if ran(FLOOR):
        lines += _grid(
            "Ratio floor / sklearn: the lowest ratio reachable with dense "
            "products, doing only the matrix products of the epoch (see the "
            "benchmark's README):",
            _sweep_ratio(results, FLOOR),
        )
    for impl in ("skscratch", *_ref_builds(results), "sklearn", FLOOR):
        if ran(impl):
            lines += _grid(
                f"{_label(impl)} median seconds:",
                lambda p, impl=impl: _fmt(_sweep_median(results, impl, p)) or "n/a",
            )
    return lines


# ---------------------------------------------------------------------------
# skscratch against an earlier commit (--compare-ref)
# ---------------------------------------------------------------------------


def _per_rep_ratios(results, workload, new, old, point=None):
    """new/old of the medians of each repetition that ran both."""

    def by_rep(impl):
        reps = {}
        for r in results.runs:
            if r.workload == workload and r.impl == impl and r.point == point:
                reps.setdefault(r.rep, []).append(r.seconds)
        return {rep: statistics.median(v) for rep, v in reps.items()}

    a, b = by_rep(new), by_rep(old)
    return [a[rep] / b[rep] for rep in sorted(a.keys() & b.keys()) if b[rep]]


def _compare_row(results, name, unit, scale, key, build):
    workload, point = key
    new = results.values(workload, "skscratch", point)
    old = results.values(workload, build, point)
    if not new or not old:
        return None
    med_new, med_old = statistics.median(new), statistics.median(old)
    ratios = _per_rep_ratios(results, workload, "skscratch", build, point)
    paired = (
        f"{statistics.median(ratios):.3f}x ({min(ratios):.3f}x-{max(ratios):.3f}x)"
        if ratios
        else ""
    )
    return (
        f"| {name} | {unit} | {_fmt(med_new * scale)} | {_fmt(med_old * scale)} "
        f"| {med_new / med_old:.3f}x | {paired} |"
    )


def compare_table(results, workloads, build):
    """skscratch against ``build`` (skscratch at another commit), per workload."""
    lines = [
        f"| workload | unit | skscratch | {build} | new/old (medians) "
        "| new/old per repetition: median (min-max) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    keys = [(w, None, *UNITS[w][:2]) for w in workloads if w in UNITS]
    if "sweep" in workloads:
        keys += [
            (f"sweep {w}x{b}", (w, b), "s/fit", 1.0)
            for w in SWEEP_WIDTHS
            for b in SWEEP_BATCHES
        ]
    for name, point, unit, scale in keys:
        workload = "sweep" if point else name
        row = _compare_row(results, name, unit, scale, (workload, point), build)
        if row:
            lines.append(row)
    return lines


# ---------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------


def machine_lines(info):
    """The report's first lines, from :func:`machine.machine_info`: CPU,
    platform, versions, thread pools and OpenBLAS's kernels."""
    cores = (
        f"{info['logical_cores']} logical, {info['physical_cores'] or '?'} physical, "
        f"{info['usable_cores']} usable"
    )
    versions = ("numpy", "scipy", "scikit-learn", "torch", "numba", "skscratch")
    return [
        f"- CPU: {info['cpu']} ({cores})",
        f"- {info['platform']}, Python {info['python']}",
        "- versions: " + ", ".join(f"{k} {info[k] or 'n/a'}" for k in versions),
        "- BLAS / thread pools: " + "; ".join(info["blas"]),
        f"- OPENBLAS_CORETYPE: {info.get('openblas_coretype') or 'not set'}",
    ]


def _header(info, cfg, results):
    lines = [
        *machine_lines(info),
        f"- skscratch's optimizer steps: {info.get('optimizer_code')}",
        f"- torch threads: {cfg.torch_threads or 'n/a'}",
        "- core round trip: a cache line between two threads' cores and "
        "back, measured after every timed run; above "
        f"{DISTANT_CORES_US} us the two threads ran on distant cores, where "
        "skscratch's two-thread training loop is slower (see the benchmark's "
        "README)",
        f"- 1-min load average: {info.get('load_start')} at start, "
        f"{info.get('load_end')} at end (other work on the machine skews timings)",
        f"- settings: repeats={cfg.repeats}, epochs={cfg.epochs}, "
        f"MNIST rows train={cfg.train_rows} test={cfg.test_rows}, "
        f"sweep rows={cfg.sweep_rows}, predict calls/rep={cfg.predict_calls}, "
        f"lbfgs max_iter={cfg.lbfgs_iter}, settle={cfg.settle:g} s, "
        f"random_state={RANDOM_STATE}" + (" (--quick)" if cfg.quick else ""),
    ]
    return lines + [f"- note: {n}" for n in results.notes]


def _timing_sections(results, workloads):
    out = ["## Timings", "", *timing_table(results, workloads), ""]
    by_place = placement_table(results, workloads)
    if by_place:
        out += [
            "## Timings by core placement",
            "",
            "Each implementation's runs compared with scikit-learn's runs "
            "made in the same core placement (see the round trip above).",
            "",
            *by_place,
            "",
        ]
    return out


def _compare_sections(results, workloads):
    out = []
    for build in _ref_builds(results):
        out += [
            f"## skscratch against {build}",
            "",
            "Both run in worker processes of their own, interleaved in every "
            "repetition; below 1.000x the current code is faster.",
            "",
            *compare_table(results, workloads, build),
            "",
        ]
    return out


def report(info, cfg, results, workloads):
    out = ["# skscratch MLP benchmark", "", *_header(info, cfg, results), ""]
    if any(w in UNITS for w in workloads):
        out += _timing_sections(results, workloads)
    out += _compare_sections(results, workloads)
    if results.memory:
        out += [
            "## Memory (adam32 fit, beyond the data)",
            "",
            *memory_table(results),
            "",
        ]
    if "sweep" in workloads:
        title = "one hidden layer, adam, float32, 1 epoch"
        out += [
            f"## Sweep: {title} on {cfg.sweep_rows} rows",
            "",
            *sweep_tables(results),
        ]
    return "\n".join(out).rstrip() + "\n"


def write_json(path, info, cfg, results, workloads, extra=None):
    """Every single measurement, the machine and the settings, as JSON."""
    payload = {
        "machine": info,
        "config": asdict(cfg),
        "workloads": workloads,
        "notes": results.notes,
        "failed": results.failed,
        "memory": results.memory,
        "runs": [asdict(r) for r in results.runs],
        **(extra or {}),
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
