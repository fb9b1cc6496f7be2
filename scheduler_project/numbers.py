"""Numbers as people type them: «190,5» and «1 905,5» on Russian pages, «1,905.5» on English ones.

One rule for every volume input (page forms, and the API when the request names its language
in ``Content-Language``, as the pages' outbox does): the typed text is parsed in the page's
language, or refused naming it; it is never read as another number. A browser's
``<input type=number>`` parses in the browser's own locale (an en-US browser reads «190,5» as
1905), so volume inputs are text inputs with ``inputmode=decimal`` and this module parses them.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

from django.utils import translation
from django.utils.formats import get_format, number_format
from django.utils.translation import get_language, gettext

SPACES = "\u0020\u00a0\u202f\u2009"
"""What people and spreadsheets put between groups of thousands in Russian: a space, a
no-break space, a narrow no-break space, a thin space."""


QUOTED_MAX = 80
"""How much of a typed value an error message quotes."""


def quoted(value: object) -> str:
    """``value`` for an error message: at most ``QUOTED_MAX`` characters of it."""
    text = str(value)
    return text if len(text) <= QUOTED_MAX else f"{text[: QUOTED_MAX - 1]}…"


class NotANumber(ValueError):
    """The text is not a number as the language writes one."""


def _language_rule(language: str) -> tuple[str, str]:
    """The language's decimal mark and thousands separator."""
    return get_format("DECIMAL_SEPARATOR", language), get_format("THOUSAND_SEPARATOR", language)


def parse_number(text: str, *, language: str | None = None) -> Decimal:
    """``text`` as a number written in ``language`` (default: the active one).

    ASCII digits with at most one decimal mark and an optional leading minus. The decimal mark
    is the language's (a comma in Russian); in a language whose thousands are grouped by
    spaces, a dot is taken as the decimal mark too, since it cannot be a thousands separator
    there. Thousands may be grouped by the language's separator, in whole groups of three,
    before the decimal mark only. Anything else (exponents, two marks, «190,5» in English)
    is ``NotANumber``.
    """
    language = language or get_language() or "en"
    decimal_mark, thousands = _language_rule(language)
    value = text.strip()
    negative = value.startswith(("-", "−"))
    if negative:
        value = value[1:]
    spaced = thousands.strip() == ""
    marks = {decimal_mark, "."} if spaced else {decimal_mark}
    group_separators = SPACES if spaced else re.escape(thousands)
    # Grouped thousands start with a digit other than 0: «0,001» is not one in English.
    grouped = r"[1-9][0-9]{0,2}(?:[" + group_separators + r"][0-9]{3})+"
    pattern = (
        r"(?P<whole>[0-9]+|" + grouped + r")"
        r"(?:[" + re.escape("".join(marks)) + r"](?P<fraction>[0-9]+))?"
    )
    match = re.fullmatch(pattern, value)
    if match is None:
        raise NotANumber(text)
    whole = re.sub(f"[{group_separators}]", "", match["whole"])
    number = f"{'-' if negative else ''}{whole}"
    if match["fraction"] is not None:
        number += f".{match['fraction']}"
    try:
        return Decimal(number)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits digits only
        raise NotANumber(text) from error


def example_number(language: str | None = None) -> str:
    """How the language writes one thousand nine hundred and five and a half."""
    decimal_mark, thousands = _language_rule(language or get_language() or "en")
    return f"1{' ' if thousands.strip() == '' else thousands}905{decimal_mark}5"


def not_a_number_message(text: str, language: str | None = None) -> str:
    """What the pages and the API answer to a text that is not a number in ``language``."""
    with translation.override(language or get_language()):
        return gettext(
            "“%(value)s” is not a number. Write numbers like %(example)s, decimals after a point."
        ) % {"value": quoted(text), "example": example_number(language)}


def input_number(value: Decimal | int | str | None, language: str | None = None) -> str:
    """A stored number as a volume input shows it: the language's decimal mark, no trailing
    zeros, no grouping (``1905,5``): what ``parse_number`` reads back as the same number."""
    if value is None or value == "":
        return ""
    number = Decimal(value)
    if not number.is_finite():
        return str(value)
    plain = number.normalize()
    text = f"{plain:f}" if plain != plain.to_integral_value() else f"{plain.quantize(1):f}"
    decimal_mark, _thousands = _language_rule(language or get_language() or "en")
    return text.replace(".", decimal_mark)


PERCENT_QUANTUM = Decimal("0.1")


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal:
    """``part`` in percent of ``whole`` (not 0), one decimal, half up: every percent the pages,
    files and API show (a task's progress, a month's plan done, a deviation's share)."""
    return (Decimal(part) * 100 / Decimal(whole)).quantize(PERCENT_QUANTUM, ROUND_HALF_UP)


def format_volume(value: Decimal | int | str | None, decimals: int | None = None) -> str:
    """A volume without trailing zeros, grouped and localized: ``12 500,5`` in Russian, a
    negative one with the minus sign (``−3,5``); with ``decimals`` (its unit's,
    ``Unit.decimals``) rounded half up to at most that many."""
    return volume_formatter()(value, decimals)


class VolumeFormatter(Protocol):
    def __call__(self, value: Decimal | int | str | None, decimals: int | None = None) -> str: ...


def volume_formatter() -> VolumeFormatter:
    """``format_volume`` for the active language, its separators looked up once and each value
    formatted once: the МСГ shows thousands of volumes, and ``number_format`` looks the
    separators up again for every one of them."""
    language = get_language()
    decimal_separator = get_format("DECIMAL_SEPARATOR", language)
    grouping = get_format("NUMBER_GROUPING", language)
    thousand_separator = get_format("THOUSAND_SEPARATOR", language)
    separators = str.maketrans({",": thousand_separator, ".": decimal_separator})
    formatted: dict[tuple[Decimal, int | None], str] = {}

    def format_one(value: Decimal | int | str | None, decimals: int | None = None) -> str:
        try:
            text = formatted.get((value, decimals))  # type: ignore[arg-type]
        except TypeError:  # a signalling NaN has no hash
            text = None
        if text is not None:
            return text
        if value is None or value == "":
            return ""
        number = Decimal(value)
        if not number.is_finite():
            return number_format(plain_decimal(number), force_grouping=True)
        shown = number
        if decimals is not None:
            shown = number.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
        text = format_finite(plain_decimal(shown))
        if text.startswith("-"):  # the minus sign, as «▼ −14,2» on the МСГ; never «−0»
            text = "0" if not shown else f"−{text[1:]}"
        if number:  # 0 and -0 are equal keys but show apart
            formatted[(number, decimals)] = text
        return text

    def format_finite(number: Decimal) -> str:
        _sign, digits, exponent = number.as_tuple()
        if grouping == 3 and abs(int(exponent)) + len(digits) <= 200:
            return format(number, ",f").translate(separators)
        # What Python's grouping cannot do (the site's two languages group by three).
        return number_format(number, force_grouping=True)

    return format_one


def plain_decimal(value: Decimal) -> Decimal:
    """``12.500`` → ``12.5`` and ``100.000`` → ``100``, never ``1E+2``."""
    number = value.normalize()
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number
