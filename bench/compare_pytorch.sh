#!/usr/bin/env bash
# ponder against the PyTorch reference (tools/reference/), on the same configurations, in one run:
#   bench/compare_pytorch.sh [--rounds R] [--repeats N] [--warmup W] [--case NAME]... [--out DIR]
#                            [--dtypes "float32 bfloat16"]
# Environment: BUILD (default build), THREADS (default 2).
#
# The machines here are shared and their speed drifts by tens of percent within minutes, so the
# engines take turns: each of R rounds runs, case by case, ponder (fp32, then bf16 GEMMs) and then
# PyTorch (each dtype), and a ratio is taken within a round, from runs minutes apart. The summary
# gives, per case, each engine's median over rounds and the median (and range) of the per-round
# ratios.
#
# PyTorch is set up as well as this machine allows: THREADS intra-op threads, OpenBLAS (Debian's
# libblas.so.3 alternative) told its core type, jemalloc with PyTorch's recommended settings (or
# tcmalloc) preloaded when installed. fp32 matmuls go to OpenBLAS; bf16 ones to oneDNN, as in the
# reference's default mixed precision (forward_dtype bfloat16).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
ROUNDS=3
REPEATS=3
WARMUP=1
OUT=""
DTYPES="float32 bfloat16"
CASES=()
while [ $# -gt 0 ]; do
  case "$1" in --rounds|--repeats|--warmup|--case|--out|--dtypes)
    [ $# -ge 2 ] || { echo "compare_pytorch.sh: $1 needs a value (see --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --case) CASES+=("$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --dtypes) DTYPES=$2; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "compare_pytorch.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$ROUNDS" "$REPEATS" "$WARMUP"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "compare_pytorch.sh: --rounds, --repeats and --warmup take a number, not '$n'" >&2; exit 2; }
done
[ "$ROUNDS" -ge 1 ] && [ "$REPEATS" -ge 1 ] || { echo "compare_pytorch.sh: --rounds and --repeats must be at least 1" >&2; exit 2; }
[ -n "${DTYPES// }" ] || { echo "compare_pytorch.sh: --dtypes names none of float32, bfloat16" >&2; exit 2; }
for dt in $DTYPES; do
  case "$dt" in float32|bfloat16) ;; *) echo "compare_pytorch.sh: --dtypes: '$dt' is not float32 or bfloat16" >&2; exit 2 ;; esac
