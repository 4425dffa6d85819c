"""Build a real prediction dump from scikit-learn's bundled handwritten digits.

Source distribution 'scanner': the clean 8x8 scans. Target distribution 'phone':
the same kind of digits photographed by a phone: every photo is somewhat out of focus
(a Gaussian blur), and on top of that some are grainy, turned or faint. train mixes
both (one in ten is a phone photo); train_dev is held out from train's mix; dev and test
are 'phone' only, so the first thing the measured characteristics find is that dev is
much blurrier than train. A fraction of dev/test labels is flipped on purpose. A
logistic-regression model trained on train predicts every split.

Writes OUT/predictions.csv, OUT/images/*.png, OUT/truth.json (private answers),
and OUT/dump.zip (predictions.csv + images/). The same arguments always give the same
bytes (seeded, and the zip's members carry a fixed date):

    python mlstrat/demo/make_digits_dump.py /tmp/d1 7 0.5   # run1-logreg-c0.5.zip
    python mlstrat/demo/make_digits_dump.py /tmp/d2 7 5     # run2-logreg-c5.zip

(needs scikit-learn, numpy and Pillow: a generator, not a dependency of the app).
"""

import csv
import json
import random
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1] if len(sys.argv) > 1 else "digits_dump")
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
model_c = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5  # second run: another C
rng = random.Random(seed)
nrng = np.random.default_rng(seed)
(out / "images").mkdir(parents=True, exist_ok=True)

digits = load_digits()
X, y = digits.images, digits.target
n = len(y)
order = list(range(n))
rng.shuffle(order)


def to_img(a):
    return Image.fromarray((a / 16.0 * 255).astype("uint8")).resize((32, 32), Image.NEAREST)


def degrade(img, kind):
    if kind == "clean":
        return img
    # Every phone photo is out of focus; "blurry" ones are nothing else.
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.6)))
    if kind == "noisy":
        a = np.asarray(img).astype(float) + nrng.normal(0, 12, (32, 32))
        return Image.fromarray(np.clip(a, 0, 255).astype("uint8"))
    if kind == "rotated":
        return img.rotate(rng.choice([-35, 35, 180]), fillcolor=0)
    if kind == "faint":
        a = np.asarray(img).astype(float) * 0.25 + 40
        return Image.fromarray(np.clip(a, 0, 255).astype("uint8"))
    return img


rows, truth = [], {}
feats, labels_true = [], []
for k, i in enumerate(order):
    frac = k / n
    if frac < 0.55:
        split, source = "train", ("phone" if rng.random() < 0.1 else "scanner")
    elif frac < 0.65:
        split, source = "train_dev", ("phone" if rng.random() < 0.1 else "scanner")
    elif frac < 0.83:
        split, source = "dev", "phone"
    else:
        split, source = "test", "phone"
    kind = (
        rng.choice(["blurry", "blurry", "noisy", "rotated", "faint"])
        if source == "phone"
        else "clean"
    )
    img = degrade(to_img(X[i]), kind)
    eid = f"d{i:04d}"
    img.save(out / "images" / f"{eid}.png")
    label = int(y[i])
    flipped = False
    if split in ("dev", "test") and rng.random() < 0.04:
        label = rng.choice([c for c in range(10) if c != y[i]])
        flipped = True
    feats.append(np.asarray(img.resize((16, 16))).astype(float).ravel() / 255.0)
    rows.append(
        dict(
            example_id=eid,
            image=f"images/{eid}.png",
            label=str(label),
            split=split,
            source=source,
            distortion=kind,
        )
    )
    truth[eid] = dict(
        true_class=int(y[i]),
        given_label=label,
        flipped=flipped,
        kind=kind,
        split=split,
        source=source,
    )

F = np.stack(feats)
train_idx = [j for j, r in enumerate(rows) if r["split"] == "train"]
clf = LogisticRegression(max_iter=2000, C=model_c)
clf.fit(F[train_idx], [int(rows[j]["label"]) for j in train_idx])
P = clf.predict_proba(F)
for j, r in enumerate(rows):
    p = P[j]
    pred = int(np.argmax(p))
    r["prediction"] = str(pred)
    r["confidence"] = f"{p[pred]:.6f}"
    for c in range(10):
        r[f"prob_{c}"] = f"{p[c]:.6f}"
    truth[r["example_id"]]["prediction"] = pred

cols = (
    ["example_id", "image", "label", "prediction", "split", "source", "confidence"]
    + [f"prob_{c}" for c in range(10)]
    + ["distortion"]
)
with open(out / "predictions.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
(out / "truth.json").write_text(json.dumps(truth))
FIXED_DATE = (2026, 11, 24, 12, 0, 0)  # members carry a fixed date: same bytes every time


def add(z, path, name):
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, path.read_bytes())


with zipfile.ZipFile(out / "dump.zip", "w", zipfile.ZIP_DEFLATED) as z:
    add(z, out / "predictions.csv", "predictions.csv")
    for r in rows:
        add(z, out / r["image"], r["image"])


def err(split):
    rs = [r for r in rows if r["split"] == split]
    return sum(r["label"] != r["prediction"] for r in rs) / len(rs), len(rs)


for s in ("train", "train_dev", "dev", "test"):
    e, m = err(s)
    print(f"{s:9s} n={m:4d} error={e:.4f}")
dev_err = [r for r in rows if r["split"] == "dev" and r["label"] != r["prediction"]]
print(
    "dev errors:",
    len(dev_err),
    "flipped among them:",
    sum(truth[r["example_id"]]["flipped"] for r in dev_err),
)
