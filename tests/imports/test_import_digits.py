from mlstrat.datasets.images import image_bytes
from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus
from mlstrat.imports.models import JobStatus


def error_rate(run, split):
    predictions = Prediction.objects.filter(run=run, split=split)
    return predictions.filter(is_error=True).count() / predictions.count()


def test_the_digits_dump_imports_with_its_error_rates(run_import, digits_zip):
    job = run_import(digits_zip, dataset="digits", run="logreg-c0.5")
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.errors)
    run = ModelRun.objects.get(status=RunStatus.READY)
    assert Example.objects.filter(dataset=run.dataset).count() == 1797
    assert run.predictions.count() == 1797
    assert run.has_probabilities
    assert run.dataset.class_names == [str(d) for d in range(10)]
    assert abs(error_rate(run, "train") - 0.019) < 0.005
    assert abs(error_rate(run, "train_dev") - 0.039) < 0.01
    assert abs(error_rate(run, "dev") - 0.22) < 0.02
    assert abs(error_rate(run, "test") - 0.25) < 0.02
    assert job.rows_written == 1797
    assert job.thumbnails_done == job.thumbnails_total == 1797


def test_examples_keep_source_metadata_and_probabilities(run_import, digits_zip):
    run_import(digits_zip, dataset="digits", run="logreg-c0.5")
    example = Example.objects.get(example_id="d0671")
    assert example.source == "scanner"
    assert example.metadata == {"distortion": "clean"}
    # An 8x8 digit is its own thumbnail: the same bytes of the same pack.
    assert (example.thumbnail.name, example.thumbnail_offset, example.thumbnail_size) == (
        example.image.name,
        example.image_offset,
        example.image_size,
    )
    assert image_bytes(example=example, kind="thumbnail").startswith(b"\x89PNG")
    prediction = example.predictions.get()
    assert prediction.confidence == 0.985352
    assert prediction.probabilities["5"] == 0.985352


def test_a_second_run_reuses_the_examples_and_their_images(run_import, digits_zip):
    run_import(digits_zip, dataset="digits", run="logreg-c0.5")
    images = dict(Example.objects.values_list("example_id", "image"))
    second = digits_zip.parent / "run2-logreg-c5.zip"
    job = run_import(second, dataset="digits", run="logreg-c5")
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Example.objects.count() == 1797
    assert dict(Example.objects.values_list("example_id", "image")) == images
    assert ModelRun.objects.filter(status=RunStatus.READY).count() == 2
    assert job.thumbnails_total == 0
