"""Filters the pages use to show numbers and people the same way everywhere."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import template
from django.contrib.auth.models import AbstractBaseUser
from django.template.defaultfilters import floatformat

from scheduler_project.numbers import format_volume
from scheduler_project.pages import format_person, format_value

register = template.Library()


@register.filter
def volume(value: Decimal | int | str | None, decimals: object = None) -> str:
    """``{{ value|volume }}``, or ``{{ value|volume:task.unit_decimals }}`` rounded to its
    unit's decimals (an object read without them shows every stored decimal)."""
    return format_volume(value, decimals if isinstance(decimals, int) else None)


@register.filter
def signed_volume(value: Decimal, decimals: object = None) -> str:
    """A deviation as the МСГ writes it: «+131,5», «−14,2», «0»."""
    text = volume(value, decimals)
    return f"+{text}" if value > 0 and text != "0" else text


@register.filter
def signed_percent(value: Decimal | None) -> str:
    """A percent with one decimal and its sign: «+4,3», «−2,4», «0,0»."""
    text = floatformat(value, 1)
    if text.startswith("-"):
        return f"−{text[1:]}"
    return f"+{text}" if value and value > 0 else text


@register.filter
def person(user: AbstractBaseUser | None) -> str:
    return format_person(user)


@register.filter
def shown_value(value: Any) -> str:
    """A field's value as the pages show it (a volume, a date, yes/no, "—" when empty)."""
    return format_value(value)


@register.filter
def get_item(mapping: Mapping[str, Any], key: str) -> Any:
    return mapping.get(key, key)
