#!/usr/bin/python3
"""Times the PyTorch reference on the configurations of `ponder bench`, for bench/compare_pytorch.sh.

  bench.py --cases ponder-bench.json [--dtype float32|bfloat16] [--repeats 5] [--warmup 1]
           [--threads 2] [--only NAME,...] [--json OUT] [--device cpu|cuda] [--compile]

--cases is the JSON written by `ponder bench --json`: each case carries its run configuration (the
reference's all_config.yaml shape) and batch size, so both engines time the same model. Per case it
measures one training supervision step (forward through every cycle, loss, backward, SignSGD +
AdamATan2 + EMA, as `Session.train_iteration`) and one evaluation step (no gradients), each as the
median and minimum of --repeats runs after --warmup, on one random batch whose carry persists.
--device cuda runs it on the GPU (PyTorch >= 2.0: every tensor the reference makes goes there) and
--compile wraps the model's inner forward in torch.compile, as the reference trains.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ponder_ref  # noqa: E402


def random_batch(cfg, B, seed, device):
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, cfg.vocab_size, size=(B, cfg.seq_len), dtype=np.int32)
    labels = rng.integers(1, cfg.vocab_size, size=(B, cfg.seq_len), dtype=np.int32)
    ids = np.zeros(B, dtype=np.int32)
    return {"inputs": torch.from_numpy(inputs).to(device), "labels": torch.from_numpy(labels).to(device),
            "puzzle_identifiers": torch.from_numpy(ids).to(device)}


def synchronize():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": times}


def use_device(device):
    """Makes every tensor the reference creates live on `device`: factories through the default
    device, copies of numpy arrays through _tensor_copy."""
    if device == "cpu":
        return
    torch.set_default_device(device)
    copy = ponder_ref._tensor_copy
    ponder_ref._tensor_copy = lambda array, dtype: copy(array, dtype).to(device)


def bench_case(case, dtype, warmup, repeats, device="cpu", compile_model=False):
    raw, B = case["config"], int(case["batch"])
    cfg = ponder_ref.Config(raw, batch_size=B)
    if device == "cpu":
        tensors = ponder_ref.init_model_tensors(cfg, 0)
    else:
        with torch.device("cpu"):   # the initialiser draws from a CPU generator
            tensors = ponder_ref.init_model_tensors(cfg, 0)
    sess = ponder_ref.Session(raw, tensors, B, dtype)
    if compile_model:
        sess.model.inner = torch.compile(sess.model.inner)
    data = random_batch(cfg, B, 0, device)
    state = {"carry": ponder_ref.fresh_carry(sess.model, B), "step": 0}

    def train():
        state["step"] += 1
        state["carry"], _ = sess.train_iteration(state["carry"], data, state["step"], 1000)

    def evaluate():
        with torch.no_grad():
            state["carry"] = sess.forward_loss(state["carry"], data, training=False)[0]

    return {"name": case["name"], "batch": B, "dtype": dtype, "device": device, "compiled": compile_model,
            "train_step": timed(train, warmup, repeats), "eval_step": timed(evaluate, warmup, repeats)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", required=True, help="JSON written by `ponder bench --json`")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the model's inner forward")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    if args.device == "cuda" and not (torch.cuda.is_available() and hasattr(torch, "set_default_device")):
        ap.error("--device cuda: this PyTorch (%s) sees no GPU or predates 2.0" % torch.__version__)
    if args.compile and not hasattr(torch, "compile"):
        ap.error("--compile: this PyTorch (%s) has no torch.compile (2.0 or later)" % torch.__version__)
    use_device(args.device)
    torch.set_num_threads(max(1, args.threads))
    try:
        with open(args.cases) as f:
            cases = json.load(f)["cases"]
    except (OSError, ValueError, KeyError) as e:
        ap.error("%s: not a `ponder bench --json` file (%s)" % (args.cases, e))
    only = [n for n in args.only.split(",") if n]
    unknown = set(only) - {c["name"] for c in cases}
    if unknown:
        ap.error("--only: no case named %s in %s" % (", ".join(sorted(unknown)), args.cases))
    results = []
    for case in cases:
        if only and case["name"] not in only:
            continue
        r = bench_case(case, args.dtype, args.warmup, args.repeats, args.device, args.compile)
        results.append(r)
        print("%-18s %-8s %-4s train step %8.4f s (min %.4f)   eval step %8.4f s" % (
            r["name"], args.dtype, args.device, r["train_step"]["median_s"], r["train_step"]["min_s"],
            r["eval_step"]["median_s"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
