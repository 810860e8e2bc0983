#!/usr/bin/python3
"""Checks tests/fixtures against the reference itself.

For every case: runs step.py semantics (in process) with the case's flags and compares with
expected.safetensors using the engine's rule (relative L2 error <= 1e-4 for outputs and gradients,
<= 1e-5 for param.* / ema.*, preds/steps/halted exactly equal) and prints the worst errors.

  check_fixtures.py [--fixtures tests/fixtures] [--dtype float32|float64|bfloat16] [--cases a,b]

--dtype float64 should reproduce the files exactly (errors ~0); --dtype float32 is a stand-in for
ponder's float32 engine.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ponder_ref as pr  # noqa: E402
import safetensors_io as st  # noqa: E402

EXACT = ("preds", "steps", "halted")


def flags_of(case):
    if case.endswith("_eval16"):
        return dict(eval_mode=True, chain=16)
    return dict(optimizer_steps=3)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.normpath(os.path.join(here, "..", "..", "tests", "fixtures")))
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16"])
    ap.add_argument("--cases", default="all")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = {}
    path = os.path.join(args.fixtures, "cases.json")
    if os.path.exists(path):
        info = json.load(open(path))
    cases = sorted(d for d in os.listdir(args.fixtures) if os.path.isdir(os.path.join(args.fixtures, d)))
    if args.cases != "all":
        cases = args.cases.split(",")
    failures = 0
    for case in cases:
        d = os.path.join(args.fixtures, case)
        want, _ = st.load(os.path.join(d, "expected.safetensors"))
        flags = flags_of(case)
        if case in info:
            f = info[case]["flags"].split()
            flags = dict(eval_mode=True, chain=int(f[2])) if f[0] == "--eval" else dict(optimizer_steps=int(f[1]))
        got, _ = pr.run_step(os.path.join(d, "model.safetensors"), os.path.join(d, "batch.safetensors"),
                             dtype=args.dtype, **flags)
        problems, worst_out, worst_par = [], (0.0, ""), (0.0, "")
        for k in sorted(set(want) | set(got)):
            if k not in want or k not in got:
                problems.append("%s missing in %s" % (k, "expected" if k not in want else "output"))
                continue
            if k in EXACT:
                if not np.array_equal(want[k], got[k]):
                    problems.append("%s differs" % k)
                continue
            w, g = want[k].astype(np.float64), got[k].astype(np.float64)
            n = np.linalg.norm(w.ravel())
            e = np.linalg.norm((g - w).ravel()) / (n if n > 0 else 1.0)
            is_param = k.startswith("param.") or k.startswith("ema.")
            if is_param:
                worst_par = max(worst_par, (e, k))
            else:
                worst_out = max(worst_out, (e, k))
            if e > (1e-5 if is_param else 1e-4):
                problems.append("%s rel err %.2e" % (k, e))
        status = "ok" if not problems else "FAIL"
        failures += bool(problems)
        print("%-22s %-4s worst output %.2e (%s)  worst param %.2e (%s)%s" % (
            case, status, worst_out[0], worst_out[1], worst_par[0], worst_par[1] or "-",
            "" if not problems else "\n    " + "\n    ".join(problems)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
