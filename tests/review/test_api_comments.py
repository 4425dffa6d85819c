from mlstrat.review.models import Comment


def test_an_annotator_comments_on_an_example(api, carol, run, errors):
    api.force_authenticate(carol)
    example = errors[0].example
    response = api.post(
        f"/api/v1/runs/{run.pk}/comments/",
        {"example": example.pk, "text": " thin stroke "},
        format="json",
    )
    assert response.status_code == 201
    assert Comment.objects.get().text == "thin stroke"
    listed = api.get(f"/api/v1/runs/{run.pk}/comments/?example={example.pk}").json()
    assert [c["username"] for c in listed] == ["carol"]


def test_an_empty_comment_is_refused(api, carol, run, errors):
    api.force_authenticate(carol)
    response = api.post(
        f"/api/v1/runs/{run.pk}/comments/",
        {"example": errors[0].example.pk, "text": " "},
        format="json",
    )
    assert response.status_code == 400


def test_only_the_author_edits_or_deletes(api, bob, carol, run, errors):
    comment = Comment.objects.create(run=run, example=errors[0].example, user=carol, text="hi")
    url = f"/api/v1/runs/{run.pk}/comments/{comment.pk}/"
    api.force_authenticate(bob)
    assert api.patch(url, {"text": "bob was here"}, format="json").status_code == 403
    assert api.delete(url).status_code == 403
    api.force_authenticate(carol)
    assert api.patch(url, {"text": "edited"}, format="json").json()["text"] == "edited"
    assert api.delete(url).status_code == 204
    assert not Comment.objects.exists()


def test_outsiders_get_404(api, mallory, carol, run, errors):
    comment = Comment.objects.create(run=run, example=errors[0].example, user=carol, text="hi")
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/runs/{run.pk}/comments/").status_code == 404
    assert (
        api.post(
            f"/api/v1/runs/{run.pk}/comments/",
            {"example": errors[0].example.pk, "text": "x"},
            format="json",
        ).status_code
        == 404
    )
    assert api.delete(f"/api/v1/runs/{run.pk}/comments/{comment.pk}/").status_code == 404
