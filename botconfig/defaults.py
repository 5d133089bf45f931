"""Defaults of every bot configuration section (the HazeBot seed's field names),
so a fresh install is usable before anyone edits anything."""

DEFAULTS: dict[str, dict] = {
    "general": {
        "bot_name": "HazeBot",
        "command_prefix": "!",
        "presence_update_interval": 300,
        "message_cooldown": 5,
        "fuzzy_matching_threshold": 0.6,
    },
    "channels": {
        "log_channel_id": None,
        "changelog_channel_id": None,
        "todo_channel_id": None,
        "rl_channel_id": None,
        "meme_channel_id": None,
        "server_guide_channel_id": None,
        "welcome_rules_channel_id": None,
        "welcome_public_channel_id": None,
        "transcript_channel_id": None,
        "tickets_category_id": None,
    },
    "roles": {
        "admin_role_id": None,
        "moderator_role_id": None,
        "normal_role_id": None,
        "member_role_id": None,
        "changelog_role_id": None,
        "meme_role_id": None,
        "interest_role_ids": [],
        "interest_roles": {},
    },
    "meme": {
        "default_subreddits": ["memes", "dankmemes"],
        "default_lemmy": ["memes@lemmy.world"],
        "meme_sources": ["reddit", "lemmy"],
        "templates_cache_duration": 3600,
    },
    "rocket_league": {"rank_check_interval_hours": 24, "rank_cache_ttl_seconds": 3600},
    "welcome": {"rules_text": "", "welcome_messages": ["Welcome!"]},
    "server_guide": {"categories": []},
    "tickets": {"enabled": True, "max_open_per_user": 3, "auto_close_hours": 72, "transcript_enabled": True},
}

SECTIONS = tuple(DEFAULTS)
