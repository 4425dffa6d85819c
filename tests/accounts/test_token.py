from tests.factories import UserFactory


def test_it_issues_a_token_that_authenticates_scripts(api, db):
    UserFactory(username="script", password="s3cret-pass")
    response = api.post("/api/v1/token/", {"username": "script", "password": "s3cret-pass"})
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/projects/").status_code == 200


def test_it_refuses_a_wrong_password(api, db):
    UserFactory(username="script", password="s3cret-pass")
    response = api.post("/api/v1/token/", {"username": "script", "password": "nope"})
    assert response.status_code == 400
