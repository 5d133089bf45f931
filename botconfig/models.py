from django.conf import settings
from django.db import models


class ConfigSection(models.Model):
    """One bot configuration section. ``data`` holds only what differs from
    :data:`botconfig.defaults.DEFAULTS`-merged values as last saved; ``version``
    grows by one on every write (the ETag)."""

    name = models.CharField(max_length=32, unique=True)
    data = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
