"""common.video: uint8 conversion, GIF/MP4 writing, image grids, PNGs, real-vs-imagined strips."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from common.video import image_grid, save_image, side_by_side, to_rgb, to_uint8, write_video


def test_to_uint8_scales_floats_and_clips():
    out = to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0]))
    assert out.dtype == np.uint8 and out.tolist() == [0, 0, 128, 255, 255]
    assert to_uint8(torch.tensor([1.0], requires_grad=True)).tolist() == [255]
    assert to_uint8(np.array([7], np.uint8)).tolist() == [7]


def test_to_rgb_handles_grayscale_layouts():
    assert to_rgb(np.zeros((5, 6), np.uint8)).shape == (5, 6, 3)
    assert to_rgb(np.zeros((5, 6, 1), np.uint8)).shape == (5, 6, 3)
    assert to_rgb(np.zeros((2, 5, 6), np.uint8), image_ndim=4).shape == (2, 5, 6, 3)
    with pytest.raises(ValueError, match="H, W"):
        to_rgb(np.zeros((5, 6, 2), np.uint8))


@pytest.mark.parametrize("name", ["dream.gif", "dream.mp4"])
def test_write_video_round_trip(tmp_path, name):
    frames = np.zeros((6, 21, 17, 3), np.float32)  # odd sizes: the MP4 writer pads them to even
    for t in range(6):
        frames[t, :, : 2 + 2 * t] = 1.0  # a white bar that grows
    path = write_video(frames, tmp_path / "sub" / name, fps=10)
    back = imageio.mimread(path)
    assert len(back) == 6
    assert back[0].shape[:2] in ((21, 17), (22, 18))
    assert back[0][:, :2].mean() > 200 and back[0][:21, 4:17].mean() < 30  # mostly lossless content
    assert back[5][:21, :12].mean() > 200


def test_write_video_grayscale_and_bad_extension(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8), dtype=np.uint8)
    back = imageio.mimread(write_video(frames, tmp_path / "g.gif"))
    assert len(back) == 3
    with pytest.raises(ValueError, match=".gif or .mp4"):
        write_video(frames, tmp_path / "g.avi")


def test_image_grid_layout():
    images = np.stack([np.full((4, 5), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = image_grid(images, nrow=3, pad=1, pad_value=255)
    assert grid.shape == (2 * 4 + 3, 3 * 5 + 4, 3)
    assert (grid[1:5, 1:6] == 10).all()  # first image, top left
    assert (grid[6:10, 7:12] == 50).all()  # fifth image: second row, second column
    assert (grid[6:10, 13:18] == 255).all()  # the empty sixth cell stays padding
    assert (grid[0] == 255).all()


def test_save_image_is_lossless_png(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (9, 7, 3), dtype=np.uint8)
    path = save_image(image, tmp_path / "x" / "a.png")
    np.testing.assert_array_equal(imageio.imread(path), image)
    save_image(np.full((3, 3), 0.5), tmp_path / "b.png")
    assert (imageio.imread(tmp_path / "b.png")[..., :3] == 128).all()


def test_side_by_side_puts_both_videos_enlarged_under_labels():
    real = np.zeros((3, 8, 10, 3), np.uint8)
    real[:, :, :, 0] = 200
    imagined = np.full((3, 8, 10), 0.25, np.float32)  # grayscale floats are fine
    strip = side_by_side(real, imagined, scale=2, captions=["a", "b", "c"])
    header, caption = 16, 16
    assert strip.shape == (3, header + 16 + caption, 2 * 20 + 4, 3) and strip.dtype == np.uint8
    body = strip[:, header:header + 16]
    assert (body[:, :, :20, 0] == 200).all() and (body[:, :, :20, 1] == 0).all()
    assert (body[:, :, 24:] == 64).all()
    assert strip[0, :header].max() == 255  # the labels are drawn in white
    assert not np.array_equal(strip[0, -caption:], strip[1, -caption:])  # per-frame captions


def test_side_by_side_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same shape"):
        side_by_side(np.zeros((3, 8, 8, 3)), np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="captions"):
        side_by_side(np.zeros((3, 8, 8, 3)), np.zeros((3, 8, 8, 3)), captions=["x"])
