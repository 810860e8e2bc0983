"""PyTorch reference implementation of ponder's TRM / HRM semantics (shared/docs/REFERENCE.md).

This file is the specification in executable form. It reproduces, numerically, the original code
(SamsungSAILMontreal/TinyRecursiveModels `trm.py`, sapientinc/HRM `hrm_act_v1.py`, `models/layers.py`,
`models/losses.py`, `models/sparse_embedding.py`, `pretrain.py`, imoneoi/adam-atan2) with three
deliberate differences, all needed for deterministic parity tests:
  * halting exploration is OFF (no random min_halt);
  * TRM with no_ACT_continue=false computes the Q target like HRM (the original crashes there);
  * the compute dtype is selectable (float64 for "truth", float32 like ponder's CPU engine,
    bfloat16 for the original mixed precision).

Sections: config, precision, layers, model (inner TRM/HRM), ACT wrapper, loss head, optimizers,
model/batch files, the `step` driver used by step.py and make_fixtures.py.
Works with Debian's python3-torch 1.13 (no nn.Buffer, no scaled_dot_product_attention needed).
"""

import json
import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

import safetensors_io as st

IGNORE_LABEL_ID = -100

# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------

TRAINING_DEFAULTS = OrderedDict([
    ("global_batch_size", None),      # None: the batch file's B
    ("lr", 1e-4),
    ("lr_min_ratio", 1.0),
    ("lr_warmup_steps", 2000),
    ("weight_decay", 0.1),
    ("beta1", 0.9),
    ("beta2", 0.95),
    ("puzzle_emb_lr", 1e-2),
    ("puzzle_emb_weight_decay", 0.1),
    ("ema", False),
    ("ema_rate", 0.999),
])
DATASET_FIELDS = ("vocab_size", "seq_len", "num_puzzle_identifiers")  # required
# Fields of the reference's all_config.yaml that do not affect one step: accepted and ignored.
BOOKKEEPING_FIELDS = ("epochs", "eval_interval", "min_eval_interval", "freeze_weights", "seed",
                      "checkpoint_every_eval", "data_paths", "data_paths_test", "eval_save_outputs",
                      "data_path", "project_name", "run_name", "load_checkpoint", "checkpoint_path",
                      "evaluators")

# None = depends on the arch name (see parse_config)
ARCH_DEFAULTS = OrderedDict([
    ("name", None),
    ("hidden_size", 512),
    ("num_heads", 8),
    ("expansion", 4),
    ("H_cycles", None),               # trm 3, hrm 2
    ("L_cycles", None),               # trm 6, hrm 2
    ("H_layers", None),               # trm 0 (ignored), hrm 4
    ("L_layers", None),               # trm 2, hrm 4
    ("mlp_t", False),
    ("pos_encodings", "rope"),
    ("puzzle_emb_ndim", None),        # default hidden_size
    ("puzzle_emb_len", None),         # trm 16 (0 = ceil(ndim/D)); hrm always ceil(ndim/D)
    ("halt_max_steps", 16),
    ("halt_exploration_prob", 0.1),   # accepted, unused: exploration is off in the reference
    ("no_ACT_continue", None),        # trm True; hrm always behaves as False
    ("rms_norm_eps", 1e-5),
    ("rope_theta", 10000.0),
    ("forward_dtype", "bfloat16"),
    ("loss", None),
])
ARCH_DEFAULTS_BY_NAME = {
    "trm": dict(H_cycles=3, L_cycles=6, H_layers=0, L_layers=2, puzzle_emb_len=16, no_ACT_continue=True),
    "hrm": dict(H_cycles=2, L_cycles=2, H_layers=4, L_layers=4, puzzle_emb_len=0, no_ACT_continue=False),
}
LOSS_TYPES = ("stablemax_cross_entropy", "softmax_cross_entropy")


class ConfigError(ValueError):
    pass


