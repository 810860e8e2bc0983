#!/usr/bin/env bash
# ponder's main job on a fresh machine, end to end on the CPU: build a Sudoku dataset (generated
# puzzles with unique solutions, so there is nothing to download), train a small TRM-MLP with deep
# supervision for a few minutes, evaluate it on held-out puzzles, and solve one puzzle showing how
# the answer is refined step by step.
#   scripts/demo.sh [BUILD_DIR]      DEMO_DIR (default demo/), DEMO_MINUTES (default 5)
set -euo pipefail
BUILD=${1:-build}
OUT=${DEMO_DIR:-demo}
MINUTES=${DEMO_MINUTES:-5}
P="$BUILD/ponder"
mkdir -p "$OUT"

echo "== 1. data: 10,000 generated Sudoku puzzles (34 clues), 500 held out, 8 augmentations each"
"$P" data sudoku --generate 10000 --clues 34 --test-size 500 --num-aug 8 --seed 1 \
  --out "$OUT/sudoku" --force

echo "== 2. train the sudoku-cpu preset (TRM-MLP, D=128, T=2, n=2) for $MINUTES minutes"
"$P" train sudoku-cpu --data "$OUT/sudoku" --out "$OUT/run" --minutes "$MINUTES" \
  --eval-examples 0 --force

echo "== 3. evaluate on the 500 held-out puzzles"
"$P" eval "$OUT/run/model.safetensors" "$OUT/sudoku" --json "$OUT/eval.json" \
  --plot "$OUT/accuracy_per_step.svg"

echo "== 4. solve an easy puzzle step by step, then one of the hardest known puzzles"
"$P" solve "$OUT/run/model.safetensors" \
  .4.1...5.1.7..396.52...8..........17...9.68..8.3.5.62..9..6.5436...8.7..25..971.. --show-steps
"$P" solve "$OUT/run/model.safetensors" \
  4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........

echo "demo: dataset $OUT/sudoku, run $OUT/run (metrics.jsonl, model.safetensors), metrics $OUT/eval.json, plot $OUT/accuracy_per_step.svg"
