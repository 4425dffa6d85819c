from mlstrat.accounts.models import ApiToken

from .conftest import login, screenshot


def test_a_token_is_made_shown_once_and_revoked(page, live_server, carol, project):
    login(page, live_server, carol)
    page.click("a.api-tokens")
    page.wait_for_url("**/account/tokens/")
    page.fill("input[name=name]", "laptop push")
    page.click("button:has-text('Create token')")
    secret = page.locator("#token-secret").inner_text()
    assert secret.startswith("mls_")
    screenshot(page, "api-token-created")

    page.goto(f"{live_server.url}/account/tokens/")
    assert page.locator("#token-secret").count() == 0
    assert secret not in page.content()
    row = page.locator("#tokens tr", has_text="laptop push")
    assert "active" in row.inner_text()

    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=no longer works")
    assert page.locator("#no-tokens").is_visible()
    assert ApiToken.objects.get(user=carol).revoked_at is not None