def _ceil_div(a, b):
    return -(a // -b)


def swiglu_inter(width, expansion):
    """SwiGLU hidden width: 256 * ceil(round(expansion * width * 2/3) / 256) (layers.py)."""
    return _ceil_div(round(expansion * width * 2 / 3), 256) * 256


class Config(object):
    """Flat, validated configuration plus derived sizes."""

    def __init__(self, raw, batch_size=None):
        if isinstance(raw, str):
            raw = json.loads(raw)
        if not isinstance(raw, dict):
            raise ConfigError("config must be a JSON object")
        allowed = set(TRAINING_DEFAULTS) | set(DATASET_FIELDS) | set(BOOKKEEPING_FIELDS) | {"arch"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError("unknown config field(s): %s" % ", ".join(unknown))
        for k, default in TRAINING_DEFAULTS.items():
            setattr(self, k, raw.get(k, default))
        for k in DATASET_FIELDS:
            if k not in raw:
                raise ConfigError("missing required config field: %s" % k)
            setattr(self, k, int(raw[k]))
        if self.global_batch_size is None:
            if batch_size is None:
                raise ConfigError("global_batch_size is not set and no batch size is known")
            self.global_batch_size = int(batch_size)

        arch = raw.get("arch")
        if not isinstance(arch, dict):
            raise ConfigError("missing config object: arch")
        unknown = sorted(set(arch) - set(ARCH_DEFAULTS))
        if unknown:
            raise ConfigError("unknown arch field(s): %s" % ", ".join("arch." + u for u in unknown))
        name = arch.get("name")
        if name not in ARCH_DEFAULTS_BY_NAME:
            raise ConfigError("arch.name must be \"trm\" or \"hrm\", got %r" % (name,))
        self.name = name
        for k, default in ARCH_DEFAULTS.items():
            if k in ("name", "loss"):
                continue
            if default is None:
                default = ARCH_DEFAULTS_BY_NAME[name].get(k)
            setattr(self, k, arch.get(k, default))
        if self.puzzle_emb_ndim is None:
            self.puzzle_emb_ndim = self.hidden_size

        loss = arch.get("loss", {})
        if not isinstance(loss, dict):
            raise ConfigError("arch.loss must be an object")
        unknown = sorted(set(loss) - {"loss_type", "name"})
        if unknown:
            raise ConfigError("unknown arch.loss field(s): %s" % ", ".join(unknown))
        self.loss_type = loss.get("loss_type", "stablemax_cross_entropy")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError("arch.loss.loss_type must be one of %s" % (LOSS_TYPES,))

        # --- validation and derived sizes
        for k in ("hidden_size", "num_heads", "H_cycles", "L_cycles", "L_layers", "halt_max_steps",
                  "vocab_size", "seq_len", "num_puzzle_identifiers", "global_batch_size"):
            if int(getattr(self, k)) < 1:
                raise ConfigError("%s must be >= 1" % k)
        if self.hidden_size % self.num_heads:
            raise ConfigError("hidden_size must be a multiple of num_heads")
        if self.pos_encodings not in ("rope", "learned", "none"):
            raise ConfigError("arch.pos_encodings must be rope, learned or none")
        if self.pos_encodings == "rope" and (self.hidden_size // self.num_heads) % 2:
            raise ConfigError("rope needs an even head dimension")
        if self.forward_dtype not in ("bfloat16", "float32"):
            raise ConfigError("arch.forward_dtype must be bfloat16 or float32")
        if self.puzzle_emb_ndim < 0:
            raise ConfigError("arch.puzzle_emb_ndim must be >= 0")
        D = self.hidden_size
        if name == "hrm":
            if self.pos_encodings == "none":
                raise ConfigError("hrm does not support pos_encodings=none")
            if self.mlp_t:
                raise ConfigError("hrm has no mlp_t variant")
            if int(self.H_layers) < 1:
                raise ConfigError("H_layers must be >= 1 for hrm")
            self.no_ACT_continue = False            # HRM always trains q_continue
            self.puzzle_emb_len = _ceil_div(self.puzzle_emb_ndim, D)
        else:
            if self.puzzle_emb_len == 0:
                self.puzzle_emb_len = _ceil_div(self.puzzle_emb_ndim, D)
        if self.puzzle_emb_ndim == 0:
            self.puzzle_emb_len = 0                 # no prefix at all
        if self.puzzle_emb_len * D < self.puzzle_emb_ndim:
            raise ConfigError("puzzle_emb_len * hidden_size must be >= puzzle_emb_ndim")
        self.P = int(self.puzzle_emb_len)
        self.S = self.P + self.seq_len
        self.head_dim = D // self.num_heads
        self.inter = swiglu_inter(D, self.expansion)
        self.inter_t = swiglu_inter(self.S, self.expansion) if self.mlp_t else 0
        self.levels = ["H_level", "L_level"] if name == "hrm" else ["L_level"]
        self.raw = raw

    def layers_of(self, level):
        return int(self.H_layers) if level == "H_level" else int(self.L_layers)


def tensor_shapes(cfg):
    """name -> shape of every tensor of a model file (stripped reference state-dict names)."""
    D, V = cfg.hidden_size, cfg.vocab_size
    shapes = OrderedDict()
    shapes["embed_tokens.embedding_weight"] = (V, D)
    shapes["lm_head.weight"] = (V, D)
    shapes["q_head.weight"] = (2, D)
    shapes["q_head.bias"] = (2,)
    if cfg.pos_encodings == "learned":
        shapes["embed_pos.embedding_weight"] = (cfg.S, D)
    for level in cfg.levels:
        for i in range(cfg.layers_of(level)):
            pre = "%s.layers.%d." % (level, i)
            if cfg.mlp_t:
                shapes[pre + "mlp_t.gate_up_proj.weight"] = (2 * cfg.inter_t, cfg.S)
                shapes[pre + "mlp_t.down_proj.weight"] = (cfg.S, cfg.inter_t)
            else:
                shapes[pre + "self_attn.qkv_proj.weight"] = (3 * D, D)
                shapes[pre + "self_attn.o_proj.weight"] = (D, D)
            shapes[pre + "mlp.gate_up_proj.weight"] = (2 * cfg.inter, D)
            shapes[pre + "mlp.down_proj.weight"] = (D, cfg.inter)
    # buffers (not trained)
    if cfg.puzzle_emb_ndim > 0:
        shapes["puzzle_emb.weights"] = (cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
    shapes["H_init"] = (D,)
    shapes["L_init"] = (D,)
    return shapes


BUFFER_NAMES = ("puzzle_emb.weights", "H_init", "L_init")


def trainable_names(cfg):
    return [n for n in tensor_shapes(cfg) if n not in BUFFER_NAMES]


# ---------------------------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------------------------

class Precision(object):
    """Which dtype each quantity uses.

    float64 / float32: weights at use, activations and states in that dtype; RMSNorm and RoPE in
    max(float32, dtype); q logits in that dtype; stablemax always in float64.
    bfloat16: the original mixed precision (bf16 weights at use and activations, fp32 norm/rope,
    fp32 q logits, fp32 master weights).
    """

    def __init__(self, name):
        if name not in ("float64", "float32", "bfloat16"):
            raise ValueError("dtype must be float64, float32 or bfloat16")
        self.name = name
        self.compute = getattr(torch, name)
        self.norm = torch.float64 if name == "float64" else torch.float32   # RMSNorm, RoPE tables
        self.q = torch.float64 if name == "float64" else torch.float32      # q logits, BCE
        self.master = torch.float64 if name == "float64" else torch.float32  # weights, optimizer state
        self.softmax_ce = torch.float64 if name == "float64" else torch.float32


# ---------------------------------------------------------------------------------------------
# Layers (functional; weights are master tensors cast to the activation dtype at use)
# ---------------------------------------------------------------------------------------------

def linear(x, weight, bias=None):
    return F.linear(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))


def rms_norm(x, eps, norm_dtype):
    """Weightless RMSNorm over the last axis, computed in norm_dtype, returned in x's dtype."""
    h = x.to(norm_dtype)
    h = h * torch.rsqrt(h.square().mean(-1, keepdim=True) + eps)
    return h.to(x.dtype)


def swiglu(x, gate_up_w, down_w):
    gate, up = linear(x, gate_up_w).chunk(2, dim=-1)       # gate rows first, then up rows
    return linear(F.silu(gate) * up, down_w)


def rope_tables(seq_len, head_dim, theta, dtype):
    """cos, sin [S, head_dim] (NeoX rotate-half layout: the 32 frequencies repeated twice)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=dtype) / head_dim))
    positions = torch.arange(seq_len, dtype=dtype)
    freqs = torch.outer(positions, inv_freq)
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, cos, sin):
    """x [B,S,H,hd] rotated in the tables' dtype, returned in x's dtype."""
    h = x.to(cos.dtype)
    h = h * cos.unsqueeze(-2) + rotate_half(h) * sin.unsqueeze(-2)
    return h.to(x.dtype)


def attention(x, qkv_w, o_w, num_heads, rope):
    """Non-causal multi-head attention, no mask, scale 1/sqrt(head_dim)."""
    B, S, D = x.shape
    hd = D // num_heads
    qkv = linear(x, qkv_w).view(B, S, 3 * num_heads, hd)
    q, k, v = qkv[:, :, :num_heads], qkv[:, :, num_heads:2 * num_heads], qkv[:, :, 2 * num_heads:]
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    # bf16 inputs are attended with fp32 accumulation and the result rounded back to bf16 (as the
    # fused GPU kernels do, up to their internal blocking); float32/float64 stay in their dtype.
    acc = torch.float32 if x.dtype == torch.bfloat16 else x.dtype
    q, k, v = (t.transpose(1, 2).to(acc) for t in (q, k, v))           # [B,H,S,hd]
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
    out = torch.matmul(torch.softmax(scores, dim=-1), v).to(x.dtype)   # [B,H,S,hd]
    out = out.transpose(1, 2).reshape(B, S, D)                          # head-major flatten
    return linear(out, o_w)


# ---------------------------------------------------------------------------------------------
# Model: input embedding, reasoning modules, TRM / HRM recursion, heads
# ---------------------------------------------------------------------------------------------

def _tensor_copy(array, dtype):
    """A torch copy (never a view of the caller's numpy array: optimizers update in place)."""
    return torch.from_numpy(np.array(array, dtype=np.float32, copy=True)).to(dtype)


class Model(object):
    """Weights (master dtype) and the inner forward pass.

    params: OrderedDict name -> leaf tensor (requires_grad) for every trainable parameter.
    puzzle_table: [num_ids, ndim] (master dtype) or None; H_init, L_init: [D] in the compute dtype.
    """

    def __init__(self, cfg, tensors, prec):
        self.cfg, self.prec = cfg, prec
        self.params = OrderedDict()
        for name in trainable_names(cfg):
            self.params[name] = _tensor_copy(tensors[name], prec.master).requires_grad_(True)
        self.puzzle_table = None
        if cfg.puzzle_emb_ndim > 0:
            self.puzzle_table = _tensor_copy(tensors["puzzle_emb.weights"], prec.master)
        self.H_init = _tensor_copy(tensors["H_init"], prec.compute)
        self.L_init = _tensor_copy(tensors["L_init"], prec.compute)
        self.rope = None
        if cfg.pos_encodings == "rope":
            self.rope = rope_tables(cfg.S, cfg.head_dim, cfg.rope_theta, prec.norm)

    # -- pieces
    def input_embeddings(self, inputs, puzzle_rows):
        """inputs [B,L] int, puzzle_rows [B,ndim] (master dtype) or None -> [B,S,D] compute dtype."""
        cfg, dt = self.cfg, self.prec.compute
        e = F.embedding(inputs.long(), self.params["embed_tokens.embedding_weight"].to(dt))
        if cfg.puzzle_emb_ndim > 0:
            prefix = puzzle_rows.to(dt)
            pad = cfg.P * cfg.hidden_size - prefix.shape[-1]
            if pad > 0:
                prefix = F.pad(prefix, (0, pad))                     # zero-padded to P*D
            e = torch.cat((prefix.view(-1, cfg.P, cfg.hidden_size), e), dim=-2)
        if cfg.pos_encodings == "learned":
            e = 0.707106781 * (e + self.params["embed_pos.embedding_weight"].to(dt))
        return math.sqrt(cfg.hidden_size) * e

    def block(self, h, prefix):
        p, cfg = self.params, self.cfg
        eps, nd = cfg.rms_norm_eps, self.prec.norm
        if cfg.mlp_t:
            u = h.transpose(1, 2)                                      # [B,D,S]: mix along S
            u = rms_norm(u + swiglu(u, p[prefix + "mlp_t.gate_up_proj.weight"],
                                    p[prefix + "mlp_t.down_proj.weight"]), eps, nd)
            h = u.transpose(1, 2)
        else:
            a = attention(h, p[prefix + "self_attn.qkv_proj.weight"], p[prefix + "self_attn.o_proj.weight"],
                          cfg.num_heads, self.rope)
            h = rms_norm(h + a, eps, nd)
        m = swiglu(h, p[prefix + "mlp.gate_up_proj.weight"], p[prefix + "mlp.down_proj.weight"])
        return rms_norm(h + m, eps, nd)

    def net(self, level, h, injection):
        """A reasoning module: h + injection, then its blocks in order."""
        h = h + injection
        for i in range(self.cfg.layers_of(level)):
            h = self.block(h, "%s.layers.%d." % (level, i))
        return h

    def heads(self, z_H):
        cfg = self.cfg
        logits = linear(z_H, self.params["lm_head.weight"])[:, cfg.P:]
        q = linear(z_H[:, 0], self.params["q_head.weight"], self.params["q_head.bias"]).to(self.prec.q)
        return logits, q[..., 0], q[..., 1]

    # -- one supervision step of the inner model
    def inner(self, z_H, z_L, inputs, puzzle_rows):
        """Returns (z_H, z_L) detached, logits [B,L,V], q_halt [B], q_continue [B]."""
        cfg = self.cfg
        x = self.input_embeddings(inputs, puzzle_rows)
        if cfg.name == "trm":
            f = lambda h, inj: self.net("L_level", h, inj)              # one shared network
            with torch.no_grad():
                for _ in range(cfg.H_cycles - 1):
                    for _ in range(cfg.L_cycles):
                        z_L = f(z_L, z_H + x)
                    z_H = f(z_H, z_L)
            for _ in range(cfg.L_cycles):                               # the recursion with grad
                z_L = f(z_L, z_H + x)
            z_H = f(z_H, z_L)
        else:
            with torch.no_grad():
                for i in range(cfg.H_cycles):
                    for j in range(cfg.L_cycles):
                        if not (i == cfg.H_cycles - 1 and j == cfg.L_cycles - 1):
                            z_L = self.net("L_level", z_L, z_H + x)
                    if i != cfg.H_cycles - 1:
                        z_H = self.net("H_level", z_H, z_L)
            z_L = self.net("L_level", z_L, z_H + x)                     # one-step gradient
            z_H = self.net("H_level", z_H, z_L)
        logits, q_halt, q_cont = self.heads(z_H)
        return z_H.detach(), z_L.detach(), logits, q_halt, q_cont


# ---------------------------------------------------------------------------------------------
# ACT wrapper (one supervision step with carry)
# ---------------------------------------------------------------------------------------------

class Carry(object):
    def __init__(self, z_H, z_L, steps, halted):
        self.z_H, self.z_L = z_H, z_L          # [B,S,D] compute dtype
        self.steps = steps                     # [B] int32
        self.halted = halted                   # [B] bool


def fresh_carry(model, batch_size):
    """All rows halted: every row is reset on the first call (the state values are irrelevant)."""
    cfg, dt = model.cfg, model.prec.compute
    z = torch.zeros(batch_size, cfg.S, cfg.hidden_size, dtype=dt)
    return Carry(z, z.clone(), torch.zeros(batch_size, dtype=torch.int32),
                 torch.ones(batch_size, dtype=torch.bool))


def act_step(model, carry, batch, training):
    """One call of the ACT wrapper. `batch` holds the current data of every row.

    Returns (new carry, outputs dict, puzzle_rows leaf or None). In training the puzzle rows are a
    fresh leaf copied from the table (its .grad is the per-row embedding gradient).
    """
    cfg = model.cfg
    reset = carry.halted
    z_H = torch.where(reset.view(-1, 1, 1), model.H_init, carry.z_H)
    z_L = torch.where(reset.view(-1, 1, 1), model.L_init, carry.z_L)
    steps = torch.where(reset, torch.zeros_like(carry.steps), carry.steps)

    puzzle_rows = None
    if model.puzzle_table is not None:
        ids = batch["puzzle_identifiers"].long()
        if training:
            puzzle_rows = model.puzzle_table[ids].clone().requires_grad_(True)
        else:
            puzzle_rows = model.puzzle_table[ids]

    z_H, z_L, logits, q_halt, q_cont = model.inner(z_H, z_L, batch["inputs"], puzzle_rows)
    out = {"logits": logits, "q_halt": q_halt, "q_continue": q_cont}

    with torch.no_grad():
        steps = steps + 1
        is_last = steps >= cfg.halt_max_steps
        halted = is_last
        if training and cfg.halt_max_steps > 1:
            uses_q_continue = not (cfg.name == "trm" and cfg.no_ACT_continue)
            if uses_q_continue:
                halted = halted | (q_halt > q_cont)
            else:
                halted = halted | (q_halt > 0)
            # (exploration: the original draws min_halt here; off in the reference)
            if uses_q_continue:
                # Q target: rerun the inner model on the NEW carry with the same data
                _, _, _, next_halt, next_cont = model.inner(z_H, z_L, batch["inputs"], puzzle_rows)
                out["target_q_continue"] = torch.sigmoid(
                    torch.where(is_last, next_halt, torch.maximum(next_halt, next_cont)))
    return Carry(z_H, z_L, steps.to(torch.int32), halted), out, puzzle_rows


# ---------------------------------------------------------------------------------------------
# Loss head (models/losses.py ACTLossHead)
# ---------------------------------------------------------------------------------------------

def stablemax_cross_entropy(logits, labels, valid):
    x = logits.to(torch.float64)
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    logprobs = torch.log(s / s.sum(dim=-1, keepdim=True))
    picked = torch.gather(logprobs, -1, torch.where(valid, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, torch.zeros_like(picked))


def softmax_cross_entropy(logits, labels, dtype):
    V = logits.shape[-1]
    return F.cross_entropy(logits.to(dtype).reshape(-1, V), labels.long().reshape(-1),
                           ignore_index=IGNORE_LABEL_ID, reduction="none").view(labels.shape)


def act_loss(cfg, prec, carry, out, labels):
    """Returns (total loss, metrics dict of raw sums, preds)."""
    metric_dt = torch.float64 if prec.name == "float64" else torch.float32
    logits = out["logits"]
    with torch.no_grad():
        preds = torch.argmax(logits, dim=-1)
        mask = labels != IGNORE_LABEL_ID
        counts = mask.sum(-1)
        divisor = counts.clamp_min(1).unsqueeze(-1)
        is_correct = mask & (preds == labels)
        seq_is_correct = is_correct.sum(-1) == counts
        valid = carry.halted & (counts > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (is_correct.to(metric_dt) / divisor).sum(-1),
                                    torch.zeros((), dtype=metric_dt)).sum(),
            "exact_accuracy": (valid & seq_is_correct).sum(),
            "q_halt_accuracy": (valid & ((out["q_halt"] >= 0) == seq_is_correct)).sum(),
            "steps": torch.where(valid, carry.steps, torch.zeros_like(carry.steps)).sum(),
        }
    if cfg.loss_type == "stablemax_cross_entropy":
        ce = stablemax_cross_entropy(logits, labels, mask)
    else:
        ce = softmax_cross_entropy(logits, labels, prec.softmax_ce)
    lm_loss = (ce / divisor).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(
        out["q_halt"], seq_is_correct.to(out["q_halt"].dtype), reduction="sum")
    metrics["lm_loss"] = lm_loss.detach()
    metrics["q_halt_loss"] = q_halt_loss.detach()
    q_continue_loss = 0
    if "target_q_continue" in out:
        q_continue_loss = F.binary_cross_entropy_with_logits(
            out["q_continue"], out["target_q_continue"], reduction="sum")
        metrics["q_continue_loss"] = q_continue_loss.detach()
    total = lm_loss + 0.5 * (q_halt_loss + q_continue_loss)
    return total, metrics, preds


# ---------------------------------------------------------------------------------------------
# Optimizers, schedule, EMA
# ---------------------------------------------------------------------------------------------

def lr_schedule(step, base_lr, warmup_steps, total_steps, min_ratio):
    """pretrain.py cosine_schedule_with_warmup_lr_lambda (num_cycles 0.5); step counts from 1."""
    warmup_steps = round(warmup_steps)
    if step < warmup_steps:
        return base_lr * float(step) / float(max(1, warmup_steps))
    progress = float(step - warmup_steps) / float(max(1, total_steps - warmup_steps))
    return base_lr * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))))


