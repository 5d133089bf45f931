"""The three HazeBot roles as DRF permission classes, for every app to reuse.

The role comes from the user row loaded for this request, never from token claims.
"""

from rest_framework.permissions import BasePermission

from accounts.models import Role


class IsAdminRole(BasePermission):
    message = "Admin role required."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "role", None) == Role.ADMIN)


class IsModeratorOrAdmin(BasePermission):
    """HazeBot 'staff': moderators and admins."""

    message = "Moderator or admin role required."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "role", None) in (Role.ADMIN, Role.MODERATOR))


class IsAdminForWrites(BasePermission):
    """Any authenticated user reads; only admins write."""

    message = "Admin role required to change this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return getattr(user, "role", None) == Role.ADMIN


class IsBot(BasePermission):
    """The Discord bot's service account."""

    message = "Bot credential required."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "role", None) == Role.BOT)
