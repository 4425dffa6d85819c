import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from tests.factories import DatasetFactory, ExampleFactory


def png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_it_serves_an_image_to_members_with_a_sniffed_type(as_user, carol, project):
    name = default_storage.save("datasets/t/looks.html", ContentFile(png_bytes()))
    example = ExampleFactory(dataset=DatasetFactory(project=project), image=name)
    response = as_user(carol).get(f"/examples/{example.pk}/image/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_html_stored_as_png_is_never_served_as_html(as_user, carol, project):
    name = default_storage.save("datasets/t/evil.png", ContentFile(b"<script>alert(1)</script>"))
    example = ExampleFactory(dataset=DatasetFactory(project=project), image=name)
    response = as_user(carol).get(f"/examples/{example.pk}/image/")
    assert response["Content-Type"] == "application/octet-stream"


def test_outsider_gets_404(as_user, mallory, project):
    example = ExampleFactory(dataset=DatasetFactory(project=project))
    assert as_user(mallory).get(f"/examples/{example.pk}/image/").status_code == 404
