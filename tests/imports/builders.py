"""Build small prediction dumps for tests: a zip holding predictions.csv and images."""

import csv
import io
import zipfile

from PIL import Image

COLUMNS = ["example_id", "image", "label", "prediction", "split", "source", "confidence"]


def png_bytes(color="red", size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def rows(n=6, **overrides):
    """n valid rows over classes cat/dog, spread over the four splits."""
    splits = ["train", "train_dev", "dev", "test"]
    result = []
    for i in range(n):
        row = {
            "example_id": f"ex{i:04d}",
            "image": f"images/ex{i:04d}.png",
            "label": "cat" if i % 2 else "dog",
            "prediction": "cat" if i % 3 else "dog",
            "split": splits[i % 4],
            "source": "web",
            "confidence": "0.75",
        }
        row.update(overrides)
        result.append(row)
    return result


def csv_text(table, columns=None) -> str:
    columns = columns or list(table[0]) if table else COLUMNS
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in table:
        writer.writerow(row)
    return out.getvalue()


def zip_of(members: dict, compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    """A zip holding exactly these members (name -> bytes or text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def zip_dump(table, *, images=None, columns=None, extra=None, table_name="predictions.csv"):
    """A zip with the table and one PNG per row (unless `images` says otherwise)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(table_name, csv_text(table, columns))
        if images is None:
            images = {row["image"]: png_bytes() for row in table}
        for name, data in images.items():
            archive.writestr(name, data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "dump.zip"
    return buffer
