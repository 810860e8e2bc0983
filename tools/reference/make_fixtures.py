#!/usr/bin/python3
"""Writes the committed parity fixtures: tests/fixtures/<case>/{model,batch,expected}.safetensors
and tests/fixtures/README.md.

Expected values are computed by ponder_ref in float64 ("truth"); ponder's engine is compared to them
in float32. Because the comparison crosses discontinuities (argmax, halting thresholds, sign() in
SignSGD, the first AdamATan2 step), every case is generated from a seed and rejected unless

  margins (measured on the float64 run):
    * every argmax top-2 logit gap > 1e-3 (every cell of every training iteration; last eval step);
    * |q_halt| > 1e-3, and for HRM |q_halt - q_continue| > 1e-3, on every row where it can matter
      (every training iteration; last eval step);
    * training: q_halt (TRM) / q_halt - q_continue (HRM) takes both signs on the first iteration;
    * for every optimizer iteration, every nonzero gradient element whose AdamATan2 update is
      discontinuous (first nonzero gradient: m = v = 0 before the step) has |g| > 1e-5 * rms(g of
      that tensor), and every nonzero element of the summed puzzle-row gradients has
      |g| > 1e-5 * rms;
  probes (float32 stand-ins for the engine):
    * ponder_ref run in float32 on the fixture, and on copies whose weights/puzzle table/carry are
      multiplied by (1 +- 1e-6) elementwise at random, must match the float64 truth within the test
      tolerances divided by PROBE_SAFETY (outputs and gradients 1e-4 relative norm-wise, parameters
      1e-5), with identical preds/steps/halted/argmax;

otherwise the next seed is tried. Usage: see tools/reference/README.md.
"""

import argparse
import json
import math
import os
import sys
import time
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ponder_ref as pr  # noqa: E402
import safetensors_io as st  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Case definitions
# ---------------------------------------------------------------------------------------------

B, L, V, NUM_IDS, D = 4, 16, 11, 5, 16
PUZZLE_IDS = [1, 3, 1, 0]
K_TRAIN = 3
EVAL_CHAIN = 16

TRAINING = OrderedDict([
    ("global_batch_size", 6), ("lr", 1e-3), ("lr_warmup_steps", 1), ("lr_min_ratio", 0.1),
    ("weight_decay", 0.1), ("beta1", 0.9), ("beta2", 0.95),
    ("puzzle_emb_lr", 1e-2), ("puzzle_emb_weight_decay", 0.1), ("ema_rate", 0.9),
])
_TINY = dict(hidden_size=D, num_heads=2, expansion=4, H_cycles=2, L_cycles=2, L_layers=2)
CONFIGS = OrderedDict([
    ("trm_att", dict(name="trm", puzzle_emb_ndim=24, puzzle_emb_len=2, pos_encodings="rope", **_TINY)),
    ("trm_mlp", dict(name="trm", puzzle_emb_ndim=24, puzzle_emb_len=2, pos_encodings="none", mlp_t=True, **_TINY)),
    ("trm_learned", dict(name="trm", puzzle_emb_ndim=24, puzzle_emb_len=2, pos_encodings="learned", **_TINY)),
    ("hrm", dict(name="hrm", H_layers=1, puzzle_emb_ndim=16, pos_encodings="rope", **_TINY)),
    ("hrm_softmax", dict(name="hrm", H_layers=1, puzzle_emb_ndim=16, pos_encodings="learned",
                         loss=dict(loss_type="softmax_cross_entropy"), **_TINY)),
])
KINDS = ("fresh", "carry", "eval16")
# The cases committed (a few MB in all): the carry cases cover a reset row, continuing rows and rows
# that halt; one fresh case covers the all-halted start.
COMMITTED = ("trm_att_fresh", "trm_att_carry", "trm_att_eval16", "trm_mlp_carry", "trm_mlp_eval16",
             "hrm_carry", "hrm_eval16", "trm_learned_carry", "hrm_softmax_carry", "hrm_softmax_eval16")
CARRY_STEPS = [3, 15, 0, 7]
CARRY_HALTED = [0, 0, 1, 0]

# Gain on the residual-branch output projections (o_proj, down_proj, mlp_t.down_proj). At the plain
# §3.8 init the 16-step evaluation recursion of these tiny models is chaotic (float32 and float64
# decorrelate), so the weights are tamed to make the recursion contract.
RESIDUAL_GAIN = 0.15

MARGIN_ARGMAX = 1e-3
MARGIN_Q = 1e-3
MARGIN_GRAD = 1e-5                    # torch float32 errors of the smallest gradient elements
                                      # measured <= ~3e-6 * rms