def _fma(a, b, c):
    """a*b + c with a single rounding, for float32 tensors (exact product in float64)."""
    if a.dtype == torch.float64 or (torch.is_tensor(b) and b.dtype == torch.float64):
        return a * b + c   # float64 mode: plain multiply-add (differs from fma by ~1 ulp of 1e-16)
    return (a.double() * b.double() + c.double()).float()


class AdamATan2(object):
    """Pure-torch AdamATan2 with the arithmetic of imoneoi/adam-atan2 csrc/adam_atan2.cu.

    Per step: t += 1 (float32 counter); in float64: step_size = lr/(1-b1^t),
    wd_alpha = 1 - lr*wd, bc2_sqrt = sqrt(1-b2^t), then cast to the state dtype. Per element:
    p *= wd_alpha; m = lerp(m, g, 1-b1); v = lerp(v, g*g, 1-b2) with lerp(a,b,t) = fma(t,b,fma(-t,a,a));
    p -= step_size * atan2(m, sqrt(v)/bc2_sqrt). No epsilon. Applied to every trainable parameter.
    """

    def __init__(self, params, betas, weight_decay):
        self.params = params
        self.beta1, self.beta2 = betas
        self.weight_decay = weight_decay
        self.t = torch.zeros((), dtype=torch.float32)
        self.m = OrderedDict((n, torch.zeros_like(p, requires_grad=False)) for n, p in params.items())
        self.v = OrderedDict((n, torch.zeros_like(p, requires_grad=False)) for n, p in params.items())

    @torch.no_grad()
    def step(self, grads, lr):
        self.t += 1
        t = float(self.t)
        step_size = lr / (1 - self.beta1 ** t)
        wd_alpha = 1 - lr * self.weight_decay
        bc2_sqrt = math.sqrt(1 - self.beta2 ** t)
        mbeta1, mbeta2 = 1 - self.beta1, 1 - self.beta2
        for name, p in self.params.items():
            dt = p.dtype
            cast = lambda x: torch.tensor(x, dtype=torch.float64).to(dt)  # double -> opmath dtype
            g = grads[name]
            if g is None:
                g = torch.zeros_like(p)
            m, v = self.m[name], self.v[name]
            new_p = p * cast(wd_alpha)
            t1, t2 = cast(mbeta1), cast(mbeta2)
            m.copy_(_fma(t1, g, _fma(-t1, m, m)))
            v.copy_(_fma(t2, g * g, _fma(-t2, v, v)))
            denom = torch.sqrt(v) / cast(bc2_sqrt)
            new_p = _fma(-cast(step_size), torch.atan2(m, denom), new_p)
            p.copy_(new_p)


