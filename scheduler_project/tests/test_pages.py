from decimal import Decimal

import pytest
from django.utils import translation

from scheduler_project.pages import format_value, format_volume


@pytest.mark.parametrize(
    ("value", "english", "russian"),
    [
        (Decimal("100.000"), "100", "100"),
        (Decimal("12.500"), "12.5", "12,5"),
        (Decimal("12345.678"), "12,345.678", "12\xa0345,678"),
        (Decimal("0.000"), "0", "0"),
        (None, "", ""),
    ],
)
def test_volumes_lose_trailing_zeros_and_follow_the_language(value, english, russian):
    with translation.override("en"):
        assert format_volume(value) == english
    with translation.override("ru"):
        assert format_volume(value) == russian


@pytest.mark.parametrize(("value", "shown"), [("", "—"), (None, "—"), ("Pit", "Pit")])
def test_empty_values_show_as_a_dash(value, shown):
    assert format_value(value) == shown
