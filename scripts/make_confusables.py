"""Write mlstrat/confusables.json, the character -> prototype map that mlstrat.names.skeleton
uses (Unicode TR39 confusables), from the confusable-homoglyphs package pinned in the test
extras (MIT; its data is Unicode's confusables.txt, under the Unicode licence).

    python scripts/make_confusables.py

The package stores each confusables.txt line `source ; prototype` both ways: a source lists
its one prototype, a prototype lists all its sources. A pair where each lists only the other
cannot be told apart; the smaller of the two stands for both, which keeps skeletons equal.
"""

import json
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "mlstrat" / "confusables.json"
MARKS = "\u200e\u200f"  # the package wraps right-to-left letters in direction marks


def _clean(text: str) -> str:
    return "".join(c for c in text if c not in MARKS)


def build() -> dict[str, str]:
    source = resources.files("confusable_homoglyphs") / "confusables.json"
    data = {
        _clean(k): [_clean(e["c"]) for e in v] for k, v in json.loads(source.read_text()).items()
    }
    mapping = {}
    for char, targets in data.items():
        if len(char) != 1 or len(targets) != 1:
            continue  # a prototype of several sources maps to itself
        target = targets[0]
        if len(target) == 1 and data.get(target) == [char]:
            target = min(char, target)
        if target != char:
            mapping[char] = target
    return dict(sorted(mapping.items()))


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}")
