"""One strict serializer per configuration section.

Strict means: a value of the wrong JSON type is refused (``"5"`` is not a number,
``1`` is not a string or a boolean), a field the section does not have is
refused, and Discord ids are snowflake strings (17–20 digits). Errors name the
field, so the API's 400 says which one was wrong.
"""

from __future__ import annotations

import re

from rest_framework import serializers

from botconfig.defaults import DEFAULTS

SNOWFLAKE = re.compile(r"^[0-9]{17,20}$")


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "A whole number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class SnowflakeField(StrictCharField):
    """A Discord id: a string of 17 to 20 digits (ids exceed JavaScript's safe integers)."""

    default_error_messages = {"invalid": "Must be a Discord id: a string of 17 to 20 digits."}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not SNOWFLAKE.match(value):
            self.fail("invalid")
        return value


class StrictDictField(serializers.DictField):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return super().to_internal_value(data)


class SectionSerializer(serializers.Serializer):
    """Refuses unknown fields; every field is optional (a PUT may change a subset)."""

    section: str = ""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object of the section's fields."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def _snowflakes(*names: str) -> dict:
    return {name: SnowflakeField(required=False) for name in names}


class GeneralSerializer(SectionSerializer):
    bot_name = StrictCharField(max_length=100, required=False)
    command_prefix = StrictCharField(max_length=5, required=False, trim_whitespace=False)
    presence_update_interval = StrictIntegerField(min_value=10, max_value=86400, required=False)
    message_cooldown = StrictIntegerField(min_value=0, max_value=3600, required=False)
    fuzzy_matching_threshold = StrictFloatField(min_value=0.0, max_value=1.0, required=False)


ChannelsSerializer = type(
    "ChannelsSerializer", (SectionSerializer,), _snowflakes(*(f for f in DEFAULTS["channels"] if f.endswith("_id")))
)


class RolesSerializer(SectionSerializer):
    admin_role_id = SnowflakeField(required=False)
    moderator_role_id = SnowflakeField(required=False)
    normal_role_id = SnowflakeField(required=False)
    member_role_id = SnowflakeField(required=False)
    changelog_role_id = SnowflakeField(required=False)
    meme_role_id = SnowflakeField(required=False)
    interest_role_ids = serializers.ListField(child=SnowflakeField(allow_null=False), max_length=100, required=False)
    # Interest name → role id.
    interest_roles = StrictDictField(child=SnowflakeField(allow_null=False), required=False)


SUBREDDIT = r"^[A-Za-z0-9_]{2,21}$"
LEMMY_COMMUNITY = r"^[A-Za-z0-9_]{1,64}(@[A-Za-z0-9.-]{1,253})?$"


class MemeSerializer(SectionSerializer):
    default_subreddits = serializers.ListField(
        child=serializers.RegexField(SUBREDDIT, error_messages={"invalid": "Not a subreddit name."}),
        max_length=50,
        required=False,
    )
    default_lemmy = serializers.ListField(
        child=serializers.RegexField(LEMMY_COMMUNITY, error_messages={"invalid": "Not a community (name@instance)."}),
        max_length=50,
        required=False,
    )
    meme_sources = serializers.ListField(
        child=serializers.ChoiceField(choices=["reddit", "lemmy"]), max_length=2, required=False
    )
    templates_cache_duration = StrictIntegerField(min_value=0, max_value=7 * 86400, required=False)


class RocketLeagueSerializer(SectionSerializer):
    rank_check_interval_hours = StrictIntegerField(min_value=1, max_value=24 * 30, required=False)
    rank_cache_ttl_seconds = StrictIntegerField(min_value=0, max_value=7 * 86400, required=False)


class WelcomeSerializer(SectionSerializer):
    rules_text = StrictCharField(max_length=6000, allow_blank=True, required=False, trim_whitespace=False)
    welcome_messages = serializers.ListField(child=StrictCharField(max_length=2000), max_length=100, required=False)


class GuideCategorySerializer(SectionSerializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, allow_blank=True, required=False)
    emoji = StrictCharField(max_length=64, allow_blank=True, required=False)
    channel_ids = serializers.ListField(child=SnowflakeField(allow_null=False), max_length=100, required=False)


class ServerGuideSerializer(SectionSerializer):
    categories = GuideCategorySerializer(many=True, required=False)


class TicketsSerializer(SectionSerializer):
    enabled = StrictBooleanField(required=False)
    max_open_per_user = StrictIntegerField(min_value=1, max_value=100, required=False)
    auto_close_hours = StrictIntegerField(min_value=0, max_value=24 * 365, required=False)
    transcript_enabled = StrictBooleanField(required=False)


SECTION_SERIALIZERS: dict[str, type[SectionSerializer]] = {
    "general": GeneralSerializer,
    "channels": ChannelsSerializer,
    "roles": RolesSerializer,
    "meme": MemeSerializer,
    "rocket_league": RocketLeagueSerializer,
    "welcome": WelcomeSerializer,
    "server_guide": ServerGuideSerializer,
    "tickets": TicketsSerializer,
}
assert set(SECTION_SERIALIZERS) == set(DEFAULTS), "every section needs a serializer"  # import-time invariant


def section_validate(*, name: str, values) -> dict:
    """Validated values of section ``name``; raises DRF ``ValidationError`` naming the field."""
    serializer = SECTION_SERIALIZERS[name](data=values)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
