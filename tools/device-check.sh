#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU, in about 5 minutes: builds ponder with the CUDA
# backend, checks GPU-vs-CPU parity of every op and of whole training steps (tests/cuda_test.cpp:
# fp32 within 1e-4, bf16 within the bf16 tolerance), times training and inference steps on the GPU
# against the PyTorch reference (tools/reference/, torch.compile, bf16 as the reference trains),
# trains a small Sudoku model for a minute, and prints one table. Everything lands in OUT_DIR.
#   tools/device-check.sh [OUT_DIR]        (default: device-check/)
# Needs nvcc (PATH, CUDA_HOME or /usr/local/cuda), CMake, g++ and ponder's build dependencies;
# where those cannot be installed, tools/device-deps.sh (on a Debian machine) puts them in .deps/
# and this script unpacks them into a private prefix. Exit status: 0 when parity passed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-device-check}
mkdir -p "$OUT"
JOBS=$(nproc)
status=0
note() { echo "== $*" | tee -a "$OUT/summary.txt"; }

# 1. Dependencies carried as .deb files, unpacked outside / (never over the system's own files).
if ls .deps/*.deb >/dev/null 2>&1; then
  PREFIX=/tmp/ponder-deps
  mkdir -p "$PREFIX"
  for f in .deps/*.deb; do dpkg-deb -x "$f" "$PREFIX"; done
  export CMAKE_PREFIX_PATH="$PREFIX/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CPATH="$PREFIX/usr/include${CPATH:+:$CPATH}"
fi
NVCC=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

# 2. Build (Hopper only, to keep the build short).
note "build"
GEN=""
command -v ninja >/dev/null && GEN="-G Ninja"
if ! { cmake -S . -B build-gpu $GEN -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" \
         -DCMAKE_CUDA_ARCHITECTURES=90 && cmake --build build-gpu -j"$JOBS"; } >"$OUT/build.log" 2>&1; then
  tail -30 "$OUT/build.log"
  note "build FAILED (see $OUT/build.log)"
  exit 2
fi
P=build-gpu/ponder

# 3. Parity: every CUDA test must run (none skipped) and pass.
note "parity (tests/cuda_test.cpp)"
build-gpu/tests/ponder_tests --gtest_filter='Cuda*:-CudaAbsent.*' 2>&1 | tee "$OUT/parity.log" | grep -E "^\[ +(OK|FAILED|SKIPPED) +\]|Failure|error" | head -40
if grep -q "^\[  PASSED  \]" "$OUT/parity.log" && ! grep -qE "^\[  (FAILED|SKIPPED) \]" "$OUT/parity.log"; then
  note "parity: passed"
else
  note "parity: FAILED"
  status=1
fi

# 4. Speed: ponder fp32 and bf16 on the GPU at the paper's batch for Sudoku (768) and a batch that
#    fits fp32 activations for 30×30; PyTorch (torch.compile, bf16) on the same configurations.
note "bench"
for m in fp32 bf16; do
  $P --device cuda --matmul $m bench --batch 768 --repeats 5 --case trm_mlp_sudoku \
    --case trm_att_sudoku --case hrm_sudoku --json "$OUT/ponder-$m-sudoku.json" 2>&1 | tee -a "$OUT/bench.log"
  $P --device cuda --matmul $m bench --batch 128 --repeats 5 --case trm_att_30x30_n4 \
    --json "$OUT/ponder-$m-30x30.json" 2>&1 | tee -a "$OUT/bench.log"
done
export PYTHONUNBUFFERED=1
for part in sudoku 30x30; do
  timeout 240 python3 tools/reference/bench.py --cases "$OUT/ponder-bf16-$part.json" --device cuda \
    --compile --dtype bfloat16 --warmup 2 --repeats 5 --only "$( [ $part = sudoku ] && echo trm_mlp_sudoku,trm_att_sudoku || echo trm_att_30x30_n4)" \
    --json "$OUT/torch-bf16-$part.json" 2>&1 | tail -5 | tee -a "$OUT/bench.log"
done

# 5. A minute of Sudoku training on the GPU, then its evaluation.
note "train"
{
  $P data sudoku --generate 4000 --clues 34 --test-size 200 --num-aug 8 --seed 1 --out "$OUT/sudoku" --force &&
  $P --device cuda train sudoku-cpu --data "$OUT/sudoku" --out "$OUT/run" --minutes 1 --eval-examples 0 --force &&
  $P --device cuda eval "$OUT/run/model.safetensors" "$OUT/sudoku" --json "$OUT/eval.json"
} >"$OUT/train.log" 2>&1 || { note "train FAILED (see $OUT/train.log)"; status=1; }
tail -5 "$OUT/train.log"

# 6. One table.
python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None
rows, torch_t = {}, {}
for part in ("sudoku", "30x30"):
    for m in ("fp32", "bf16"):
        j = load("ponder-%s-%s.json" % (m, part))
        for c in (j or {}).get("cases", []):
            rows.setdefault(c["name"], {"batch": c["batch"]})[m] = c
    t = load("torch-bf16-%s.json" % part)
    for r in (t or {}).get("results", []):
        torch_t[r["name"]] = r["train_step"]["median_s"]
print("| case | batch | ponder fp32 step | ponder bf16 step | bf16 % of GEMM peak | torch.compile bf16 step | speed-up (bf16) | inference puzzles/s (bf16) |")
print("|---|---|---|---|---|---|---|---|")
for name, r in rows.items():
    f, b = r.get("fp32"), r.get("bf16")
    ts = torch_t.get(name)
    bs = b["train_step"]["median_s"] if b else None
    cell = lambda x, fmt: (fmt % x) if x is not None else "–"
    print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
        name, r["batch"], cell(f and f["train_step"]["median_s"], "%.4f s"), cell(bs, "%.4f s"),
        cell(b and 100 * b["train_fraction_of_peak"], "%.1f%%"), cell(ts, "%.4f s"),
        cell(ts / bs if ts and bs else None, "%.2f×"), cell(b and b["inference_puzzles_per_s"], "%.0f")))
mlp = rows.get("trm_mlp_sudoku", {}).get("bf16")
if mlp:
    hours = mlp["train_step"]["median_s"] * 65000 / 3600
    print("\nSudoku-Extreme TRM-MLP recipe (65k steps of batch 768), projected from the bf16 step: %.1f h" % hours)
ev = load("eval.json")
if ev:
    print("1-minute sudoku-cpu training on the GPU, eval: %s" % json.dumps(ev)[:300])
PY
note "device check done, status $status"
exit $status
