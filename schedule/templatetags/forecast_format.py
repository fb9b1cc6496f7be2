"""Filters the forecast cell needs."""

from django import template

register = template.Library()


@register.filter
def absolute(value: int) -> int:
    """``-3`` → ``3``: "3 working days early" counts days, the sign is in the words."""
    return abs(value)
