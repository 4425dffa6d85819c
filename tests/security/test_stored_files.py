"""Stored files are served with our own sniffed type, never the name's (Label Studio
CVE-2023-47115 / CVE-2024-23633, CVAT CVE-2026-23516), never through
`django.views.static.serve` in production (CVAT GHSA-3g7v-xjh7-xmqx); and nothing in
mlstrat fetches a URL, so no user input can make the server request one (SSRF)."""

import ast
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from tests.factories import DatasetFactory, ExampleFactory

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k8Jq2xZ-pV7mN3bW9cR1tY6uE4oA0sD5fG8hL2jK7nM9qP3vX1zC6bT4yU0iO5wE"
SVG = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(document.cookie)</script></svg>"
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"


def png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def stored(project):
    def _store(name, content, kind="image"):
        saved = default_storage.save(f"datasets/t/{name}", ContentFile(content))
        fields = {"image": saved} if kind == "image" else {"thumbnail": saved}
        return ExampleFactory(dataset=DatasetFactory(project=project), **fields)

    return _store


def assert_cannot_run(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert "html" not in response["Content-Type"] and "svg" not in response["Content-Type"]


@pytest.mark.parametrize(
    ("name", "content", "served_as"),
    [
        ("real.svg", png_bytes(), "image/png"),
        ("real.html", png_bytes(), "image/png"),
        ("evil.svg", SVG, "application/octet-stream"),
        ("evil.html", HTML, "application/octet-stream"),
        ("evil.png", SVG, "application/octet-stream"),
        ("evil.png", HTML, "application/octet-stream"),
    ],
)
@pytest.mark.parametrize("kind", ["image", "thumbnail"])
def test_a_stored_file_is_served_with_the_type_we_sniffed(
    as_user, carol, stored, name, content, served_as, kind
):
    example = stored(name, content, kind)
    response = as_user(carol).get(f"/examples/{example.pk}/{kind}/")
    assert response.status_code == 200
    assert response["Content-Type"] == served_as
    assert_cannot_run(response)


def test_production_never_serves_files_through_static_serve():
    walker = (
        "import django; django.setup()\n"
        "from django.urls import URLPattern, URLResolver, get_resolver\n"
        "def walk(patterns):\n"
        "    for p in patterns:\n"
        "        if isinstance(p, URLResolver):\n"
        "            yield from walk(p.url_patterns)\n"
        "        elif isinstance(p, URLPattern):\n"
        "            cb = p.callback\n"
        "            yield f'{cb.__module__}.{getattr(cb, \"__name__\", cb)}'\n"
        "names = list(walk(get_resolver().url_patterns))\n"
        "print(len(names))\n"
        "print('\\n'.join(n for n in names if n.endswith('.serve') or 'static' in n))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlstrat.settings.production",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "mlstrat.example.com",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", walker], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    count, *serving = result.stdout.strip().split("\n")
    assert int(count) > 50  # the walk saw the real URL conf
    assert [line for line in serving if line] == []


# Modules allowed to open network connections: the client that pushes dumps to a server
# from a person's own machine (mlstrat.client, used by the `mlstrat push` command line);
# neither ever runs inside the web app.
NETWORK_ALLOWED = {"mlstrat/cli.py", "mlstrat/client.py"}
NETWORK_MODULES = {"requests", "urllib.request", "http.client", "httpx", "socket", "urllib3"}


def _network_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if any(name == m or name.startswith(m + ".") for m in NETWORK_MODULES):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    return found


def test_no_server_module_can_fetch_a_url():
    found = []
    for path in sorted((ROOT / "mlstrat").rglob("*.py")):
        if str(path.relative_to(ROOT)) not in NETWORK_ALLOWED:
            found += _network_imports(path)
    assert found == []


def test_the_network_check_sees_the_push_client():
    assert _network_imports(ROOT / "mlstrat" / "client.py")
