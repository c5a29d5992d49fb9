"""The device benchmark's results: one record per timed run, their summary
(medians, ratios to the hand-written loop, throughput), the Markdown report
and the raw JSON."""

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import device_contenders as dc
from report import machine_lines
from runner import load_average
from settings import RANDOM_STATE


@dataclass
class DeviceRun:
    """One timed measurement: seconds per epoch of a fit, or seconds per
    product of ``torch.matmul``."""

    workload: str
    impl: str
    rep: int
    seconds: float
    fit_seconds: float | None = None
    n_iter: int | None = None
    loss: float | None = None  # the fit's last epoch's objective
    rows: int | None = None
    products: int | None = None  # matmul: products per timing
    load: float | None = field(default_factory=load_average)


def _seconds(results, workload, impl):
    runs = results.runs
    return [r.seconds for r in runs if r.workload == workload and r.impl == impl]


def _matmul_summary(results, workload, width):
    secs = _seconds(results, workload, dc.MATMUL)
    if not secs:
        return None
    med = statistics.median(secs)
    return {
        "impl": dc.MATMUL,
        "size": width,
        "median_s": med,
        "min_s": min(secs),
        "max_s": max(secs),
        "gflops": 2.0 * width**3 / med / 1e9,
    }


def _fit_row(results, workload, impl, cfg, refs):
    """Summary of one contender's fits of one workload (None if none ran)."""
    runs = [r for r in results.runs if r.workload == workload and r.impl == impl]
    if not runs:
        return None
    secs = [r.seconds for r in runs]
    med = statistics.median(secs)
    loop, matmul = refs
    gflops = dc.epoch_flops(runs[0].rows, dc.layer_sizes(workload, cfg.width))
    gflops /= med * 1e9
    # The CPU path's share of a GPU's throughput would compare two machines.
    same_device = impl != dc.SKSCRATCH_CPU or cfg.device == "cpu"
    return {
        "workload": workload,
        "impl": impl,
        "device": "cpu (NumPy)" if impl == dc.SKSCRATCH_CPU else cfg.device,
        "rows": runs[0].rows,
        "median_s": med,
        "min_s": min(secs),
        "max_s": max(secs),
        "vs_loop": med / loop if loop else None,
        "loss": statistics.median(r.loss for r in runs),
        "gflops": gflops,
        "of_matmul": gflops / matmul["gflops"] if matmul and same_device else None,
    }


def summarize(results, cfg):
    """``{workload: {"fits": [rows], "matmul": row or None}}``."""
    summary = {}
    for workload in cfg.workloads:
        loop = _seconds(results, workload, dc.TORCH_LOOP)
        matmul = _matmul_summary(results, workload, cfg.width)
        refs = (statistics.median(loop) if loop else None, matmul)
        fits = [_fit_row(results, workload, i, cfg, refs) for i in dc.DEVICE_IMPLS]
        summary[workload] = {"fits": [f for f in fits if f], "matmul": matmul}
    return summary


def _fmt(x, digits=3):
    if x is None:
        return ""
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:.0f}"


def _workload_label(workload, width):
    hidden, batch = dc.workload_shape(workload, width)
    return f"{workload} {tuple(hidden)} batch {batch}"


def fit_table(summary, cfg, results):
    lines = [
        "| workload | impl | device | rows | s/epoch (median) | min-max "
        "| vs torch-loop | last epoch's loss | GFLOP/s | of torch.matmul |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload, parts in summary.items():
        label = _workload_label(workload, cfg.width)
        for row in parts["fits"]:
            ratio = f"{row['vs_loop']:.2f}x" if row["vs_loop"] else ""
            share = f"{100 * row['of_matmul']:.0f} %" if row["of_matmul"] else ""
            lines.append(
                f"| {label} | {row['impl']} | {row['device']} | {row['rows']} "
                f"| {_fmt(row['median_s'])} "
                f"| {_fmt(row['min_s'])}-{_fmt(row['max_s'])} | {ratio} "
                f"| {_fmt(row['loss'], 4)} | {_fmt(row['gflops'])} | {share} |"
            )
        for impl, message in results.failed.get(workload, {}).items():
            lines.append(f"| {label} | {impl} | failed: {message} | | | | | | | |")
    return lines


def matmul_table(summary, cfg):
    lines = [
        "| device | product | ms (median) | min-max | GFLOP/s |",
        "|---|---|---:|---:|---:|",
    ]
    for parts in summary.values():
        m = parts["matmul"]
        if m:
            n = m["size"]
            lines.append(
                f"| {cfg.device} | {n}x{n} @ {n}x{n} float32 "
                f"| {_fmt(1e3 * m['median_s'])} "
                f"| {_fmt(1e3 * m['min_s'])}-{_fmt(1e3 * m['max_s'])} "
                f"| {_fmt(m['gflops'])} |"
            )
    return lines if len(lines) > 2 else []


def _device_line(device):
    if device["device"] != "cuda":
        line = "- device: cpu (torch tensors on the CPU)"
    else:
        line = (
            f"- device: cuda, {device['name']} ({device['memory_gib']} GiB), "
            f"CUDA {device['cuda']}, TF32 matmul allowed: {device['allow_tf32']}"
        )
    return line + f"; float32 matmul precision: {device['float32_matmul_precision']}"


def _optimizer_code(info):
    # machine_info's text also names bench_mlp's skscratch-numpy, not run here.
    return str(info.get("optimizer_code")).split(" (")[0]


def _header(info, cfg, results):
    data = "generated (--synthetic)" if cfg.synthetic else f"MNIST from {cfg.data_dir}"
    return [
        _device_line(info["device"]),
        *machine_lines(info),
        f"- skscratch-cpu's optimizer steps: {_optimizer_code(info)}",
        f"- torch CPU threads: {cfg.torch_threads}",
        f"- 1-min load average: {info.get('load_start')} at start, "
        f"{info.get('load_end')} at end (other work on the machine skews timings)",
        f"- settings: repeats={cfg.repeats}, epochs per fit={cfg.epochs}, "
        f"width={cfg.width}, settle={cfg.settle:g} s, data: {data}, "
        f"random_state={RANDOM_STATE}" + (" (--quick)" if cfg.quick else ""),
        f"- contenders: {dc.SKSCRATCH_TORCH} = skscratch fitted on torch tensors "
        f"on {cfg.device} under array_api_dispatch; {dc.TORCH_LOOP} = a "
        "hand-written PyTorch eager loop of the same network on the same "
        f"device; {dc.SKSCRATCH_CPU} = skscratch on NumPy arrays (CPU)",
        *(f"- note: {n}" for n in results.notes),
    ]


def markdown(info, cfg, results):
    summary = summarize(results, cfg)
    out = ["# skscratch device benchmark", "", *_header(info, cfg, results), ""]
    out += ["## Seconds per epoch", "", *fit_table(summary, cfg, results), ""]
    matmul = matmul_table(summary, cfg)
    if matmul:
        out += [f"## torch.matmul on {cfg.device}", "", *matmul, ""]
    return "\n".join(out).rstrip() + "\n"


def write_json(path, info, cfg, results):
    """Every measurement, their summary, the machine and the settings."""
    payload = {
        "machine": info,
        "config": asdict(cfg),
        "notes": results.notes,
        "failed": results.failed,
        "summary": summarize(results, cfg),
        "runs": [asdict(r) for r in results.runs],
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
