"""Videos and pictures: GIF/MP4 writing, image grids, PNGs, and "real vs imagined" strips.

Every function takes frames as uint8 in [0, 255] or float in [0, 1] (numpy arrays or CPU tensors), with
shape (..., H, W, 3), (..., H, W, 1) or (..., H, W), and draws in RGB uint8.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import imageio.v2 as imageio
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def to_uint8(images: Any) -> np.ndarray:
    """uint8 stays as it is; floats are read as [0, 1] (clipped) and scaled to [0, 255]."""
    if hasattr(images, "detach"):  # a torch tensor
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def to_rgb(images: Any, image_ndim: int = 3) -> np.ndarray:
    """uint8 RGB (..., H, W, 3) from (..., H, W), (..., H, W, 1) or (..., H, W, 3).

    image_ndim: 3 when the input holds one image (H, W[, C]), 4 for a stack (T, H, W[, C]); it tells
    (T, H, W) grayscale apart from (H, W, C) colour.
    """
    arr = to_uint8(images)
    if arr.ndim == image_ndim - 1:  # no channel axis
        arr = arr[..., None]
    if arr.ndim != image_ndim or arr.shape[-1] not in (1, 3):
        raise ValueError(f"expected images of shape (..., H, W), (..., H, W, 1) or (..., H, W, 3) with "
                         f"{image_ndim - 1} or {image_ndim} dims, got {arr.shape}.")
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad (T, H, W, 3) with black to even H and W: the H.264 encoder needs even sizes."""
    _, height, width, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)))


def write_video(frames: Any, path: str | Path, fps: int = 15) -> Path:
    """Write frames (T, H, W[, C]) to a .gif or .mp4 (chosen by the extension); returns the path.

    A GIF stores identical consecutive frames once, with their durations added.
    """
    path = Path(path)
    frames = to_rgb(frames, image_ndim=4)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        imageio.mimwrite(path, list(frames), duration=1000.0 / fps, loop=0)  # duration in ms per frame
    elif suffix == ".mp4":
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1,
                                ffmpeg_log_level="error") as writer:
            for frame in _even(frames):
                writer.append_data(frame)
    else:
        raise ValueError(f"write_video writes .gif or .mp4 files, not {path.name!r}.")
    return path


def image_grid(images: Any, nrow: int, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile images (N, H, W[, C]) into one RGB picture, `nrow` images per row, `pad` pixels between."""
    images = to_rgb(images, image_ndim=4)
    count, height, width, _ = images.shape
    rows = -(-count // nrow)  # ceil
    grid = np.full((rows * (height + pad) + pad, nrow * (width + pad) + pad, 3), pad_value, np.uint8)
    for i, image in enumerate(images):
        top = pad + (i // nrow) * (height + pad)
        left = pad + (i % nrow) * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def save_image(array: Any, path: str | Path) -> Path:
    """Save one image (H, W[, C]) as a PNG (or any format imageio knows from the extension)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, to_rgb(array, image_ndim=3))
    return path


def _text_bar(width: int, texts: Sequence[str], lefts: Sequence[int], height: int) -> np.ndarray:
    """A black (height, width, 3) bar with each text written in white from its left pixel."""
    bar = np.zeros((height, width, 3), np.uint8)
    for text, left in zip(texts, lefts, strict=True):
        cv2.putText(bar, text, (left + 2, height - 5), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def side_by_side(real: Any, imagined: Any, labels: Sequence[str] = ("real", "imagined"), scale: int = 2,
                 captions: Sequence[str] | None = None, gap: int = 4) -> np.ndarray:
    """Put two videos (T, H, W[, C]) next to each other, enlarged `scale` times, labelled on top.

    captions: optionally one line of text per frame, written under the pictures ("dream step 3").
    Returns (T, H', W', 3) uint8, ready for `write_video`.
    """
    real, imagined = to_rgb(real, image_ndim=4), to_rgb(imagined, image_ndim=4)
    if real.shape != imagined.shape:
        raise ValueError(f"real and imagined videos must have the same shape, got {real.shape} and "
                         f"{imagined.shape}.")
    steps, height, width, _ = real.shape
    big = lambda v: v.repeat(scale, axis=1).repeat(scale, axis=2)  # nearest-neighbour upscaling
    spacer = np.zeros((steps, height * scale, gap, 3), np.uint8)
    body = np.concatenate([big(real), spacer, big(imagined)], axis=2)  # (T, H*s, 2*W*s + gap, 3)
    full_width = body.shape[2]
    header = _text_bar(full_width, labels, (0, width * scale + gap), 16)
    parts = [np.broadcast_to(header, (steps, *header.shape)), body]
    if captions is not None:
        if len(captions) != steps:
            raise ValueError(f"got {len(captions)} captions for {steps} frames.")
        parts.append(np.stack([_text_bar(full_width, [c], [0], 16) for c in captions]))
    return np.ascontiguousarray(np.concatenate(parts, axis=1))