@torch.no_grad()
def sparse_sign_sgd(table, ids, row_grads, lr, weight_decay):
    """SignSGD on the rows of `table` named by ids (duplicate ids' gradients summed first).

    Returns (unique ids, summed gradients) for inspection. Rows not in ids are untouched.
    """
    uniq, inverse = torch.unique(ids.long(), return_inverse=True)
    summed = torch.zeros(uniq.shape[0], row_grads.shape[1], dtype=row_grads.dtype)
    summed.index_add_(0, inverse, row_grads)
    rows = table[uniq]
    rows.mul_(1.0 - lr * weight_decay).add_(torch.sign(summed), alpha=-lr)
    table[uniq] = rows
    return uniq, summed


class EMA(object):
    """shadow = (1-rate)*param + rate*shadow over trainable parameters, initialised to the params."""

    def __init__(self, params, rate):
        self.rate = rate
        self.shadow = OrderedDict((n, p.detach().clone()) for n, p in params.items())

    @torch.no_grad()
    def update(self, params):
        for n, p in params.items():
            self.shadow[n] = (1.0 - self.rate) * p.detach() + self.rate * self.shadow[n]


# ---------------------------------------------------------------------------------------------
# Model and batch files
# ---------------------------------------------------------------------------------------------

def load_model_file(path):
    """Returns (Config-less raw config dict, tensors name -> float32 numpy). Validates names."""
    tensors, meta = st.load_f32(path)
    if "config" not in meta:
        raise ConfigError("%s: no \"config\" entry in __metadata__" % path)
    return json.loads(meta["config"]), tensors


