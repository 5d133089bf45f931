"""Reads of the bot configuration."""

from __future__ import annotations

import copy

from botconfig.defaults import DEFAULTS
from botconfig.models import ConfigSection


def config_get(name: str) -> dict:
    """A section's values: its defaults overlaid with what was saved. Raises KeyError for an unknown section."""
    if name not in DEFAULTS:
        raise KeyError(name)
    values = copy.deepcopy(DEFAULTS[name])
    saved = ConfigSection.objects.filter(name=name).values_list("data", flat=True).first()
    if saved:
        values.update(saved)
    return values
