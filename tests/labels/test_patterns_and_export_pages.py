import csv
import io

from django.urls import reverse

from mlstrat.labels.services import correction_accept


def test_patterns_group_corrections_by_pair(as_user, bob, carol, proposal):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    body = as_user(carol).get(reverse("label-patterns", args=["cat-app"])).content.decode()
    assert "random</strong> label errors matter little" in body
    assert '<td>cat</td><td><strong>dog</strong></td><td class="num">1</td>' in body


def test_a_member_downloads_the_labels_in_force(as_user, bob, carol, dataset, proposal):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    url = reverse("label-export-labels-csv", args=["cat-app", dataset.pk])
    response = as_user(carol).get(url)
    assert response["Content-Disposition"] == 'attachment; filename="pets-labels.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["example_id"], r["label"]) for r in rows] == [("img-001", "dog")]


def test_exports_of_another_projects_dataset_are_not_found(as_user, mallory, dataset):
    url = reverse("label-export-changes-json", args=["other-team", dataset.pk])
    assert as_user(mallory).get(url).status_code == 404
