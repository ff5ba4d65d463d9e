"""Video files: writing with PyAV (synthetic data) and decoding with decord (every data set).

Every decoding problem is a :class:`~benchmark.errors.DataError` whose message names the file and the problem:
missing, empty, truncated, or not decodable.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av  # before decord: decord bundles its own FFmpeg libraries, which break PyAV's VP9 encoder if loaded first
import decord
import numpy as np

from ..errors import DataError

#: Container -> (codec, encoder options). High quality, full-resolution chroma so that colours survive;
#: ``fastdecode`` halves H.264 decoding time. Byte-identical files for the same frames, in any process: one
#: encoder thread, and no x264 lookahead (mb-tree rate control, adaptive B-frames, a threaded lookahead), whose
#: output was seen to vary between encodes of the same frames (a few clips in 48, more on a loaded machine).
CODECS: dict[str, tuple[str, dict[str, str]]] = {
    "mp4": ("libx264", {"crf": "8", "preset": "veryfast", "tune": "fastdecode", "threads": "1",
                        "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0:sync-lookahead=0:"
                                       "rc-lookahead=0:mbtree=0:bframes=0"}),
    "webm": ("libvpx-vp9", {"crf": "8", "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"}),
}
VIDEO_EXTENSIONS = (".webm", ".mp4", ".avi", ".mkv", ".mov", ".m4v")

decord.bridge.set_bridge("native")


class VideoDecodeError(DataError):
    """A video file that cannot be used; ``path`` and ``problem`` are kept apart for skip reports."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"video file '{path}' {problem}")

    def __reduce__(self):  # picklable (a worker process hands it back): rebuilt from the two arguments
        return type(self), (self.path, self.problem)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int, container: str = "mp4") -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB into ``path`` (mp4: H.264, webm: VP9; 4:4:4 chroma)."""
    if container not in CODECS:
        raise ValueError(f"container {container!r}; valid: {', '.join(CODECS)}")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    codec, options = CODECS[container]
    # bitexact: no muxer date, random track UIDs or version strings in the file (Matroska/WebM writes them)
    with av.open(str(path), mode="w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"
        stream.options = dict(options)
        stream.codec_context.thread_count = 1
        for t, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts, picture.time_base = t, Fraction(1, fps)  # explicit timestamps: nothing left to the muxer
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _header_frame_count(path: Path) -> int | None:
    """Frames the container header promises (from its duration and frame rate), or None if it does not say."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            rate = stream.average_rate or stream.guessed_rate
            if container.duration and rate:
                return int(round(container.duration / 1e6 * float(rate)))
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    return None


class VideoFile:
    """An opened video: ``len(video)`` frames, ``video.read(indices)`` -> (len(indices), H, W, 3) uint8.

    Opening checks that the file exists, is not empty, opens, has frames and is not shorter than its header
    says (a truncated download); each problem raises DataError naming the path.
    """

    def __init__(self, path: str | os.PathLike, check_truncation: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoDecodeError(self.path, "does not exist")
        if self.path.stat().st_size == 0:
            raise VideoDecodeError(self.path, "is empty (0 bytes)")
        try:
            self._reader = decord.VideoReader(str(self.path), num_threads=1)
            self.num_frames = len(self._reader)
        except (decord.DECORDError, RuntimeError) as err:
            raise VideoDecodeError(
                self.path, f"cannot be decoded (truncated or not a video): {_first_line(err)}"
            ) from None
        if self.num_frames < 1:
            raise VideoDecodeError(self.path, "has no decodable frames")
        if check_truncation:
            promised = _header_frame_count(self.path)
            if promised is not None and self.num_frames < promised - max(2, int(0.05 * promised)):
                raise VideoDecodeError(
                    self.path,
                    f"is truncated: its header promises {promised} frames but only {self.num_frames} can be decoded",
                )

    def __len__(self) -> int:
        return self.num_frames

    def read(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """(len(indices), H, W, 3) uint8 RGB frames (all frames when ``indices`` is None)."""
        indices = list(range(self.num_frames)) if indices is None else [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise VideoDecodeError(self.path, f"has {self.num_frames} frames; frame {bad[0]} was asked for")
        try:
            return self._reader.get_batch(indices).asnumpy()
        except (decord.DECORDError, RuntimeError) as err:
            raise VideoDecodeError(self.path, f"cannot be decoded: {_first_line(err)}") from None


def read_video(path: str | os.PathLike, indices: Sequence[int] | None = None) -> np.ndarray:
    """Decode frames ``indices`` (all when None) of ``path``: (T, H, W, 3) uint8 RGB."""
    return VideoFile(path).read(indices)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
