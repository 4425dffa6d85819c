"""Pillow opens only an allow-list of formats: every `Image.open` in mlstrat goes through
`mlstrat.datasets.images.open_image`, which refuses anything but PNG, JPEG, GIF, WEBP and
BMP (no EPS through Ghostscript, no TIFF, no SVG, no PSD)."""

import ast
import io
from pathlib import Path

import pytest
from PIL import Image, UnidentifiedImageError

from mlstrat.datasets.images import ALLOWED_FORMATS, open_image

ROOT = Path(__file__).resolve().parents[2]


def test_only_open_image_calls_pillow_open():
    calls = []
    for path in sorted((ROOT / "mlstrat").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "open"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "Image"
            ):
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert [call.split(":")[0] for call in calls] == ["mlstrat/datasets/images.py"]


def image_bytes(fmt):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", sorted(ALLOWED_FORMATS))
def test_allowed_formats_open(fmt):
    with open_image(io.BytesIO(image_bytes(fmt))) as image:
        assert image.format == fmt


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "ICO", "TGA", "PCX", "DDS"])
def test_other_formats_pillow_reads_are_refused(fmt):
    data = image_bytes(fmt)
    with Image.open(io.BytesIO(data)) as image:  # Pillow alone would read it
        assert image.format == fmt
    with pytest.raises(UnidentifiedImageError):
        open_image(io.BytesIO(data))
