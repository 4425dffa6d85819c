"""StoredReader reads stored ranges as read_stored does, opening each pack once."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from mlstrat.datasets.images import StoredReader, read_stored


@pytest.fixture
def packs(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    names = []
    for n in range(3):
        data = bytes(range(256)) * (n + 1)
        names.append(default_storage.save(f"packs/test/{n}.pack", ContentFile(data)))
    return names


def test_it_reads_the_same_bytes_as_read_stored_across_packs(packs, monkeypatch):
    monkeypatch.setattr(StoredReader, "MAX_OPEN", 2)  # packs are closed and opened again
    ranges = [(name, offset, size) for name in packs for offset, size in [(0, 5), (250, 6)]]
    ranges.append((packs[0], 10, 1))
    with StoredReader() as stored:
        for name, offset, size in ranges:
            assert stored.read(name, offset, size) == read_stored(name, offset, size)
        assert stored.read(packs[1]) == read_stored(packs[1])  # a whole file
    assert stored._handles == {}


def test_a_range_past_the_end_or_a_lost_pack_is_not_found(packs):
    with StoredReader() as stored:
        with pytest.raises(FileNotFoundError):
            stored.read(packs[0], 250, 10)
        with pytest.raises(FileNotFoundError):
            stored.read("packs/test/gone.pack", 0, 4)
