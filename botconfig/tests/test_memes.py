import random

import pytest

from botconfig import services
from fakes.lemmy import post_view
from fakes.reddit import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def memes_config(client_for, admin_user):
    def set_config(**values):
        response = client_for(admin_user).put("/api/config/meme", values, format="json")
        assert response.status_code == 200, response.json()

    return set_config


def test_a_reddit_meme_has_the_seed_shape_and_skips_nsfw_videos_and_non_images(
    fake_reddit, memes_config, client_for, user
):
    memes_config(default_subreddits=["memes"])
    fake_reddit.subreddits["memes"] = [
        post("Naughty", "https://i.redd.it/nsfw.jpg", over_18=True),
        post("Video", "https://v.redd.it/abc", post_hint="hosted:video", is_video=True),
        post("Link", "https://example.com/article", post_hint="link"),
        post("Funny meme", "https://i.redd.it/funny.png"),
    ]
    for _ in range(5):
        body = client_for(user).get("/api/memes/random?source=reddit").json()
        assert body["title"] == "Funny meme"
        assert body["url"] == "https://i.redd.it/funny.png"
        assert body["source"] == "reddit"
        assert body["subreddit"] == "memes"
    request = fake_reddit.requests[0]
    assert request.url.path == "/r/memes/hot.json"
    assert request.url.params["limit"] == "50"
    assert request.headers["User-Agent"].startswith("voidsite")


def test_the_lists_are_cached_for_the_configured_duration(fake_reddit, memes_config, client_for, user):
    memes_config(default_subreddits=["memes"], templates_cache_duration=600)
    fake_reddit.subreddits["memes"] = [post("A", "https://i.redd.it/a.jpg")]
    client = client_for(user)
    client.get("/api/memes/random?source=reddit")
    client.get("/api/memes/random?source=reddit")
    assert len(fake_reddit.requests) == 1


def test_a_lemmy_meme_comes_from_the_configured_community(fake_lemmy, memes_config, client_for, user):
    memes_config(default_lemmy=["memes@lemmy.world"])
    fake_lemmy.communities["memes@lemmy.world"] = [
        post_view("NSFW", "https://lemmy.world/pictrs/image/x.jpg", nsfw=True),
        post_view("Text only", None),
        post_view("Good one", "https://lemmy.world/pictrs/image/good.webp", post_id=5),
    ]
    body = client_for(user).get("/api/memes/random?source=lemmy").json()
    assert body["title"] == "Good one"
    assert body["source"] == "lemmy"
    assert body["community"] == "memes"
    assert body["permalink"] == "https://lemmy.world/post/5"
    params = fake_lemmy.requests[0].url.params
    assert (params["community_name"], params["sort"], params["limit"]) == ("memes@lemmy.world", "Hot", "50")


def test_without_a_source_any_enabled_source_may_answer(fake_reddit, fake_lemmy, memes_config):
    memes_config(default_subreddits=["memes"], default_lemmy=["memes@lemmy.world"])
    fake_reddit.subreddits["memes"] = [post("R", "https://i.redd.it/r.jpg")]
    fake_lemmy.communities["memes@lemmy.world"] = [post_view("L", "https://lemmy.world/pictrs/image/l.png")]
    seen = {services.meme_random(source=None, rng=random.Random(seed))["source"] for seed in range(20)}
    assert seen == {"reddit", "lemmy"}


def test_an_unknown_source_is_400(client_for, user):
    assert client_for(user).get("/api/memes/random?source=4chan").status_code == 400


def test_a_disabled_source_is_400(fake_lemmy, memes_config, client_for, user):
    memes_config(meme_sources=["reddit"])
    response = client_for(user).get("/api/memes/random?source=lemmy")
    assert response.status_code == 400
    assert fake_lemmy.requests == []


def test_one_failing_community_does_not_spoil_the_others(fake_reddit, memes_config, client_for, user):
    memes_config(default_subreddits=["gone", "memes"])
    fake_reddit.subreddits["memes"] = [post("Still here", "https://i.redd.it/ok.gif")]
    assert client_for(user).get("/api/memes/random?source=reddit").json()["title"] == "Still here"


def test_every_source_down_is_502(fake_reddit, memes_config, client_for, user):
    memes_config(default_subreddits=["memes"])
    fake_reddit.down = True
    assert client_for(user).get("/api/memes/random?source=reddit").status_code == 502


def test_no_usable_image_is_404(fake_reddit, memes_config, client_for, user):
    memes_config(default_subreddits=["memes"])
    fake_reddit.subreddits["memes"] = [post("Text", "https://www.reddit.com/r/memes/comments/x/", post_hint="self")]
    assert client_for(user).get("/api/memes/random?source=reddit").status_code == 404