def check_model_tensors(cfg, tensors, path="model"):
    shapes = tensor_shapes(cfg)
    missing = [n for n in shapes if n not in tensors]
    extra = [n for n in tensors if n not in shapes]
    if missing:
        raise ConfigError("%s: missing tensor(s): %s" % (path, ", ".join(missing)))
    if extra:
        raise ConfigError("%s: unexpected tensor(s): %s" % (path, ", ".join(extra)))
    for n, shape in shapes.items():
        if tuple(tensors[n].shape) != tuple(shape):
            raise ConfigError("%s: %s has shape %s, expected %s" % (path, n, tensors[n].shape, shape))


def save_model_file(path, raw_config, tensors):
    """Writes a model file: F32 tensors, H_init/L_init BF16 when forward_dtype is bfloat16."""
    cfg = Config(raw_config, batch_size=1)
    check_model_tensors(cfg, tensors, path)
    out = {}
    for n, arr in tensors.items():
        arr = np.asarray(arr, dtype=np.float32)
        if n in ("H_init", "L_init") and cfg.forward_dtype == "bfloat16":
            out[n] = st.BF16(st.f32_to_bf16(arr))
        else:
            out[n] = arr
    st.save(path, out, {"config": json.dumps(raw_config, sort_keys=True)})


def trunc_normal(shape, std, generator):
    """JAX-style truncated normal (models/common.py): clipped to +-2c, realised std exactly `std`."""
    if std == 0:
        return np.zeros(shape, dtype=np.float32)
    lower, upper = -2.0, 2.0
    sqrt2 = math.sqrt(2)
    a, b = math.erf(lower / sqrt2), math.erf(upper / sqrt2)
    z = (b - a) / 2
    c = (2 * math.pi) ** -0.5
    pdf_u, pdf_l = c * math.exp(-0.5 * lower ** 2), c * math.exp(-0.5 * upper ** 2)
    comp_std = std / math.sqrt(1 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)
    u = torch.rand(shape, dtype=torch.float64, generator=generator) * (b - a) + a
    v = torch.erfinv(u) * (sqrt2 * comp_std)
    return v.clamp(lower * comp_std, upper * comp_std).numpy().astype(np.float32)