done
[ -x "$BUILD/ponder" ] || { echo "compare_pytorch.sh: $BUILD/ponder not found; run 'make build' first" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null \
  || { echo "compare_pytorch.sh: /usr/bin/python3 cannot import torch; run scripts/install-deps.sh" >&2; exit 2; }
if [ ${#CASES[@]} -eq 0 ]; then
  list=$("$BUILD/ponder" bench --list)
  mapfile -t CASES < <(awk '{print $1}' <<<"$list")
  [ ${#CASES[@]} -gt 0 ] || { echo "compare_pytorch.sh: '$BUILD/ponder bench --list' named no cases" >&2; exit 2; }
fi
OUT=${OUT:-$(mktemp -d /tmp/ponder-compare.XXXXXX)}
mkdir -p "$OUT"

# PyTorch's environment, given to its runs only.
if grep -q avx512f /proc/cpuinfo; then coretype=SkylakeX; else coretype=Haswell; fi
torch_env=(OPENBLAS_CORETYPE=$coretype OPENBLAS_NUM_THREADS=$THREADS
           MALLOC_CONF="oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:-1,muzzy_decay_ms:-1")
allocator="glibc malloc"
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4; do
  if [ -e "$lib" ]; then
    torch_env+=(LD_PRELOAD=$lib)
    allocator=$(basename "$lib")
    break
  fi
done
export OMP_NUM_THREADS=$THREADS
echo "== $ROUNDS rounds of ${CASES[*]}: ponder fp32 and bf16 GEMMs, then PyTorch $DTYPES;" \
     "$THREADS threads; PyTorch with OPENBLAS_CORETYPE=$coretype, $allocator"

for round in $(seq 1 "$ROUNDS"); do
  dir=$OUT/round$round
  mkdir -p "$dir"
  for c in "${CASES[@]}"; do
    for m in fp32 bf16; do
      echo "-- round $round, $c: ponder $m"
      # The case's row and any note after it, without the two header lines.
      "$BUILD/ponder" bench --matmul "$m" --case "$c" --repeats "$REPEATS" --warmup "$WARMUP" \
        --json "$dir/ponder-$m-$c.json" | tail -n +3
    done
    for dt in $DTYPES; do
      echo "-- round $round, $c: PyTorch $dt"
      env "${torch_env[@]}" /usr/bin/python3 tools/reference/bench.py --cases "$dir/ponder-fp32-$c.json" \
        --dtype "$dt" --repeats "$REPEATS" --warmup "$WARMUP" --threads "$THREADS" \
        --json "$dir/torch-$dt-$c.json"
    done
  done
done

echo "== summary (medians over rounds; ratios are PyTorch / ponder within a round: > 1, ponder is faster)"
/usr/bin/python3 - "$OUT" "$ROUNDS" "$DTYPES" "${CASES[@]}" <<'EOF'
import json, statistics, sys
out, rounds, dtypes, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
load = lambda path: json.load(open(path))
modes = [("ponder", "fp32"), ("ponder", "bf16")] + [("torch", dt) for dt in dtypes]
short = {"fp32": "f32", "bf16": "bf16", "float32": "f32", "bfloat16": "bf16"}
pairs = [(("torch", dt), ("ponder", m)) for m, dt in (("fp32", "float32"), ("bf16", "bfloat16"),
                                                      ("fp32", "bfloat16")) if dt in dtypes]
def seconds(r, engine, mode, case, kind):
    d = "%s/round%d/%s-%s-%s.json" % (out, r, engine, mode, case)
    entry = load(d)["cases"][0] if engine == "ponder" else load(d)["results"][0]
    return entry[kind]["median_s"]
# Every reading of the peak: a low one is a core other work took for a moment (docs/PERF.md v0.12).
runs = [load("%s/round%d/ponder-%s-%s.json" % (out, r, m, c))
        for r in range(1, rounds + 1) for c in cases for m in ("fp32", "bf16")]
summary, peaks = {}, [x * 1e-9 for run in runs for x in run["peak_readings_flops"]]
for kind in ("train_step", "eval_step"):
    print("%s (median seconds over rounds; ratio: median [min-max] of the per-round ratios)" % kind)
    print("%-18s" % "case" + "".join(" %11s" % ("%s %s" % (e, short[m])) for e, m in modes)
          + "".join(" %24s" % ("torch %s/ponder %s" % (short[t[1]], short[p[1]])) for t, p in pairs))
    for c in cases:
        s = {em: [seconds(r, em[0], em[1], c, kind) for r in range(1, rounds + 1)] for em in modes}
        ratios = {(t, p): [a / b for a, b in zip(s[t], s[p])] for t, p in pairs}
        line = "%-18s" % c + "".join(" %10.3fs" % statistics.median(s[em]) for em in modes)
        for key in pairs:
            rs = ratios[key]
            line += " %24s" % ("%.2fx [%.2f-%.2f]" % (statistics.median(rs), min(rs), max(rs)))
        print(line)
        summary.setdefault(c, {})[kind] = {
            "seconds": {"%s %s" % em: v for em, v in s.items()},
            "ratios": {"torch %s / ponder %s" % (t[1], p[1]): v for (t, p), v in ratios.items()}}
# Whether the CPU has AMX decides which of ponder's precisions is the faster (docs/PERF.md v0.8).
isa = load("%s/round1/ponder-fp32-%s.json" % (out, cases[0])).get("cpu_isa", "unknown")
json.dump({"rounds": rounds, "cpu_isa": isa, "fp32_peak_readings_gflops": peaks, "cases": summary},
          open(out + "/summary.json", "w"), indent=1)
print("oneDNN ISA %s; fp32 peak readings (FMA loop) over the run: %.0f-%.0f GFLOP/s (each run held "
      "against its highest); every run and summary.json in %s" % (isa, min(peaks), max(peaks), out))
EOF
