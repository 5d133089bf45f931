import pytest

from botconfig.models import ConfigSection
from botconfig.selectors import config_get

pytestmark = pytest.mark.django_db


def test_a_fresh_install_reads_the_defaults():
    assert config_get("tickets")["max_open_per_user"] == 3


def test_saved_values_overlay_the_defaults():
    ConfigSection.objects.create(name="tickets", data={"max_open_per_user": 1})
    values = config_get("tickets")
    assert values["max_open_per_user"] == 1
    assert values["transcript_enabled"] is True


def test_an_unknown_section_is_a_key_error():
    with pytest.raises(KeyError):
        config_get("nope")
