#!/usr/bin/env bash
# ponder against the PyTorch reference (tools/reference/), on the same configurations, in one run:
#   bench/compare_pytorch.sh [--repeats N] [--case NAME]... [--out DIR] [--dtypes "float32 bfloat16"]
# Environment: BUILD (default build), THREADS (default 2).
#
# PyTorch is set up as well as this machine allows: THREADS intra-op threads, OpenBLAS (Debian's
# libblas.so.3 alternative) told its core type, jemalloc with PyTorch's recommended settings (or
# tcmalloc) preloaded when installed. fp32 matmuls go to OpenBLAS; bf16 ones to oneDNN, as in the
# reference's default mixed precision (forward_dtype bfloat16).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPEATS=5
OUT=""
DTYPES="float32 bfloat16"
CASES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) REPEATS=$2; shift 2 ;;
    --case) CASES+=("$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --dtypes) DTYPES=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "compare_pytorch.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$BUILD/ponder" ] || { echo "compare_pytorch.sh: $BUILD/ponder not found; run 'make build' first" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null \
  || { echo "compare_pytorch.sh: /usr/bin/python3 cannot import torch; run scripts/install-deps.sh" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/ponder-compare.XXXXXX)}
mkdir -p "$OUT"

case_args=()
only=""
for c in "${CASES[@]+"${CASES[@]}"}"; do
  case_args+=(--case "$c")
  only="${only:+$only,}$c"
done

for m in fp32 bf16; do
  echo "== ponder, $m GEMMs ($THREADS threads)"
  OMP_NUM_THREADS=$THREADS "$BUILD/ponder" bench --matmul "$m" --repeats "$REPEATS" \
    "${case_args[@]+"${case_args[@]}"}" --json "$OUT/ponder-$m.json"
done

if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
allocator="glibc malloc"
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4; do
  if [ -e "$lib" ]; then
    export LD_PRELOAD=$lib
    allocator=$(basename "$lib")
    break
  fi
done
export MALLOC_CONF="oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:-1,muzzy_decay_ms:-1"
for dt in $DTYPES; do
  echo "== PyTorch $dt ($THREADS threads, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE, $allocator)"
  /usr/bin/python3 tools/reference/bench.py --cases "$OUT/ponder-fp32.json" --dtype "$dt" --repeats "$REPEATS" \
    --threads "$THREADS" ${only:+--only "$only"} --json "$OUT/torch-$dt.json"
done
unset LD_PRELOAD

echo "== ratios (PyTorch median / ponder median; > 1: ponder is faster)"
/usr/bin/python3 - "$OUT" $DTYPES <<'EOF'
import json, sys
out, dtypes = sys.argv[1], sys.argv[2:]
ponder = {m: {c["name"]: c for c in json.load(open("%s/ponder-%s.json" % (out, m)))["cases"]}
          for m in ("fp32", "bf16")}
torch = {dt: {r["name"]: r for r in json.load(open("%s/torch-%s.json" % (out, dt)))["results"]}
         for dt in dtypes}
pairs = [("fp32", "float32"), ("bf16", "bfloat16"), ("fp32", "bfloat16")]
short = {"float32": "f32", "bfloat16": "bf16", "fp32": "f32", "bf16": "bf16"}
for kind in ("train_step", "eval_step"):
    print("%s (median seconds)" % kind)
    head = "%-18s %10s %11s" % ("case", "ponder f32", "ponder bf16")
    head += "".join(" %11s" % ("torch " + short[dt]) for dt in dtypes)
    head += "".join(" %18s" % ("torch %s/ponder %s" % (short[dt], short[m])) for m, dt in pairs
                    if dt in dtypes)
    print(head)
    for name in ponder["fp32"]:
        p = {m: ponder[m][name][kind]["median_s"] for m in ("fp32", "bf16") if name in ponder[m]}
        t = {dt: torch[dt][name][kind]["median_s"] for dt in dtypes if name in torch[dt]}
        line = "%-18s %9.3fs %10.3fs" % (name, p["fp32"], p.get("bf16", float("nan")))
        line += "".join(" %10.3fs" % t.get(dt, float("nan")) for dt in dtypes)
        line += "".join(" %17.2fx" % (t[dt] / p[m]) for m, dt in pairs if dt in t and m in p)
        print(line)
peak = json.load(open(out + "/ponder-fp32.json"))["fp32_peak_flops"]
print("fp32 peak (FMA loop): %.1f GFLOP/s; results in %s" % (peak * 1e-9, out))
EOF