def init_model_tensors(cfg, seed):
    """REFERENCE.md §3.8 initialisation (matches the distributions, not PyTorch's streams)."""
    gen = torch.Generator().manual_seed(int(seed))
    D = cfg.hidden_size
    out = OrderedDict()
    for n, shape in tensor_shapes(cfg).items():
        if n in ("embed_tokens.embedding_weight", "embed_pos.embedding_weight"):
            out[n] = trunc_normal(shape, 1.0 / math.sqrt(D), gen)
        elif n == "q_head.weight" or n == "puzzle_emb.weights":
            out[n] = np.zeros(shape, dtype=np.float32)
        elif n == "q_head.bias":
            out[n] = np.full(shape, -5.0, dtype=np.float32)
        elif n in ("H_init", "L_init"):
            out[n] = st.round_to_bf16(trunc_normal(shape, 1.0, gen))
        else:                                            # linear weights [out, in]: std 1/sqrt(fan_in)
            out[n] = trunc_normal(shape, 1.0 / math.sqrt(shape[1]), gen)
    return out


BATCH_DATA = ("inputs", "labels", "puzzle_identifiers")
BATCH_CARRY = ("z_H", "z_L", "steps", "halted")


def load_batch_file(path):
    tensors, _ = st.load(path)
    kinds = st.dtypes(path)
    for n in BATCH_DATA:
        if n not in tensors:
            raise ConfigError("%s: missing tensor %s" % (path, n))
        if kinds[n] != "I32":
            raise ConfigError("%s: %s must be I32" % (path, n))
    present = [n for n in BATCH_CARRY if n in tensors]
    if present and len(present) != len(BATCH_CARRY):
        raise ConfigError("%s: carry tensors must be all of z_H, z_L, steps, halted or none" % path)
    extra = set(tensors) - set(BATCH_DATA) - set(BATCH_CARRY)
    if extra:
        raise ConfigError("%s: unexpected tensor(s): %s" % (path, ", ".join(sorted(extra))))
    if present:
        want = {"z_H": "F32", "z_L": "F32", "steps": "I32", "halted": "U8"}
        for n, k in want.items():
            if kinds[n] != k:
                raise ConfigError("%s: %s must be %s" % (path, n, k))
    return tensors


