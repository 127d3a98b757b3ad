"""Programmatic image-folder fixtures for the image tests (no binary files are committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _rgb(seed: int, size=(40, 30)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))


def make_messy_folder(root: Path) -> Path:
    """A class-per-folder directory with every case the loader must handle.

    ``Cavendish Banana/`` (10 files, 8 loadable, 2 skipped, 1 duplicate):
        three ordinary JPEGs, ``Copy of c0.jpg`` (byte copy of c0.jpg), ``wrong_ext.jpg`` (a PNG),
        ``photo.webp`` (WEBP), ``palette.png`` (mode P with transparency), ``rgba.png``,
        ``notes.txt`` (not an image), ``broken.jpg`` (truncated JPEG header).
    ``Lady Finger Banana/`` (6 files, 6 loadable, 0 skipped):
        ``grey.png`` (mode L), ``tiny.png`` (100 x 80), ``huge.jpg`` (3000 x 2000),
        ``anim.gif``, ``bitmap.bmp``, ``sub/nested.jpg`` (a nested folder).
    Plus a hidden folder ``.cache/`` and a loose ``README.md`` that are ignored.
    """
    a = root / "Cavendish Banana"
    b = root / "Lady Finger Banana"
    (b / "sub").mkdir(parents=True)
    a.mkdir(parents=True)
    for i in range(3):
        _rgb(i).save(a / f"c{i}.jpg", format="JPEG", quality=90)
    (a / "Copy of c0.jpg").write_bytes((a / "c0.jpg").read_bytes())
    _rgb(10).save(a / "wrong_ext.jpg", format="PNG")
    _rgb(11).save(a / "photo.webp", format="WEBP")
    pal = _rgb(12).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(a / "palette.png", format="PNG", transparency=0)
    rgba = _rgb(13).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(a / "rgba.png", format="PNG")
    (a / "notes.txt").write_text("these are not pixels\n")
    (a / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    _rgb(20).convert("L").save(b / "grey.png", format="PNG")
    _rgb(21, size=(100, 80)).save(b / "tiny.png", format="PNG")
    big = np.zeros((2000, 3000, 3), dtype=np.uint8)
    big[..., 0] = np.linspace(0, 255, 3000, dtype=np.uint8)[None, :]
    big[..., 1] = 128
    Image.fromarray(big).save(b / "huge.jpg", format="JPEG", quality=80)
    frames = [_rgb(22 + k).convert("P") for k in range(2)]
    frames[0].save(b / "anim.gif", format="GIF", save_all=True, append_images=frames[1:])
    _rgb(25).save(b / "bitmap.bmp", format="BMP")
    _rgb(26).save(b / "sub" / "nested.jpg", format="JPEG")
    (root / ".cache").mkdir()
    _rgb(30).save(root / ".cache" / "x.jpg", format="JPEG")
    (root / "README.md").write_text("loose file\n")
    return root


def make_simple_folder(root: Path, classes=("a", "b"), n=4, size=(24, 24)) -> Path:
    """``n`` random JPEGs in each class folder."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _rgb(100 * c + i, size=size).save(root / name / f"{i}.jpg", format="JPEG")
    return root
