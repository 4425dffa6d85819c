from .conftest import login, screenshot


def test_a_member_logs_in_and_sees_their_project(page, live_server, alice, project):
    login(page, live_server, alice)
    page.click("text=Cat app")
    page.wait_for_selector("h1:has-text('Cat app')")
    assert page.is_visible("text=No datasets yet")
    screenshot(page, "project-home-empty")


def test_a_wrong_password_is_explained(page, live_server, alice):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong")
    page.click("button:has-text('Log in')")
    assert page.is_visible("text=did not match")


def test_the_login_form_has_a_submit_button(page, live_server, alice):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "password")
    button = page.locator("form button[type=submit]")
    assert button.inner_text() == "Log in"
    button.click()
    page.wait_for_selector("a.api-docs")


def test_every_page_links_the_api_docs(page, live_server, alice, project):
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.click("a.api-docs")
    page.wait_for_url("**/api/v1/docs/")
    page.wait_for_selector("#swagger-ui")
