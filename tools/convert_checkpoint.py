#!/usr/bin/python3
"""Moves weights between the references' PyTorch checkpoints and ponder's safetensors files.

  # a reference checkpoint (torch.save of the state dict, e.g. checkpoints/.../step_65104, with
  # all_config.yaml beside it) -> a ponder model file
  convert_checkpoint.py to-ponder step_65104 model.safetensors [--config all_config.yaml]
                        [--data DATASET_DIR | --seq-len N]

  # a ponder model file -> a state dict the references load (and all_config.yaml beside it)
  convert_checkpoint.py to-pytorch model.safetensors step_0 [--prefix _orig_mod.model.inner.]

Tensor names are the state-dict names with the `_orig_mod.model.inner.` (torch.compile) or
`model.inner.` prefix stripped (REFERENCE.md §10). The run configuration travels as JSON in the
safetensors `__metadata__["config"]` and as all_config.yaml on the PyTorch side. The dataset fields
(vocab_size, seq_len, num_puzzle_identifiers) are not in all_config.yaml: vocab_size and the number
of puzzle ids are read from the weights, seq_len from --data's dataset.json, --seq-len, or learned
positions / MLP-t weights when the model has them.

Needs Debian's python3-torch, python3-numpy and python3-yaml; nothing of it runs inside ponder.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import safetensors_io as st  # noqa: E402

PREFIXES = ("_orig_mod.model.inner.", "model.inner.")


def fail(msg):
    print("convert_checkpoint: error: " + msg, file=sys.stderr)
    sys.exit(2)


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        fail("reading %s needs python3-yaml (apt-get install python3-yaml)" % path)
    with open(path) as f:
        return yaml.safe_load(f)


def infer_seq_len(arch, tensors, args):
    if args.seq_len:
        return args.seq_len
    if args.data:
        meta = os.path.join(args.data, "train", "dataset.json")
        if not os.path.exists(meta):
            fail("%s: not found" % meta)
        return json.load(open(meta))["seq_len"]
    hidden = arch.get("hidden_size", 512)
    ndim = arch.get("puzzle_emb_ndim", hidden)
    is_hrm = "hrm" in str(arch.get("name", ""))
    plen = arch.get("puzzle_emb_len", 16)
    prefix = 0 if ndim == 0 else (math.ceil(ndim / hidden) if is_hrm or plen == 0 else plen)
    if "embed_pos.embedding_weight" in tensors:
        return tensors["embed_pos.embedding_weight"].shape[0] - prefix
    for name, t in tensors.items():
        if name.endswith("mlp_t.down_proj.weight"):
            return t.shape[0] - prefix
    fail("seq_len cannot be read from these weights: pass --data DATASET_DIR or --seq-len N")


def to_ponder(args):
    sd = torch.load(args.input, map_location="cpu")
    if not isinstance(sd, dict):
        fail("%s: not a state dict" % args.input)
    tensors = {}
    for key, value in sd.items():
        name = key
        for p in PREFIXES:
            if name.startswith(p):
                name = name[len(p):]
                break
        if name.startswith("rotary_emb.") or name.endswith("local_weights") or name.endswith("local_ids"):
            continue  # non-persistent buffers; never part of a checkpoint's meaning
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:
            tensors[name] = st.BF16(t.view(torch.int16).numpy().view(np.uint16))
            continue
        tensors[name] = t.to(torch.float32).numpy()
    config_path = args.config or os.path.join(os.path.dirname(os.path.abspath(args.input)), "all_config.yaml")
    if not os.path.exists(config_path):
        fail("%s: not found (pass --config all_config.yaml)" % config_path)
    cfg = load_yaml(config_path)
    arch = cfg.get("arch", {})
    if "embed_tokens.embedding_weight" not in tensors:
        fail("%s: no embed_tokens.embedding_weight; is this a TRM/HRM checkpoint?" % args.input)
    cfg["vocab_size"] = int(tensors["embed_tokens.embedding_weight"].shape[0])
    cfg["num_puzzle_identifiers"] = int(tensors["puzzle_emb.weights"].shape[0]) if "puzzle_emb.weights" in tensors else 1
    cfg["seq_len"] = int(infer_seq_len(arch, tensors, args))
    meta = {"config": json.dumps(cfg), "format": "ponder"}
    st.save(args.output, tensors, meta)
    print("%s: %d tensors, config from %s" % (args.output, len(tensors), config_path))


def to_pytorch(args):
    tensors, meta = st.load(args.input)
    if "config" not in meta:
        fail("%s: no config in __metadata__" % args.input)
    cfg = json.loads(meta["config"])
    header = st.dtypes(args.input)
    sd = {}
    for name, arr in tensors.items():
        if header[name] == "BF16":
            t = torch.from_numpy(arr.astype(np.uint16).view(np.int16)).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.ascontiguousarray(arr))
        sd[args.prefix + name] = t
    torch.save(sd, args.output)
    try:
        import yaml
        with open(os.path.join(os.path.dirname(os.path.abspath(args.output)), "all_config.yaml"), "w") as f:
            yaml.safe_dump(cfg, f)
    except ImportError:
        print("python3-yaml missing: all_config.yaml not written", file=sys.stderr)
    print("%s: %d tensors with prefix %r" % (args.output, len(sd), args.prefix))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-ponder")
    a.add_argument("input")
    a.add_argument("output")
    a.add_argument("--config", help="all_config.yaml (default: beside the checkpoint)")
    a.add_argument("--data", help="dataset directory, for seq_len")
    a.add_argument("--seq-len", type=int)
    b = sub.add_parser("to-pytorch")
    b.add_argument("input")
    b.add_argument("output")
    b.add_argument("--prefix", default="_orig_mod.model.inner.")
    args = ap.parse_args()
    to_ponder(args) if args.cmd == "to-ponder" else to_pytorch(args)


if __name__ == "__main__":
    main()
