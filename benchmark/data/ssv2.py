"""The Something-Something V2 layout, exactly as distributed.

::

    <root>/20bn-something-something-v2/<id>.webm
    <root>/something-something-v2-labels.json       {"Moving something from left to right": "93", ...}
    <root>/something-something-v2-train.json        [{"id": "1", "label": "moving pen from left to right",
    <root>/something-something-v2-validation.json     "template": "Moving [something] from left to right",
    <root>/something-something-v2-test.json           "placeholders": ["pen"]}, ...]   (test: only {"id"})

A label is found from the item's template with the ``[]`` brackets removed. Items without a template (the
official test split) get label -1.
"""
from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .video_io import VIDEO_EXTENSIONS

VIDEO_DIR = "20bn-something-something-v2"
LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILE = "something-something-v2-{split}.json"
UNLABELLED = -1


@dataclass(frozen=True)
class ClipRecord:
    """One clip of a split: its id, video path and label index (-1 when the split has no labels)."""

    clip_id: str
    path: Path
    label: int


def template_to_label(template: str) -> str:
    """``"Moving [something] up"`` -> ``"Moving something up"`` (the key of the labels file)."""
    return template.replace("[", "").replace("]", "")


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise DataError(f"{what} '{path}' does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{what} '{path}' is not valid JSON: {err}") from None


def check_root(root: str | os.PathLike) -> Path:
    """``root`` if it has the SSv2 layout, else a DataError naming what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"SSv2 root '{root}' does not exist or is not a folder")
    missing = [name for name in (LABELS_FILE, VIDEO_DIR) if not (root / name).exists()]
    if missing:
        raise DataError(
            f"'{root}' is not a Something-Something V2 root: missing {', '.join(missing)} "
            f"(expected {VIDEO_DIR}/<id>.webm and something-something-v2-{{labels,train,validation,test}}.json)"
        )
    return root


def read_labels(root: str | os.PathLike) -> list[str]:
    """Class names ordered by their index, from ``something-something-v2-labels.json``."""
    path = Path(root) / LABELS_FILE
    table = _read_json(path, "SSv2 labels file")
    if not isinstance(table, dict) or not table:
        raise DataError(f"SSv2 labels file '{path}' must map label text to an index, e.g. {{\"Moving something up\": \"0\"}}")
    try:
        by_index = {int(index): name for name, index in table.items()}
    except (TypeError, ValueError):
        raise DataError(f"SSv2 labels file '{path}' has a non-integer index; values must be \"0\", \"1\", ...") from None
    if sorted(by_index) != list(range(len(table))):
        raise DataError(f"SSv2 labels file '{path}' must number its {len(table)} labels 0..{len(table) - 1} without gaps")
    return [by_index[i] for i in range(len(table))]


def _video_index(video_dir: Path) -> dict[str, str]:
    """Clip id -> file name for every video in ``video_dir`` (one directory scan)."""
    with os.scandir(video_dir) as entries:
        return {
            os.path.splitext(e.name)[0]: e.name
            for e in entries
            if os.path.splitext(e.name)[1].lower() in VIDEO_EXTENSIONS
        }


def read_split(root: str | os.PathLike, split: str, classes: list[str]) -> list[ClipRecord]:
    """The clips of ``split`` (train, validation, test) under ``root``; labels index into ``classes``."""
    root = check_root(root)
    path = root / SPLIT_FILE.format(split=split)
    if not path.is_file():
        present = sorted(p.name for p in root.glob(SPLIT_FILE.format(split="*")) if p.name != LABELS_FILE)
        raise DataError(f"SSv2 split file '{path}' does not exist; present: {', '.join(present) or 'none'}")
    items = _read_json(path, "SSv2 split file")
    if not isinstance(items, list):
        raise DataError(f"SSv2 split file '{path}' must hold a list of {{\"id\": ..., \"template\": ...}} items")
    if not items:
        raise DataError(f"SSv2 split file '{path}' is empty: split '{split}' has no clips")
    index = {name: i for i, name in enumerate(classes)}
    videos = _video_index(root / VIDEO_DIR)
    records = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise DataError(f"SSv2 split file '{path}' item {position} has no \"id\": {item!r:.80}")
        clip_id = str(item["id"])
        template = item.get("template")
        if template is None:
            label = UNLABELLED
        else:
            name = template_to_label(str(template))
            if name not in index:
                close = difflib.get_close_matches(name, classes, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise DataError(
                    f"SSv2 split file '{path}' item id {clip_id} has label '{name}', which is not in "
                    f"'{root / LABELS_FILE}' ({len(classes)} labels){hint}"
                )
            label = index[name]
        filename = videos.get(clip_id, f"{clip_id}.webm")
        records.append(ClipRecord(clip_id, root / VIDEO_DIR / filename, label))
    return records


def write_annotations(root: Path, templates: list[str], splits: dict[str, list[dict]]) -> None:
    """Write the labels file and one split file per entry of ``splits`` (items as in the module docstring)."""
    labels = {template_to_label(t): str(i) for i, t in enumerate(templates)}
    (root / LABELS_FILE).write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    for split, items in splits.items():
        (root / SPLIT_FILE.format(split=split)).write_text(json.dumps(items, indent=1) + "\n", encoding="utf-8")
