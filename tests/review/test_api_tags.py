from mlstrat.labels.models import LabelCorrection
from mlstrat.review.models import Tag, TagEvent


def post(api, run, body):
    return api.post(f"/api/v1/runs/{run.pk}/tags/", body, format="json")


def test_an_annotator_sets_and_clears_a_tick(api, carol, run, errors, blurry):
    api.force_authenticate(carol)
    example = errors[0].example
    body = {"action": "set", "category": blurry.pk, "example": example.pk}
    response = post(api, run, body)
    assert response.status_code == 200
    assert response.json()["changed"] == {str(example.pk): True}
    assert post(api, run, body).json()["changed"] == {str(example.pk): False}
    post(api, run, {**body, "action": "clear"})
    assert not Tag.objects.exists()
    assert TagEvent.objects.count() == 3


def test_put_and_delete_are_idempotent(api, carol, run, errors, blurry):
    api.force_authenticate(carol)
    url = f"/api/v1/runs/{run.pk}/examples/{errors[0].example.pk}/tags/{blurry.pk}/"
    assert api.put(url).json() == {"ticked": True, "changed": True}
    assert api.put(url).json() == {"ticked": True, "changed": False}
    assert api.delete(url).json() == {"ticked": False, "changed": True}
    assert api.delete(url).json() == {"ticked": False, "changed": False}


def test_bulk_is_one_request(api, carol, run, errors, blurry, django_assert_max_num_queries):
    api.force_authenticate(carol)
    ids = [p.example.pk for p in errors]
    response = post(api, run, {"action": "set", "category": blurry.pk, "examples": ids})
    assert response.status_code == 200
    assert Tag.objects.filter(user=carol).count() == len(ids)


def test_bad_ticks_are_400_with_a_reason(api, carol, run, errors, blurry):
    api.force_authenticate(carol)
    example = errors[0].example.pk
    assert (
        post(api, run, {"action": "flip", "category": blurry.pk, "example": example}).status_code
        == 400
    )
    assert post(api, run, {"action": "set", "category": "x", "example": example}).status_code == 400
    assert (
        post(api, run, {"action": "set", "category": blurry.pk, "examples": []}).status_code == 400
    )
    response = post(api, run, {"action": "set", "category": blurry.pk, "example": 99999})
    assert response.status_code == 400


def test_incorrect_label_through_the_api(api, carol, run, errors, incorrect):
    api.force_authenticate(carol)
    example = errors[0].example
    body = {"action": "set", "category": incorrect.pk, "example": example.pk}
    response = post(api, run, body)
    assert response.status_code == 400 and "label" in response.json()["detail"]
    response = post(api, run, {**body, "proposed_label": "cat"})
    assert response.status_code == 400 and "already the label" in response.json()["detail"]
    assert post(api, run, {**body, "proposed_label": "bird"}).status_code == 200
    assert LabelCorrection.objects.get().proposed_label == "bird"


def test_outsider_cannot_tick(api, mallory, run, errors, blurry):
    api.force_authenticate(mallory)
    body = {"action": "set", "category": blurry.pk, "example": errors[0].example.pk}
    assert post(api, run, body).status_code == 404
    url = f"/api/v1/runs/{run.pk}/examples/{errors[0].example.pk}/tags/{blurry.pk}/"
    assert api.put(url).status_code == 404
    assert not Tag.objects.exists()


def test_anonymous_cannot_tick(api, run, errors, blurry):
    body = {"action": "set", "category": blurry.pk, "example": errors[0].example.pk}
    assert post(api, run, body).status_code in (401, 403)
