"""mlstrat.names: normalising names, refusing invisible characters, confusable skeletons
(Unicode TR39) and caps on free text."""

import importlib.util
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from mlstrat import names


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Dog", "Dog"),
        ("  Blurry   image ", "Blurry image"),
        ("ｆｕｌｌ ｗｉｄｔｈ", "full width"),  # NFKC folds compatibility forms
        ("ﬁne", "fine"),
        ("Ⅸ", "IX"),
        ("Café", "Café"),
        ("Dog\u2028cat\tand\r\nbird", "Dog cat and bird"),  # line breaks become spaces
    ],
)
def test_names_are_nfkc_with_single_spaces(typed, stored):
    assert names.normalise_name(typed) == stored


@pytest.mark.parametrize(
    "name",
    [
        "Do\u200bg",  # zero-width space
        "Do\u200dg",  # zero-width joiner
        "\u202eGod",  # right-to-left override
        "Dog\u2066",  # left-to-right isolate
        "Dog\u200f",  # right-to-left mark
        "Do\x00g",
        "Do\x1bg",
        "\ue000Dog",  # private use
        "Do\u00adg",  # soft hyphen
    ],
)
def test_invisible_and_control_characters_are_refused(name):
    with pytest.raises(ValidationError) as caught:
        names.normalise_name(name)
    assert "invisible or control characters (U+" in caught.value.message_dict["name"][0]


@pytest.mark.parametrize("name", ["", "   ", None, 5])
def test_empty_or_non_text_names_are_refused(name):
    with pytest.raises(ValidationError):
        names.normalise_name(name)


def test_a_long_name_is_refused():
    with pytest.raises(ValidationError, match="At most 10 characters"):
        names.normalise_name("x" * 11, max_length=10)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Dog", "D\u043eg"),  # Cyrillic о
        ("cat", "c\u0430t"),  # Cyrillic а
        ("Dog", "dog"),
        ("Blurry image", "Blurry  image"),
        ("modem", "rnodern"),  # TR39: m looks like rn
        ("l1", "Il"),
        ("O0", "00"),
        ("Dog", "\uff24og"),  # fullwidth D
        ("Dog", "\U0001d403og"),  # mathematical bold D
    ],
)
def test_look_alike_names_share_a_key(a, b):
    assert names.name_key(a) == names.name_key(b)


@pytest.mark.parametrize(("a", "b"), [("Dog", "Dig"), ("cat", "car"), ("a", "á"), ("1", "2")])
def test_distinct_names_have_distinct_keys(a, b):
    assert names.name_key(a) != names.name_key(b)


def test_skeleton_maps_cyrillic_a_to_latin_a():
    assert names.skeleton("\u0430") == "a"


def test_refuse_look_alike_names_the_existing_one():
    with pytest.raises(ValidationError) as caught:
        names.refuse_look_alike("D\u043eg", existing=["Cat", "Dog"], what="category")
    assert caught.value.message_dict["name"] == [
        "“D\u043eg” looks like the existing category “Dog”."
    ]
    names.refuse_look_alike("Bird", existing=["Cat", "Dog"], what="category")


def test_free_text_is_capped_and_refuses_control_characters():
    assert names.clean_text("two\nlines\tand a tab", field="notes") == "two\nlines\tand a tab"
    assert names.clean_text(None, field="notes") == ""
    with pytest.raises(ValidationError, match="At most 10,000 characters"):
        names.clean_text("x" * 10_001, field="notes")
    with pytest.raises(ValidationError, match="control characters"):
        names.clean_text("a\x00b", field="notes")


def test_the_vendored_confusables_match_the_pinned_package():
    """mlstrat/confusables.json is what scripts/make_confusables.py makes from the pinned
    confusable-homoglyphs (skipped where the test extras are not installed)."""
    pytest.importorskip("confusable_homoglyphs")
    script = Path(__file__).resolve().parent.parent / "scripts" / "make_confusables.py"
    spec = importlib.util.spec_from_file_location("make_confusables", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    vendored = json.loads(names.CONFUSABLES_FILE.read_text(encoding="utf-8"))
    assert vendored == module.build()
