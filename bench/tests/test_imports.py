"""``python -m bench.imports``'s measures, in this process on the test database: that each
reports what happened and every figure. No figure is checked against a threshold (the machine
decides those)."""

import pytest
from django.contrib.auth import get_user_model

from bench.imports import hostile_files, measure_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def planner_named_planner():
    return get_user_model().objects.create_superuser("planner", "planner@example.com", "pw-1x")


def test_an_upload_is_measured_with_what_the_page_said(planner_named_planner, tmp_path):
    path = tmp_path / "merged.xlsx"
    path.write_bytes(hostile_files()["merged A1:XFD1048576"])

    result = measure_upload(path)

    assert result["outcome"] == (
        "refused (400): Merged cells in the table: A1:XFD1048576. Unmerge them."
    )
    assert set(result) == {"seconds", "cpu_seconds", "growth_mb", "page_kb", "outcome"}


def test_a_previewed_upload_says_its_counts_and_first_error(planner_named_planner, tmp_path):
    path = tmp_path / "codes.xlsx"
    path.write_bytes(hostile_files()["6,000 rows of one code"])

    result = measure_upload(path)

    assert result["outcome"] == (
        "previewed: 0 new, 0 changed, 0 unchanged, 6000 in error, 0 in conflict. First error: "
        "A2: the code 1.1 is also in rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 5,989 more"
    )
