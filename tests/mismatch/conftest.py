import shutil

import pytest

from tests.imports.conftest import digits_zip, run_import  # noqa: F401


@pytest.fixture(autouse=True)
def _clean_media(settings):
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
