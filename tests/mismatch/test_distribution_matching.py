"""Blur drawn to match dev's sharpness: the synthesized histogram lands on dev's."""

import numpy as np
from PIL import Image, ImageFilter

from mlstrat.mismatch import matching, stats
from mlstrat.mismatch.characteristics import measure_image
from mlstrat.mismatch.synthesis import calibrate, source_position, synthesize
from mlstrat.mismatch.transforms import clean_transforms

# The promise (docs/mismatch.md): matched outputs are within this KS distance of dev.
MATCHED_KS = 0.15


def digit_like(rng):
    """An 8x8 blocky glyph scaled to 32x32, like the demo's scanned digits."""
    cells = (rng.random((8, 8)) < 0.35) * rng.integers(150, 256, (8, 8))
    return Image.fromarray(cells.astype(np.uint8), "L").resize((32, 32), Image.NEAREST)


def sharpness(images):
    return [measure_image(image)["sharpness"] for image in images]


def plan_for(transforms, train, dev_values, seed=11):
    transforms = clean_transforms(transforms)
    targets = {"sharpness": matching.target_quantiles(dev_values)}
    calibration = train[:16]
    fitted = calibrate(transforms=transforms, images=calibration, targets=targets, seed=seed)
    return {"seed": seed, "transforms": transforms, "matching": fitted, "overlays": []}


def synthesize_all(plan, train, count):
    outputs = []
    for index in range(count):
        position = source_position(seed=plan["seed"], pool_size=len(train), index=index)
        image, _ = synthesize(plan=plan, index=index, source=train[position])
        outputs.append(image)
    return outputs


def test_matched_blur_reproduces_devs_sharpness_distribution():
    rng = np.random.default_rng(5)
    train = [digit_like(rng) for _ in range(150)]
    dev = [
        digit_like(rng).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.7, 2.5))))
        for _ in range(150)
    ]
    dev_values = sharpness(dev)
    before = stats.ks_statistic(sharpness(train), dev_values)
    assert before > 0.9  # train is far sharper than dev

    plan = plan_for([{"name": "GaussianBlur", "params": {"sigma": "match"}}], train, dev_values)
    matched = sharpness(synthesize_all(plan, train, 300))
    assert stats.ks_statistic(matched, dev_values) <= MATCHED_KS

    # A fixed blur misses it: matching is what makes the difference.
    fixed = plan_for([{"name": "GaussianBlur", "params": {"sigma": 0.5}}], train, dev_values)
    assert stats.ks_statistic(sharpness(synthesize_all(fixed, train, 300)), dev_values) > 0.5


def test_the_same_index_gives_the_same_image_and_record():
    rng = np.random.default_rng(1)
    train = [digit_like(rng) for _ in range(20)]
    plan = {
        "seed": 3,
        "transforms": clean_transforms(
            [
                {"name": "GaussNoise", "params": {"std_range": [0.05, 0.2]}},
                {"name": "Rotate", "params": {"limit": [-20, 20]}, "p": 0.5},
            ]
        ),
        "matching": {},
        "overlays": [],
    }
    first = synthesize(plan=plan, index=7, source=train[0])
    again = synthesize(plan=plan, index=7, source=train[0])
    other = synthesize(plan=plan, index=8, source=train[0])
    assert first[1] == again[1] and first[0].tobytes() == again[0].tobytes()
    assert first[1] != other[1]
    assert [step["name"] for step in first[1]] == ["GaussNoise", "Rotate"]
    assert 0.05 <= first[1][0]["params"]["std"] <= 0.2
