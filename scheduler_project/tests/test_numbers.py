"""Numbers as people type them (scheduler_project/numbers.py): each valid input read as the
number written, each other one refused; never read as another number."""

from decimal import Decimal

import pytest
from django.utils import translation

from scheduler_project.numbers import (
    NotANumber,
    example_number,
    format_volume,
    input_number,
    parse_number,
    percent,
    quoted,
)


@pytest.mark.parametrize(
    ("language", "text", "number"),
    [
        ("ru", "190,5", "190.5"),
        ("ru", "1 905,5", "1905.5"),
        ("ru", "1\u00a0905,5", "1905.5"),  # as a spreadsheet copies it
        ("ru", "1\u202f905,5", "1905.5"),
        ("ru", "12 345 678,25", "12345678.25"),
        ("ru", "190.5", "190.5"),  # a dot cannot group thousands in Russian: a decimal mark
        ("ru", "1,905", "1.905"),
        ("ru", "0,001", "0.001"),
        ("ru", " 12 ", "12"),
        ("ru", "-5", "-5"),  # refused by the field's minimum, not mistaken for 5
        ("en", "1,905.5", "1905.5"),
        ("en", "190.5", "190.5"),
        ("en", "1,905", "1905"),
        ("en", "1905", "1905"),
        ("en", "12,345,678.25", "12345678.25"),
    ],
)
def test_a_number_is_read_as_the_pages_language_writes_it(language, text, number):
    assert parse_number(text, language=language) == Decimal(number)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("ru", "1,905.5"),  # English grouping on a Russian page: not guessed
        ("ru", "1.905,5"),
        ("ru", "12,5,5"),
        ("ru", "1 90,5"),  # not whole groups of three
        ("ru", "0 001"),
        ("ru", "1 905 5"),
        ("en", "190,5"),  # the Russian decimal comma on an English page: not 1905
        ("en", "1,90"),
        ("en", "0,001"),
        ("en", "1 905.5"),
        ("en", "12.5.5"),
        ("en", "1.905,5"),
        ("ru", ""),
        ("ru", "abc"),
        ("ru", "1e3"),
        ("ru", "--1"),
        ("ru", "١٢"),  # digits of another script
        ("en", "Infinity"),
        ("en", "NaN"),
        ("en", "1_000"),
    ],
)
def test_anything_else_is_not_a_number(language, text):
    with pytest.raises(NotANumber):
        parse_number(text, language=language)


@pytest.mark.parametrize(
    ("language", "value", "shown"),
    [
        ("ru", "1905.500", "1905,5"),
        ("ru", "100.000", "100"),
        ("en", "1905.500", "1905.5"),
        ("en", "0.001", "0.001"),
        ("ru", None, ""),
    ],
)
def test_an_input_shows_a_stored_number_so_that_it_reads_back_the_same(language, value, shown):
    assert input_number(value, language) == shown
    if value is not None:
        assert parse_number(shown, language=language) == Decimal(value)


def test_the_example_is_written_as_the_language_writes_numbers():
    assert (example_number("ru"), example_number("en")) == ("1 905,5", "1,905.5")


def test_a_long_value_is_quoted_in_part():
    assert quoted("1" * 1000) == "1" * 79 + "…"
    assert quoted("190,5") == "190,5"


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        ("-14.2", None, "−14,2"),
        ("-1905.5", 1, "−1 905,5"),
        ("-0.04", 1, "0"),  # rounded to nothing: no «−0»
        ("0", None, "0"),
        ("12.25", 1, "12,3"),
    ],
)
def test_a_volume_is_shown_with_the_minus_sign_and_its_unit_s_decimals(value, decimals, shown):
    with translation.override("ru"):
        assert format_volume(Decimal(value), decimals).replace("\xa0", " ") == shown


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [("49", "400", "12.3"), ("1", "8", "12.5"), ("1", "3", "33.3"), ("-7", "40", "-17.5")],
)
def test_a_percent_has_one_decimal_rounded_half_up_everywhere(part, whole, shown):
    """12.25 % is 12.3 on every page, file and API (a task's progress rounded it half to even,
    12.2, while the МСГ rounded half up)."""
    assert percent(Decimal(part), Decimal(whole)) == Decimal(shown)
