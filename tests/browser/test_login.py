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