TOL_OUT, TOL_PARAM = 1e-4, 1e-5       # the engine's parity tolerances
PROBE_SAFETY = 4.0                    # probes must pass tolerances / PROBE_SAFETY
PROBE_PERTURBATION = 1e-6
N_PROBES = 3                          # one unperturbed float32 run + (N_PROBES - 1) perturbed
BASE_SEED = {"trm_att": 1000, "trm_mlp": 2000, "trm_learned": 3000, "hrm": 4000, "hrm_softmax": 5000}
KIND_OFFSET = {"fresh": 0, "carry": 300, "eval16": 600}


def raw_config(name):
    raw = OrderedDict(TRAINING)
    raw["ema"] = CONFIGS[name]["name"] == "trm"
    raw.update(vocab_size=V, seq_len=L, num_puzzle_identifiers=NUM_IDS)
    raw["arch"] = dict(CONFIGS[name])
    return raw


def build_model(name, seed):
    """§3.8 init, then: residual gain, random q_head, random puzzle table."""
    raw = raw_config(name)
    cfg = pr.Config(raw, batch_size=B)
    t = pr.init_model_tensors(cfg, seed)
    gen = torch.Generator().manual_seed(10_000_019 + seed)
    for n in t:
        if n.endswith("o_proj.weight") or n.endswith("down_proj.weight"):
            t[n] = (t[n] * RESIDUAL_GAIN).astype(np.float32)
    t["q_head.weight"] = pr.trunc_normal((2, D), 0.5 / math.sqrt(D), gen)
    t["q_head.bias"] = pr.trunc_normal((2,), 0.3, gen)
    if "puzzle_emb.weights" in t:
        t["puzzle_emb.weights"] = pr.trunc_normal(t["puzzle_emb.weights"].shape, 0.5, gen)
    return raw, t


def run(model, batch, kind, dtype="float64"):
    if kind == "eval16":
        return pr.run_step(None, None, dtype=dtype, eval_mode=True, chain=EVAL_CHAIN, model=model, batch=batch)
    return pr.run_step(None, None, dtype=dtype, optimizer_steps=K_TRAIN, model=model, batch=batch)


def build_batch(name, kind, seed, model):
    rng = np.random.default_rng(20_000_003 + seed)
    inputs = rng.integers(1, V, (B, L)).astype(np.int32)
    labels = rng.integers(1, V, (B, L)).astype(np.int32)
    for _ in range(4):                                   # a few ignored labels in rows 0 and 3
        labels[rng.choice([0, 3]), rng.integers(0, L)] = pr.IGNORE_LABEL_ID
    batch = dict(inputs=inputs, labels=labels, puzzle_identifiers=np.array(PUZZLE_IDS, np.int32))
    own_row = 2
    if kind == "carry":
        # carry from two evaluation steps of the same model on the same data, then edited
        res, _ = pr.run_step(None, None, dtype="float64", eval_mode=True, chain=2, model=model, batch=batch)
        batch.update(z_H=res["z_H"], z_L=res["z_L"], steps=np.array(CARRY_STEPS, np.int32),
                     halted=np.array(CARRY_HALTED, np.uint8))
        own_row = 0
    if kind == "eval16":
        labels[3, :] = pr.IGNORE_LABEL_ID                # a row with nothing to predict (n_b = 0)
    else:
        center_q_bias(name, model, batch, rng)
    # one row labelled with the model's own current argmax: seq_is_correct is true there
    res, _ = run(model, batch, kind)
    labels[own_row] = res["preds"][own_row]
    return batch


