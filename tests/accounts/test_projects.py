from mlstrat.accounts.models import Membership, Role


def test_it_lists_only_my_projects(as_user, alice, other_project, project):
    response = as_user(alice).get("/")
    assert response.status_code == 200
    assert b"Cat app" in response.content
    assert b"Other team" not in response.content


def test_it_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_creates_a_project_with_me_as_admin(as_user, alice):
    response = as_user(alice).post("/", {"name": "Dog detector"})
    assert response.status_code == 302
    membership = Membership.objects.get(project__name="Dog detector")
    assert membership.user == alice and membership.role == Role.ADMIN


def test_outsider_gets_404_on_project_home(as_user, mallory, project):
    assert as_user(mallory).get(f"/p/{project.slug}/").status_code == 404


def test_member_sees_project_home_with_empty_state(as_user, carol, project):
    response = as_user(carol).get(f"/p/{project.slug}/")
    assert response.status_code == 200
    assert b"No datasets yet" in response.content


def test_api_lists_only_my_projects_with_my_role(api, bob, other_project):
    api.force_authenticate(bob)
    response = api.get("/api/v1/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["role"]) for p in response.json()["results"]] == [("cat-app", "lead")]


def test_api_hides_other_projects(api, mallory, project):
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/projects/{project.slug}/").status_code == 404
    assert api.get(f"/api/v1/projects/{project.slug}/members/").status_code == 404


def test_api_rejects_anonymous(api, project):
    assert api.get("/api/v1/projects/").status_code == 401


def test_project_home_lists_datasets_runs_and_human_level_error(as_user, carol, project):
    from tests.factories import DatasetFactory, RunFactory

    dataset = DatasetFactory(project=project, name="digits", human_level_error=0.005)
    RunFactory(dataset=dataset, name="logreg-c0.5")
    content = as_user(carol).get(f"/p/{project.slug}/").content.decode()
    assert "digits" in content and "logreg-c0.5" in content
    assert "human-level error 0.5%" in content
