"""``stabn-bench perf data``: clips per second delivered by the data loader (decode + sample + transform).

Measured on the training split of the configured data set (default: the synthetic preset), single process and
with N DataLoader workers, without and with the in-memory decode cache; ratios are against 0 workers, no cache,
in the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from ..commands.common import add_config_arguments, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="decoded clips per second of the data loader (0 and N workers, with and without cache)",
        description=__doc__,
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="worker counts to measure (default 0 2)")
    parser.add_argument("--clips", type=int, default=256, help="clips per measurement (default 256)")
    parser.add_argument("--split", default=None, help="split to read (default: data.train_split)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def clips_per_second(dataset, batch_size: int, num_workers: int, num_clips: int) -> float:
    """Clips per second through a DataLoader over ``num_clips`` clips (worker start-up excluded)."""
    from torch.utils.data import DataLoader

    from ..data import collate_clips

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_clips)
    delivered, start = 0, None
    while delivered < num_clips:
        for batch in loader:
            if start is None:  # the first batch pays for worker start-up
                start = time.perf_counter()
                continue
            delivered += len(batch["clip_id"])
            if delivered >= num_clips:
                break
    assert start is not None  # the loop above ran
    return delivered / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> int:
    from ..data import build_dataset

    cfg = config_from_args(args)
    split = args.split or cfg.data.train_split
    batch = cfg.train.batch_size
    plain = build_dataset(dataclasses.replace(cfg.data, cache_decoded=False), split, train=True)
    first: Any = plain[0]
    clip_shape = tuple(first["clip"].shape)
    print(f"data set: {plain.name} ({len(plain)} clips, clip {clip_shape}, batch {batch}, "
          f"{cfg.data.sampling} sampling, train transforms)")
    rows = []
    for workers in args.workers:
        rows.append(("decode every epoch", workers, clips_per_second(plain, batch, workers, args.clips)))
    cached = build_dataset(dataclasses.replace(cfg.data, cache_decoded=True), split, train=True)
    for index in range(len(cached)):  # fill the cache (the first epoch of a run)
        cached[index]
    rows.append(("decode cache (epochs 2+)", 0, clips_per_second(cached, batch, 0, args.clips)))
    reference = rows[0][2]
    print(f"{'mode':<26} {'workers':>7} {'clips/s':>10} {'vs 0 workers':>13}")
    for mode, workers, rate in rows:
        print(f"{mode:<26} {workers:>7} {rate:>10.1f} {rate / reference:>12.2f}x")
    return 0