def center_q_bias(name, model, batch, rng):
    """Sets q_head.bias so that the first training iteration's halting decision splits the rows:
    TRM: q_halt > 0; HRM: q_halt > q_continue (the threshold lands between the 2nd and 3rd row)."""
    _, t = model
    res, _ = pr.run_step(None, None, dtype="float64", optimizer_steps=0, model=model, batch=batch)
    q_halt = res["q_halt"].astype(np.float64) - t["q_head.bias"][0]
    q_cont = res["q_continue"].astype(np.float64) - t["q_head.bias"][1]
    between = lambda v: (lambda s: s[1] + (s[2] - s[1]) * rng.uniform(0.3, 0.7))(np.sort(v))
    b0 = -between(q_halt)
    b1 = t["q_head.bias"][1]
    if CONFIGS[name]["name"] == "hrm":
        b1 = b0 + between(q_halt - q_cont)        # q_halt - q_cont = (W0 - W1) z + b0 - b1
    t["q_head.bias"] = np.array([b0, b1], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Margins
# ---------------------------------------------------------------------------------------------

def _gap(logits):
    s = torch.sort(logits.double(), dim=-1).values
    return float((s[..., -1] - s[..., -2]).min())


def margins(name, kind, trace):
    """Returns (ok, report dict of the smallest margins) for the float64 trace."""
    cfg = CONFIGS[name]
    hrm_like = cfg["name"] == "hrm"
    rep = OrderedDict()
    recs = trace[-1:] if kind == "eval16" else trace
    rep["argmax_gap"] = min(_gap(r["out"]["logits"]) for r in recs)
    rep["abs_q_halt"] = min(float(r["out"]["q_halt"].abs().min()) for r in recs)
    ok = rep["argmax_gap"] > MARGIN_ARGMAX and rep["abs_q_halt"] > MARGIN_Q
    if hrm_like and kind != "eval16":
        rep["abs_q_halt_minus_q_continue"] = min(
            float((r["out"]["q_halt"] - r["out"]["q_continue"]).abs().min()) for r in recs)
        ok &= rep["abs_q_halt_minus_q_continue"] > MARGIN_Q
    if kind != "eval16":
        first = trace[0]["out"]
        decide = first["q_halt"] - first["q_continue"] if hrm_like else first["q_halt"]
        rep["halting_straddles"] = bool((decide > 0).any() and (decide < 0).any())
        ok &= rep["halting_straddles"]
        worst = float("inf")
        for r in trace:
            for n, g in r["grads"].items():
                g = g.double()
                rms = float(g.square().mean().sqrt())
                sel = r["first_touch"][n] & (g != 0)
                if rms > 0 and bool(sel.any()):
                    worst = min(worst, float(g[sel].abs().min()) / rms)
        rep["min_first_step_grad_over_rms"] = worst
        ok &= worst > MARGIN_GRAD
        if "puzzle_update" in trace[0]:
            pw = float("inf")
            for r in trace:
                s = r["puzzle_update"][1].double()
                rms = float(s.square().mean().sqrt())
                nz = s[s != 0]
                if rms > 0 and nz.numel():
                    pw = min(pw, float(nz.abs().min()) / rms)
            rep["min_puzzle_grad_over_rms"] = pw
            ok &= pw > MARGIN_GRAD
    return bool(ok), rep


# ---------------------------------------------------------------------------------------------
# Probes: float32 runs (optionally perturbed) against the float64 truth
# ---------------------------------------------------------------------------------------------

EXACT = ("preds", "steps", "halted")


def rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    n = np.linalg.norm(want.ravel())
    d = np.linalg.norm((got - want).ravel())
    return d / n if n > 0 else d


def compare(expected, got, init_expected=None, init_got=None):
    """Returns (worst output/grad rel err, worst param rel err, list of exact mismatches).

    With init_* (the initial tensors of the two models), param.*/ema.* are compared as changes from
    their own initial values (divided by the norm of the expected tensor), so that a probe's
    deliberate weight perturbation is not counted as an error.
    """
    worst_out, worst_par, bad = 0.0, 0.0, []
    if set(expected) != set(got):
        return float("inf"), float("inf"), ["tensor sets differ"]
    for k, want in expected.items():
        if k in EXACT:
            if not np.array_equal(want, got[k]):
                bad.append(k)
            continue
        if k.startswith("param.") or k.startswith("ema."):
            g, w = got[k].astype(np.float64), want.astype(np.float64)
            if init_expected is not None:
                n = k.split(".", 1)[1]
                g, w = g - init_got[n], w - init_expected[n]
            n_w = np.linalg.norm(want.astype(np.float64).ravel())
            worst_par = max(worst_par, np.linalg.norm((g - w).ravel()) / (n_w if n_w > 0 else 1.0))
        else:
            worst_out = max(worst_out, rel_err(got[k], want))
    return worst_out, worst_par, bad


def perturbed(model, batch, seed):
    raw, t = model
    rng = np.random.default_rng(seed)
    jitter = lambda a: (a * (1 + PROBE_PERTURBATION * rng.choice([-1.0, 1.0], a.shape))).astype(np.float32)
    t2 = OrderedDict((n, a if n in ("H_init", "L_init") else jitter(a)) for n, a in t.items())
    b2 = dict(batch)
    for n in ("z_H", "z_L"):
        if n in b2:
            b2[n] = jitter(b2[n])
    return (raw, t2), b2


def probe(model, batch, kind, expected, seed):
    rep = OrderedDict(out=0.0, param=0.0, exact_mismatch=[])
    for p in range(N_PROBES):
        m, b = (model, batch) if p == 0 else perturbed(model, batch, seed * 7 + p)
        got, _ = run(m, b, kind, dtype="float32")
        o, q, bad = compare(expected, got, model[1], m[1])
        rep["out"], rep["param"] = max(rep["out"], o), max(rep["param"], q)
        rep["exact_mismatch"] += bad
    ok = (rep["out"] < TOL_OUT / PROBE_SAFETY and rep["param"] < TOL_PARAM / PROBE_SAFETY
          and not rep["exact_mismatch"])
    return ok, rep


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def make_case(name, kind, max_tries, log):
    seed = BASE_SEED[name] + KIND_OFFSET[kind]
    for attempt in range(max_tries):
        model = build_model(name, seed)
        batch = build_batch(name, kind, seed, model)
        expected, trace = run(model, batch, kind)
        ok, mrep = margins(name, kind, trace)
        prep = None
        if ok:
            ok, prep = probe(model, batch, kind, expected, seed)
        log("  %s_%s seed %d: %s  margins %s  probes %s" % (
            name, kind, seed, "ACCEPT" if ok else "reject",
            json.dumps({k: (round(v, 8) if isinstance(v, float) else v) for k, v in mrep.items()}),
            None if prep is None else json.dumps({k: (float("%.3g" % v) if isinstance(v, float) else v)
                                                 for k, v in prep.items()})))
        if ok:
            return dict(seed=seed, attempts=attempt + 1, model=model, batch=batch, expected=expected,
                        margins=mrep, probes=prep)
        seed += 1
    raise RuntimeError("%s_%s: no acceptable seed in %d tries" % (name, kind, max_tries))


def write_case(outdir, case, info):
    d = os.path.join(outdir, case)
    os.makedirs(d, exist_ok=True)
    raw, tensors = info["model"]
    pr.save_model_file(os.path.join(d, "model.safetensors"), raw, tensors)
    batch = OrderedDict((k, np.asarray(v)) for k, v in info["batch"].items())
    st.save(os.path.join(d, "batch.safetensors"), batch)
    st.save(os.path.join(d, "expected.safetensors"), info["expected"])


def command_for(kind):
    if kind == "eval16":
        return "--eval --chain %d" % EVAL_CHAIN
    return "--optimizer-steps %d" % K_TRAIN


README_HEAD = """# Parity fixtures

Generated by `tools/reference/make_fixtures.py` (do not edit by hand; see `tools/reference/README.md`
to regenerate). Each case directory holds

- `model.safetensors`: weights (reference state-dict names, prefix stripped) with the config JSON in
  `__metadata__["config"]`; `H_init`/`L_init` are BF16, everything else F32.
- `batch.safetensors`: `inputs`, `labels`, `puzzle_identifiers` (I32) and, for `*_carry`, the carry
  `z_H`, `z_L` (F32), `steps` (I32), `halted` (U8).
- `expected.safetensors`: what `ponder step --model model.safetensors --batch batch.safetensors
  <flags>` must write, computed by `tools/reference/step.py ... --dtype float64` (then stored as F32).

Compare in float32 with: relative L2 error (||got - want|| / ||want||) <= 1e-4 for every output and
gradient tensor, <= 1e-5 for `param.*` and `ema.*`; `preds`, `steps`, `halted` exactly equal.

Shared settings: vocab 11, seq_len 16, num_puzzle_identifiers 5, batch B = 4, puzzle ids `[1, 3, 1, 0]`
(duplicate id 1 exercises the summed SignSGD gradient), hidden 16, 2 heads, expansion 4 (SwiGLU inter
256), H_cycles 2, L_cycles 2, L_layers 2 (HRM H_layers 1), halt_max_steps 16, training fields
`%s` (ema on for the TRM cases). TRM cases use puzzle_emb_ndim 24 with puzzle_emb_len 2 (prefix of 2
tokens: the first 24 values come from the table, the rest are zeros, P = 2, S = 18); HRM cases use
ndim 16 (P = 1, S = 17). The committed set (`COMMITTED`) keeps the fixtures near 4 MB: the `carry`
cases cover a reset row, continuing rows and rows that halt; `trm_att_fresh` covers the all-halted
start.

Weights: REFERENCE.md §3.8 initialisation (truncated normal, corrected std) from the case seed, then
o_proj / down_proj / mlp_t.down_proj scaled by a residual gain of 0.15 so that the 16-step
evaluation recursion contracts (at the plain init it is chaotic: float32 and float64 decorrelate);
q_head weight truncated normal std 0.5/sqrt(16); puzzle table std 0.5; H_init/L_init std 1 rounded to
bf16; q_head bias: `eval16` std 0.3; training cases set it from the first iteration's q values so that
the halting decision splits the rows (TRM: q_halt > 0 for two rows; HRM: q_halt > q_continue for two).

Batches: inputs and labels uniform in [1, 11); a few labels -100 in rows 0 and 3; one row (row 2 for
`fresh`/`eval16`, row 0 for `carry`) labelled with the model's own argmax at the written step, so its
`seq_is_correct` is true. `*_eval16` also has row 3 entirely -100 (n_b = 0: counts as correct, is
excluded from metrics). `*_carry` starts from the float64 state after two evaluation steps of the same
model and data, with steps `%s` and halted `%s` (row 1 reaches halt_max_steps, row 2 is reset).

Margins were checked while generating (see make_fixtures.py): argmax top-2 gap > 1e-3, |q_halt| >
1e-3 (HRM also |q_halt - q_continue| > 1e-3), halting decisions of both signs on the first iteration,
every discontinuous first AdamATan2 step and every SignSGD sign has |g| > 1e-5 rms(g); and float32
probe runs (one plain, %d with weights/carry jittered by 1e-6 relative) must match the float64 truth
within the tolerances / %g (for `param.*`/`ema.*` the probes compare the change from the initial
weights, so that the jitter itself does not count). The plain float32 reference run
(`tools/reference/check_fixtures.py --dtype float32`) is within ~3e-6 (outputs, gradients) and ~2e-7
(parameters) of every case. "probe ... err" below are the worst errors over the probes.

| case | flags | seed | tries | min argmax gap | min abs q_halt | min abs(q_halt-q_cont) | min first-step abs g / rms | min puzzle abs g / rms | probe out err | probe param err |
|---|---|---|---|---|---|---|---|---|---|---|
"""


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    return "%.3g" % v


def _worker(job):
    case, max_tries, threads = job
    torch.set_num_threads(threads)
    name, kind = case.rsplit("_", 1)
    lines = []
    t0 = time.time()
    info = make_case(name, kind, max_tries, lines.append)
    lines.append("  done in %.1fs" % (time.time() - t0))
    return case, info, lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "..", "tests", "fixtures")))
    ap.add_argument("--cases", default="all", help="comma-separated case names (<config>_<kind>), or all = the committed set")
    ap.add_argument("--max-tries", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job")
    ap.add_argument("--jobs", type=int, default=2, help="cases generated in parallel")
    ap.add_argument("--readme-only", action="store_true", help="rewrite README.md from cases.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    all_cases = ["%s_%s" % (c, k) for c in CONFIGS for k in KINDS]
    wanted = list(COMMITTED) if args.cases == "all" else args.cases.split(",")
    for c in wanted:
        if c not in all_cases:
            ap.error("unknown case %s (known: %s)" % (c, ", ".join(all_cases)))
    os.makedirs(args.out, exist_ok=True)
    log = lambda s: print(s, flush=True)
    summary_path = os.path.join(args.out, "cases.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    if args.readme_only:
        write_readme(args.out, summary)
        return
    jobs = [(case, args.max_tries, args.threads) for case in wanted]
    if args.jobs > 1:
        import multiprocessing
        results = multiprocessing.Pool(args.jobs).imap_unordered(_worker, jobs)
    else:
        results = map(_worker, jobs)
    for case, info, lines in results:
        log("%s:\n%s" % (case, "\n".join(lines)))
        write_case(args.out, case, info)
        summary[case] = dict(flags=command_for(case.rsplit("_", 1)[1]), seed=info["seed"],
                             attempts=info["attempts"], margins=info["margins"], probes=info["probes"])
    summary = OrderedDict((c, summary[c]) for c in all_cases if c in summary)
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=1)
    write_readme(args.out, summary)


def write_readme(outdir, summary):
    lines = [README_HEAD % (json.dumps(TRAINING), CARRY_STEPS, CARRY_HALTED, N_PROBES - 1, PROBE_SAFETY)]
    for case, s in summary.items():
        m, p = s["margins"], s["probes"]
        lines.append("| `%s` | `%s` | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n" % (
            case, s["flags"], s["seed"], s["attempts"], fmt(m.get("argmax_gap")), fmt(m.get("abs_q_halt")),
            fmt(m.get("abs_q_halt_minus_q_continue")), fmt(m.get("min_first_step_grad_over_rms")),
            fmt(m.get("min_puzzle_grad_over_rms")), fmt(p["out"]), fmt(p["param"])))
    lines.append("\nThe same numbers, and the probe details, are in `cases.json`. A case is regenerated "
                 "exactly by rerunning make_fixtures.py (the seed search is deterministic).\n")
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write("".join(lines))


if __name__ == "__main__":
    main()
