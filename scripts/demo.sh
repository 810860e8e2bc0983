#!/usr/bin/env bash
# The main job at this stage of ponder: initialise a small TRM-MLP for Sudoku and run supervision
# steps with backward and optimizer updates on bundled puzzles, printing the loss and metrics.
set -euo pipefail
BUILD=${1:-build}
OUT=${DEMO_DIR:-demo}
mkdir -p "$OUT"
"$BUILD/ponder" init examples/sudoku-mlp-small.json --out "$OUT/model.safetensors" --seed 0 --force
"$BUILD/ponder" step --model "$OUT/model.safetensors" --batch examples/sudoku_batch.safetensors \
  --out "$OUT/step.safetensors" --optimizer-steps 3
"$BUILD/ponder" inspect "$OUT/step.safetensors" | grep -E '^(loss|metrics\.[a-z_]+|q_halt) ' | cut -c1-110
echo "demo: outputs, carry, gradients and updated parameters are in $OUT/step.safetensors"
