"""Filters the pages use to show numbers and people the same way everywhere."""

from decimal import Decimal

from django import template
from django.contrib.auth.models import AbstractBaseUser

from scheduler_project.pages import format_person, format_volume

register = template.Library()


@register.filter
def volume(value: Decimal | int | str | None) -> str:
    return format_volume(value)


@register.filter
def person(user: AbstractBaseUser | None) -> str:
    return format_person(user)
