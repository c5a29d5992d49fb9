#!/usr/bin/env bash
# The GPU check of the array-API work, as one prepared command for a lent
# GPU machine (no internet there): the array-API tests, then
# benchmarks/bench_device.py on CUDA, results under $OUT.
#
#   bash benchmarks/device_run.sh prepare   # here, with internet: fills .whl/ and .mnist/
#   bash benchmarks/device_run.sh           # there, with .whl and .mnist carried along
#
# The machine's image has PyTorch (CUDA), NumPy, SciPy, Numba and pytest;
# scikit-learn >= 1.9 (array-API dispatch to torch tensors) and
# array-api-strict travel as wheels, MNIST as its four IDX files, both in
# folders that .git/info/exclude keeps out of git. Takes about 5 minutes;
# the two steps are capped at 180 s and 300 s.
set -u
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SKLEARN_VERSION=1.9.1
STRICT_VERSION=2.6.1

prepare() {
    for dir in /.whl/ /.mnist/; do
        grep -qxF "$dir" .git/info/exclude 2>/dev/null || echo "$dir" >>.git/info/exclude
    done
    # Wheels for the machine's Python (3.12 on x86-64), whatever runs this.
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "scikit-learn==$SKLEARN_VERSION" "array-api-strict==$STRICT_VERSION" ||
        exit 1
    local mnist=${SKSCRATCH_MNIST_DIR:-../shared/datasets/mnist}
    mkdir -p .mnist && cp "$mnist"/*-ubyte* .mnist/ || echo "no MNIST in $mnist: the run will use --synthetic"
    du -sh .whl .mnist
}

run() {
    : "${OUT:?OUT must name the folder for the results}"
    export PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
    "$PYTHON" - >"$OUT/versions.txt" 2>&1 <<'EOF'
import platform, numpy, scipy, sklearn, torch
print("python", platform.python_version(), "numpy", numpy.__version__,
      "scipy", scipy.__version__, "scikit-learn", sklearn.__version__,
      "torch", torch.__version__, "cuda", torch.version.cuda,
      "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
EOF
    cat "$OUT/versions.txt"

    timeout 180 "$PYTHON" -m pytest tests/test_array_api.py -q -p no:cacheprovider \
        >"$OUT/pytest.txt" 2>&1
    echo "pytest tests/test_array_api.py: exit $? (last lines below)"
    tail -n 5 "$OUT/pytest.txt"

    local data=(--data-dir .mnist)
    compgen -G ".mnist/*-ubyte*" >/dev/null || data=(--synthetic)
    timeout 300 "$PYTHON" benchmarks/bench_device.py --device cuda "${data[@]}" \
        --json "$OUT/bench_device.json" --out "$OUT/bench_device.md" \
        >/dev/null 2>"$OUT/bench_device.log"
    echo "bench_device.py: exit $?"
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw \
        --format=csv >>"$OUT/nvidia-smi.txt" 2>&1
    cat "$OUT/bench_device.md" 2>/dev/null || tail -n 20 "$OUT/bench_device.log"
}

case "${1:-run}" in
prepare) prepare ;;
run) run ;;
*) echo "usage: $0 [prepare|run]" >&2 && exit 2 ;;
esac
