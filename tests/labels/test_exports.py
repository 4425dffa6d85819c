import csv
import io
import json

from mlstrat.labels.exports import neutralise
from mlstrat.labels.services import correction_accept, correction_propose
from tests.factories import ExampleFactory


def _body(response):
    return b"".join(response.streaming_content).decode()


def test_labels_in_force_export_as_csv(api, bob, carol, example, proposal, dataset):
    ExampleFactory(dataset=dataset, example_id="=HYPERLINK(1)", label="bird")
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/label-exports/{dataset.pk}/labels.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert rows[0]["example_id"] == "img-001"
    assert (rows[0]["original_label"], rows[0]["label"]) == ("cat", "dog")
    assert rows[0]["last_changed_at"]
    assert rows[1]["example_id"] == "'=HYPERLINK(1)"


def test_the_change_log_exports_as_json(api, bob, carol, proposal, dataset):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/label-exports/{dataset.pk}/changes.json")
    records = json.loads(_body(response))
    assert [
        (r["example_id"], r["from_label"], r["to_label"], r["changed_by"]) for r in records
    ] == [("img-001", "cat", "dog", "bob")]


def test_an_outsider_cannot_export(api, mallory, dataset):
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/label-exports/{dataset.pk}/labels.csv").status_code == 404


def test_formula_cells_are_neutralised():
    assert [neutralise(v) for v in ["=1+1", "+a", "-2", "@x", "\tx", "\rx", "cat", None]] == [
        "'=1+1",
        "'+a",
        "'-2",
        "'@x",
        "'\tx",
        "'\rx",
        "cat",
        "",
    ]


def test_a_person_proposes_again_after_an_export(carol, example):
    # Exports never lock or change anything: proposing still works afterwards.
    assert correction_propose(example=example, proposed_label="bird", proposed_by=carol).pk
