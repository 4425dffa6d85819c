"""When data mismatch is the largest gap, the dashboard's remedy links to the tools."""

from mlstrat.analytics.services import snapshot_compute
from mlstrat.mismatch import services

from .builders import make_dataset


def test_the_remedy_names_the_largest_difference_and_links_to_the_tools(as_user, bob, project):
    dataset, run = make_dataset(project)
    services.recipe_create(
        dataset=dataset,
        created_by=bob,
        name="blurry",
        transforms=[{"name": "GaussianBlur", "params": {"sigma": [1, 2]}}],
        count=5,
    )
    snapshot_compute(run=run)
    page = as_user(bob).get(f"/p/cat-app/runs/{run.pk}/dashboard/").content.decode()
    remedy = page[page.index('id="mismatch-remedy"') :]
    remedy = remedy[: remedy.index("</ul>")]
    assert f"/p/cat-app/datasets/{dataset.pk}/mismatch/" in remedy
    assert "dev is much blurrier than train" in remedy
    assert "1 recipe, 0 dumps written" in remedy
