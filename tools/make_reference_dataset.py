#!/usr/bin/python3
"""Writes tests/data_fixtures/reference_sudoku: a tiny Sudoku dataset laid out exactly as the
references' builder (dataset/build_sudoku_dataset.py) writes it — np.save of uint8/int32 arrays,
json.dump of the metadata — so that the C++ tests prove ponder reads what the references write.
Three puzzles from the bundled Kaggle slice, each with two extra versions (digit relabelling only,
which keeps validity), train and test splits."""
import json, os, sys
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "tests", "data_fixtures", "reference_sudoku")
rows = [l.strip().split(",") for l in open(os.path.join(here, "..", "..", "shared", "data", "sudoku", "kaggle_first9999.csv"))][:4]

def grids(q, a):
    return (np.frombuffer(q.encode(), np.uint8) - ord("0")), (np.frombuffer(a.encode(), np.uint8) - ord("0"))

def split(name, items, num_aug):
    res = {k: [] for k in ["inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"]}
    res["puzzle_indices"].append(0); res["group_indices"].append(0)
    rng = np.random.default_rng(0)
    pid = ex = 0
    for q, a in items:
        inp, lab = grids(q, a)
        for k in range(1 + num_aug):
            if k:
                m = np.pad(rng.permutation(np.arange(1, 10)), (1, 0))
                i2, l2 = m[inp], m[lab]
            else:
                i2, l2 = inp, lab
            res["inputs"].append(i2); res["labels"].append(l2)
            ex += 1; pid += 1
            res["puzzle_indices"].append(ex); res["puzzle_identifiers"].append(0)
        res["group_indices"].append(pid)
    arrays = {
        "inputs": np.stack(res["inputs"]).astype(np.uint8) + 1,
        "labels": np.stack(res["labels"]).astype(np.uint8) + 1,
        "group_indices": np.array(res["group_indices"], np.int32),
        "puzzle_indices": np.array(res["puzzle_indices"], np.int32),
        "puzzle_identifiers": np.array(res["puzzle_identifiers"], np.int32),
    }
    meta = dict(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=11, seq_len=81,
                num_puzzle_identifiers=1, total_groups=len(items), mean_puzzle_examples=1,
                total_puzzles=len(items), sets=["all"])
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    json.dump(meta, open(os.path.join(d, "dataset.json"), "w"))
    for k, v in arrays.items():
        np.save(os.path.join(d, "all__%s.npy" % k), v)

split("train", rows[:3], 2)
split("test", rows[3:], 0)
json.dump(["<blank>"], open(os.path.join(out, "identifiers.json"), "w"))
print("wrote", os.path.normpath(out))
