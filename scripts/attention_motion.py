"""Does ST-ABN's temporal attention M_t peak on the frames with the most motion?

Spearman's rank correlation, per test clip, between M_t (N, T) of a run's ``stabn`` model and the clip's per-frame
motion energy (``stabn_bench.metrics.motion``); writes ``attention_motion.csv`` (clip_id, label, rho) into the run
folder and prints the mean with a 95% bootstrap CI and the share of clips whose most attended frame is one of the
two frames with the most motion.

    python scripts/attention_motion.py results/arrow-of-time
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from stabn_bench.benchmark.config import RunConfig, from_dict
from stabn_bench.benchmark.data import build_dataset, collate_clips, denormalize
from stabn_bench.benchmark.report import write_table
from stabn_bench.benchmark.training import load_model
from stabn_bench.metrics.motion import attention_motion_correlation, frame_motion_energy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--model", default="stabn", help="model of the run with a temporal attention (default: stabn)")
    args = parser.parse_args()
    cfg = from_dict(RunConfig, yaml.safe_load((args.run_dir / "config.yaml").read_text()))
    checkpoint = json.loads((args.run_dir / "provenance.json").read_text())["checkpoints"][args.model]
    if isinstance(checkpoint, dict):  # one checkpoint per training seed: the first seed's
        checkpoint = checkpoint[sorted(checkpoint, key=int)[0]]
    model, _ = load_model(checkpoint, "cpu")
    dataset = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.train.batch_size, collate_fn=collate_clips)
    rows = []
    with torch.no_grad():
        for batch in loader:
            if batch["label"].numel() == 0:
                continue
            attention = model(batch["clip"]).temporal_attention                       # (N, T)
            pixels = denormalize(batch["clip"])                                        # (N, C, T, H, W) in [0, 1]
            rho = attention_motion_correlation(attention.float(), pixels)
            motion = frame_motion_energy(pixels)
            top2 = motion.topk(2, dim=1).indices
            hit = (top2 == attention.argmax(1, keepdim=True)).any(1)
            rows += [{"clip_id": c, "label": int(y), "rho": float(r), "peak_in_top2_motion": bool(h)}
                     for c, y, r, h in zip(batch["clip_id"], batch["label"], rho, hit)]
    table = pd.DataFrame(rows)
    write_table(table, args.run_dir / "attention_motion.csv")
    rho = table["rho"].dropna().to_numpy()
    rng = np.random.default_rng(0)
    means = rng.choice(rho, size=(1000, len(rho))).mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    chance = 2 / cfg.data.num_frames
    print(f"{args.model}: Spearman(M_t, motion energy) over {len(rho)} test clips: mean {rho.mean():+.3f} "
          f"(95% CI {low:+.3f} .. {high:+.3f}), median {np.median(rho):+.3f}; most attended frame among the 2 frames "
          f"with most motion in {table['peak_in_top2_motion'].mean():.1%} of clips (chance {chance:.0%})")
    for label, part in table.groupby("label"):
        print(f"  label {dataset.classes[label]}: mean rho {part['rho'].mean():+.3f} over {len(part)} clips")


if __name__ == "__main__":
    main()
