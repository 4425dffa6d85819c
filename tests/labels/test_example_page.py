from django.urls import reverse

from mlstrat.labels.models import LabelChange
from mlstrat.labels.services import correction_accept


def test_an_annotator_proposes_from_the_example_page(as_user, carol, example):
    client = as_user(carol)
    page = client.get(reverse("label-example", args=["cat-app", example.pk]))
    assert "Propose another label" in page.content.decode()
    response = client.post(
        reverse("label-example-propose", args=["cat-app", example.pk]),
        {"label": "bird", "reason": "feathers"},
        follow=True,
    )
    assert "a lead reviews it" in response.content.decode()
    assert example.corrections.get().proposed_label == "bird"


def test_a_bad_proposal_is_explained(as_user, carol, example):
    response = as_user(carol).post(
        reverse("label-example-propose", args=["cat-app", example.pk]),
        {"label": "cat"},
        follow=True,
    )
    assert "already the label in force" in response.content.decode()


def test_the_history_shows_changes_and_a_lead_reverts(as_user, bob, example, proposal):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    change = LabelChange.objects.get()
    client = as_user(bob)
    body = client.get(reverse("label-example", args=["cat-app", example.pk])).content.decode()
    assert "Label history" in body and "Clearly a puppy" in body and "Revert" in body
    response = client.post(
        reverse("label-change-revert", args=["cat-app", change.pk]), {"reason": "no"}, follow=True
    )
    assert "is “cat” again" in response.content.decode()
    example.refresh_from_db()
    assert example.label == "cat"


def test_an_annotator_cannot_revert(as_user, carol, bob, proposal):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    change = LabelChange.objects.get()
    url = reverse("label-change-revert", args=["cat-app", change.pk])
    assert as_user(carol).post(url).status_code == 403


def test_the_example_page_shows_the_label_score(as_user, carol, example, runs):
    runs[1].has_probabilities = True
    runs[1].save()
    body = (
        as_user(carol).get(reverse("label-example", args=["cat-app", example.pk])).content.decode()
    )
    assert "self-confidence <strong>0.600</strong>" in body


def test_confirming_a_label_counts_as_a_check(as_user, carol, example):
    as_user(carol).post(reverse("label-example-confirm", args=["cat-app", example.pk]))
    assert example.label_checks.get().checked_by == carol


def test_an_example_of_another_project_is_not_found(as_user, mallory, example):
    url = reverse("label-example", args=["other-team", example.pk])
    assert as_user(mallory).get(url).status_code == 404


def test_a_lead_decides_from_the_example_page(as_user, bob, example, proposal):
    client = as_user(bob)
    page = reverse("label-example", args=["cat-app", example.pk])
    assert "Accept “dog”" in client.get(page).content.decode()
    response = client.post(
        reverse("label-correction-decide", args=["cat-app", proposal.pk]),
        {"decision": "accept", "expected_version": 0, "back": page},
    )
    assert response["Location"] == page
    example.refresh_from_db()
    assert example.label == "dog"
