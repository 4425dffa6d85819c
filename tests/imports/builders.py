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


# The worked multi-task dump (#15): four binary tasks, some labels unknown ("?" or empty).
TASKS = ["pedestrian", "car", "stop_sign", "traffic_light"]
# image: split, then per task (label, prediction), in TASKS order.
MULTITASK = {
    "t1": ("train", [("1", "1"), ("1", "1"), ("1", "1"), ("0", "0")]),
    "t2": ("train", [("0", "0"), ("0", "0"), ("0", "0"), ("0", "0")]),
    "t3": ("train", [("1", "1"), ("1", "1"), ("0", "0"), ("1", "1")]),
    "t4": ("train", [("0", "0"), ("0", "0"), ("1", "0"), ("0", "0")]),
    "v1": ("train_dev", [("1", "1"), ("0", "0"), ("1", "1"), ("0", "0")]),
    "v2": ("train_dev", [("0", "0"), ("1", "1"), ("0", "0"), ("1", "1")]),
    "d1": ("dev", [("1", "1"), ("1", "1"), ("?", "0"), ("0", "0")]),
    "d2": ("dev", [("0", "1"), ("1", "0"), ("", "0"), ("1", "1")]),
    "d3": ("dev", [("?", "0"), ("1", "1"), ("?", "0"), ("0", "0")]),
    "d4": ("dev", [("", "1"), ("0", "0"), ("?", "0"), ("?", "0")]),
    "d5": ("dev", [("1", "0"), ("0", "1"), ("0", "0"), ("1", "1")]),
    "d6": ("dev", [("0", "0"), ("?", "1"), ("0", "1"), ("0", "0")]),
    "d7": ("dev", [("1", "1"), ("0", "0"), ("1", "0"), ("0", "0")]),
    "d8": ("dev", [("0", "0"), ("1", "1"), ("1", "1"), ("0", "1")]),
}


def multitask_rows(tasks=TASKS, data=MULTITASK, **overrides) -> list[dict]:
    """The worked multi-task table as CSV rows (`label:<task>`, `prediction:<task>`)."""
    table = []
    for example_id, (split, values) in data.items():
        row = {
            "example_id": example_id,
            "image": f"images/{example_id}.png",
            "split": split,
            "source": "street",
        }
        for task, (label, prediction) in zip(tasks, values, strict=True):
            row[f"label:{task}"] = label
            row[f"prediction:{task}"] = prediction
        row.update(overrides)
        table.append(row)
    return table


def multitask_jsonl(table: list[dict]) -> str:
    """The same rows as JSON Lines with `labels` / `predictions` objects (an unknown label
    as null), probabilities (`prob:<task>...` columns) as a `probabilities` object."""
    import json

    lines = []
    for row in table:
        obj = {"labels": {}, "predictions": {}, "probabilities": {}}
        for key, value in row.items():
            if key.startswith("label:"):
                obj["labels"][key[6:]] = None if value in ("", "?") else value
            elif key.startswith("prediction:"):
                obj["predictions"][key[11:]] = value
            elif key.startswith("prob:"):
                task, _, cls = key[5:].partition(":")
                if cls:
                    obj["probabilities"].setdefault(task, {})[cls] = float(value)
                else:
                    obj["probabilities"][task] = float(value)
            else:
                obj[key] = value
        if not obj["probabilities"]:
            del obj["probabilities"]
        lines.append(json.dumps(obj))
    return "\n".join(lines) + "\n"
