"""Kept apart from ``api.py``: DRF imports its default permission classes while loading views."""

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission, DjangoModelPermissions

if TYPE_CHECKING:  # rest_framework.views imports this module while it loads
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ModelPermissions(DjangoModelPermissions):
    """Django's model permissions, with ``view`` required for reads."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class ViewModelsPermission(BasePermission):
    """Reads that show several models' data (the МСГ, the S-curve) need the view permission on
    each of the view's ``view_models``; an anonymous request is refused with 401."""

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return user.has_perms(
            [f"{model._meta.app_label}.view_{model._meta.model_name}" for model in view.view_models]
        )