def check_batch(cfg, batch):
    B, L = batch["inputs"].shape
    if L != cfg.seq_len or batch["labels"].shape != (B, L) or batch["puzzle_identifiers"].shape != (B,):
        raise ConfigError("batch shapes do not match the model (seq_len %d)" % cfg.seq_len)
    if batch["inputs"].min() < 0 or batch["inputs"].max() >= cfg.vocab_size:
        raise ConfigError("inputs out of vocabulary range")
    lab = batch["labels"]
    if ((lab != IGNORE_LABEL_ID) & ((lab < 0) | (lab >= cfg.vocab_size))).any():
        raise ConfigError("labels out of range")
    ids = batch["puzzle_identifiers"]
    if ids.min() < 0 or ids.max() >= cfg.num_puzzle_identifiers:
        raise ConfigError("puzzle_identifiers out of range")
    if "z_H" in batch:
        for n in ("z_H", "z_L"):
            if batch[n].shape != (B, cfg.S, cfg.hidden_size):
                raise ConfigError("%s must have shape [%d,%d,%d]" % (n, B, cfg.S, cfg.hidden_size))
        if batch["steps"].shape != (B,) or batch["halted"].shape != (B,):
            raise ConfigError("steps and halted must have shape [B]")


# ---------------------------------------------------------------------------------------------
# The `step` driver (mirrors `ponder step`)
# ---------------------------------------------------------------------------------------------

