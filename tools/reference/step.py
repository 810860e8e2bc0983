#!/usr/bin/python3
"""Reference counterpart of `ponder step`: one supervision step (or K training iterations, or an
evaluation chain) on one batch, all results written to a safetensors file.

  step.py --model W.safetensors --batch B.safetensors --out O.safetensors
          [--optimizer-steps K] [--eval] [--chain N] [--dtype float32|float64|bfloat16] [--threads 2]

See tools/reference/README.md for the file contents.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ponder_ref  # noqa: E402
import safetensors_io as st  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model safetensors (config JSON in __metadata__)")
    ap.add_argument("--batch", required=True, help="batch safetensors (inputs, labels, puzzle_identifiers [+carry])")
    ap.add_argument("--out", required=True, help="output safetensors")
    ap.add_argument("--optimizer-steps", type=int, default=0, metavar="K",
                    help="run K training iterations on the batch (lr schedule over K steps)")
    ap.add_argument("--eval", action="store_true", help="evaluation mode (no early halting, no gradients)")
    ap.add_argument("--chain", type=int, default=1, metavar="N", help="with --eval: N steps in a row")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    if args.optimizer_steps < 0:
        ap.error("--optimizer-steps must be >= 0")
    if args.eval and args.optimizer_steps:
        ap.error("--eval cannot be combined with --optimizer-steps")
    if args.chain != 1 and not args.eval:
        ap.error("--chain needs --eval")
    if args.chain < 1:
        ap.error("--chain must be >= 1")
    torch.set_num_threads(max(1, args.threads))

    try:
        outputs, _ = ponder_ref.run_step(args.model, args.batch, dtype=args.dtype,
                                         optimizer_steps=args.optimizer_steps,
                                         eval_mode=args.eval, chain=args.chain)
    except ponder_ref.ConfigError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    st.save(args.out, outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
