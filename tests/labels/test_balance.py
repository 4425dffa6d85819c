from mlstrat.datasets.models import Split
from mlstrat.labels.models import CheckOrigin
from mlstrat.labels.selectors import correction_balance
from mlstrat.labels.services import correction_accept, correction_propose, label_check_record
from tests.factories import ExampleFactory


def _examples(dataset, split, n):
    return [ExampleFactory(dataset=dataset, split=split, label="cat") for _ in range(n)]


def test_dev_checked_much_more_than_test_warns(dataset, bob):
    dev = _examples(dataset, Split.DEV, 10)
    _examples(dataset, Split.TEST, 10)
    for example in dev[:6]:
        label_check_record(example=example, checked_by=bob, origin=CheckOrigin.RANKING)
    balance = correction_balance(dataset=dataset)
    assert balance["warning"] is True
    assert "dev was checked more deeply" in balance["message"]
    dev_row, test_row = balance["splits"]
    assert (dev_row["checked"], test_row["checked"]) == (6, 0)


def test_equal_care_does_not_warn(dataset, bob, carol):
    dev = _examples(dataset, Split.DEV, 10)
    test = _examples(dataset, Split.TEST, 20)
    for example in dev[:3] + test[:6]:
        label_check_record(example=example, checked_by=bob, origin=CheckOrigin.RANKING)
    correction = correction_propose(example=test[6], proposed_label="dog", proposed_by=carol)
    correction_accept(correction=correction, reviewer=bob, expected_version=0)
    balance = correction_balance(dataset=dataset)
    dev_row, test_row = balance["splits"]
    assert (dev_row["checked"], test_row["checked"]) == (3, 7)
    assert (dev_row["corrected"], test_row["corrected"]) == (0, 1)
    assert balance["warning"] is False


def test_nothing_checked_yet_is_said_plainly(dataset):
    _examples(dataset, Split.DEV, 2)
    _examples(dataset, Split.TEST, 2)
    balance = correction_balance(dataset=dataset)
    assert balance["warning"] is False
    assert "No dev or test label has been checked" in balance["message"]