class Session(object):
    """Model + optimizer state + carry, as held by a training run."""

    def __init__(self, raw_config, tensors, batch_size, dtype):
        self.cfg = Config(raw_config, batch_size=batch_size)
        check_model_tensors(self.cfg, tensors)
        self.prec = Precision(dtype)
        self.model = Model(self.cfg, tensors, self.prec)
        c = self.cfg
        self.adam = AdamATan2(self.model.params, (c.beta1, c.beta2), c.weight_decay)
        self.ema = EMA(self.model.params, c.ema_rate) if c.ema else None

    def carry_from_batch(self, batch):
        B = batch["inputs"].shape[0]
        if "z_H" not in batch:
            return fresh_carry(self.model, B)
        dt = self.prec.compute
        return Carry(_tensor_copy(batch["z_H"], dt), _tensor_copy(batch["z_L"], dt),
                     torch.from_numpy(batch["steps"].astype(np.int32)),
                     torch.from_numpy(batch["halted"] != 0))

    def forward_loss(self, carry, data, training):
        carry, out, rows = act_step(self.model, carry, data, training)
        total, metrics, preds = act_loss(self.cfg, self.prec, carry, out, data["labels"])
        return carry, out, rows, total, metrics, preds

    def train_iteration(self, carry, data, step, total_steps, update=True):
        """Forward, backward of loss/global_batch_size, then (if update) SignSGD, AdamATan2, EMA."""
        c = self.cfg
        for p in self.model.params.values():
            p.grad = None
        carry, out, rows, total, metrics, preds = self.forward_loss(carry, data, training=True)
        ((1.0 / c.global_batch_size) * total).backward()
        grads = OrderedDict((n, p.grad) for n, p in self.model.params.items())
        rec = dict(out=out, carry=carry, total=total, metrics=metrics, preds=preds, grads=grads,
                   rows=rows, first_touch={n: (self.adam.m[n] == 0) & (self.adam.v[n] == 0)
                                           for n in self.model.params})
        if update:
            lr_emb = lr_schedule(step, c.puzzle_emb_lr, c.lr_warmup_steps, total_steps, c.lr_min_ratio)
            lr = lr_schedule(step, c.lr, c.lr_warmup_steps, total_steps, c.lr_min_ratio)
            if self.model.puzzle_table is not None:
                rec["puzzle_update"] = sparse_sign_sgd(self.model.puzzle_table, data["puzzle_identifiers"],
                                                       rows.grad, lr_emb, c.puzzle_emb_weight_decay)
            self.adam.step(grads, lr)
            if self.ema is not None:
                self.ema.update(self.model.params)
            rec["lr"], rec["lr_emb"] = lr, lr_emb
        return carry, rec


def run_step(model_path, batch_path, dtype="float32", optimizer_steps=0, eval_mode=False, chain=1,
             model=None, batch=None, out_float64=False):
    """Runs `ponder step` semantics. Returns (outputs name -> numpy, trace list of per-call records).

    model=(raw_config, tensors) and batch=dict may be given instead of paths (used by make_fixtures).
    Floating outputs are float32 (as written by step.py) unless out_float64.
    """
    out_dt = torch.float64 if out_float64 else torch.float32
    _f32 = lambda t: t.detach().to(out_dt).contiguous().numpy()
    if eval_mode and optimizer_steps:
        raise ConfigError("--eval cannot be combined with --optimizer-steps")
    if chain < 1 or (chain != 1 and not eval_mode):
        raise ConfigError("--chain needs --eval and N >= 1")
    raw_config, tensors = model if model is not None else load_model_file(model_path)
    batch = batch if batch is not None else load_batch_file(batch_path)
    B = batch["inputs"].shape[0]
    sess = Session(raw_config, tensors, B, dtype)
    cfg = sess.cfg
    check_batch(cfg, batch)
    data = {n: torch.from_numpy(np.asarray(batch[n], dtype=np.int32)) for n in BATCH_DATA}
    carry = sess.carry_from_batch(batch)
    trace = []

    if eval_mode:
        with torch.no_grad():
            for _ in range(chain):
                carry, out, _, total, metrics, preds = sess.forward_loss(carry, data, training=False)
                trace.append(dict(out=out, carry=carry, total=total, metrics=metrics, preds=preds))
        first = trace[-1]
    else:
        K = int(optimizer_steps)
        for k in range(1, max(K, 1) + 1):
            carry, rec = sess.train_iteration(carry, data, k, K, update=K > 0)
            trace.append(rec)
        first = trace[0]

    out, res = first["out"], {}
    res["logits"] = _f32(out["logits"])
    res["q_halt"] = _f32(out["q_halt"])
    res["q_continue"] = _f32(out["q_continue"])
    res["loss"] = np.asarray((1.0 / cfg.global_batch_size) * float(first["total"].detach()),
                             dtype=np.float64 if out_float64 else np.float32).reshape(())
    res["preds"] = first["preds"].to(torch.int32).numpy()
    res["z_H"], res["z_L"] = _f32(first["carry"].z_H), _f32(first["carry"].z_L)
    res["steps"] = first["carry"].steps.to(torch.int32).numpy()
    res["halted"] = first["carry"].halted.to(torch.uint8).numpy()
    if "target_q_continue" in out:
        res["target_q_continue"] = _f32(out["target_q_continue"])
    for k, v in first["metrics"].items():
        res["metrics." + k] = np.asarray(float(v), dtype=np.float64 if out_float64 else np.float32).reshape(())
    if not eval_mode:
        for n, g in first["grads"].items():
            res["grad." + n] = _f32(g) if g is not None else _f32(torch.zeros_like(sess.model.params[n]))
        if first["rows"] is not None:
            res["grad.puzzle_emb.rows"] = _f32(first["rows"].grad)
        if optimizer_steps > 0:
            for n, p in sess.model.params.items():
                res["param." + n] = _f32(p)
            if sess.model.puzzle_table is not None:
                res["param.puzzle_emb.weights"] = _f32(sess.model.puzzle_table)
            if sess.ema is not None:
                for n, s in sess.ema.shadow.items():
                    res["ema." + n] = _f32(s)
    return res, trace
