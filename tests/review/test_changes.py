from mlstrat.review.services import category_create, comment_add, review_create, tag_clear, tag_set


def test_a_poller_sees_teammates_ticks_comments_and_new_categories(
    api, alice, bob, carol, run, errors, blurry, dataset
):
    review = review_create(run=run, created_by=alice, name="x", sample_size=None, seed=1)
    api.force_authenticate(bob)
    url = f"/api/v1/runs/{run.pk}/changes/?review={review.pk}"
    start = api.get(f"{url}&since=0&comments_since=0").json()
    example = errors[0].example
    tag_set(run=run, example=example, category=blurry, user=carol, review=review)
    tag_set(run=run, example=example, category=blurry, user=carol)  # no change, no event sent
    tag_clear(run=run, example=errors[1].example, category=blurry, user=carol)  # no change
    comment_add(run=run, example=example, user=carol, text="see the corner", review=review)
    category_create(dataset=dataset, name="Glare", key="g", created_by=alice)
    data = api.get(f"{url}&since={start['since']}&comments_since={start['comments_since']}").json()
    assert [(e["example"], e["user"], e["action"]) for e in data["events"]] == [
        (example.pk, carol.pk, "set")
    ]
    assert [c["text"] for c in data["comments"]] == ["see the corner"]
    assert "Glare" in [c["name"] for c in data["categories"]]
    blurry_row = next(c for c in data["footer"]["categories"] if c["id"] == blurry.pk)
    assert (blurry_row["k"], blurry_row["n"]) == (1, 1)
    assert data["progress"]["reviewed"] == 1
    assert data["marks"] == [{"example": example.pk, "user": carol.pk, "reviewed": True}]
    assert data["since"] > start["since"]


def test_bad_cursors_are_400(api, carol, run):
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/runs/{run.pk}/changes/?since=abc").status_code == 400
    assert api.get(f"/api/v1/runs/{run.pk}/changes/?split=nope").status_code == 400


def test_outsiders_get_404(api, mallory, run):
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/runs/{run.pk}/changes/").status_code == 404
