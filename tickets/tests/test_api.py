import pytest

from accounts.models import Role
from botconfig.models import ConfigSection
from tickets.models import MessageSource, Ticket, TicketMessage, TicketStatus, Transcript

pytestmark = pytest.mark.django_db


def _set_config(**values):
    from botconfig.defaults import DEFAULTS

    ConfigSection.objects.update_or_create(name="tickets", defaults={"data": {**DEFAULTS["tickets"], **values}})


def test_a_user_opens_a_ticket_with_its_first_message(user, client_for):
    response = client_for(user).post(
        "/api/tickets", {"subject": "Login broken", "message": "I cannot log in", "category": "account"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["subject"] == "Login broken" and body["category"] == "account" and body["status"] == "open"
    assert [m["content"] for m in body["messages"]] == ["I cannot log in"]
    assert body["messages"][0]["source"] == "web"
    assert body["unread_count"] == 0


def test_the_mobile_app_is_recorded_as_the_source(user, client_for):
    response = client_for(user).post(
        "/api/tickets", {"subject": "s", "message": "from my phone"}, format="json", HTTP_X_PLATFORM="android"
    )
    assert TicketMessage.objects.get(ticket_id=response.json()["ticket_id"]).source == MessageSource.APP


def test_opening_needs_a_subject_and_a_message(user, client_for):
    response = client_for(user).post("/api/tickets", {"subject": "", "message": ""}, format="json")
    assert response.status_code == 400
    assert "detail" in response.json() or response.json()


def test_a_user_cannot_open_more_than_the_configured_number(user, client_for, open_ticket):
    _set_config(max_open_per_user=2)
    open_ticket(user)
    open_ticket(user)
    response = client_for(user).post("/api/tickets", {"subject": "third", "message": "x"}, format="json")
    assert response.status_code == 409
    assert "2 open tickets" in response.json()["detail"]
    assert Ticket.objects.filter(owner=user).count() == 2


def test_opening_is_refused_while_tickets_are_disabled(user, client_for):
    _set_config(enabled=False)
    response = client_for(user).post("/api/tickets", {"subject": "s", "message": "m"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Tickets are disabled."}


def test_a_user_lists_only_their_own_tickets_and_staff_see_all(make_user, client_for, open_ticket, moderator):
    alice, bob = make_user(), make_user()
    mine = open_ticket(alice, subject="alice's")
    open_ticket(bob, subject="bob's")
    listed = client_for(alice).get("/api/tickets").json()["tickets"]
    assert [t["ticket_id"] for t in listed] == [str(mine.pk)]
    assert listed[0]["user_name"] == alice.username
    assert listed[0]["last_message"] == "It broke"
    staff = client_for(moderator).get("/api/tickets?status=all").json()["tickets"]
    assert {t["subject"] for t in staff} == {"alice's", "bob's"}


def test_the_status_filter_separates_open_and_closed(user, moderator, client_for, open_ticket):
    first, second = open_ticket(user), open_ticket(user)
    client_for(moderator).post(f"/api/tickets/{first.pk}/close")
    client = client_for(user)
    assert [t["ticket_id"] for t in client.get("/api/tickets?status=open").json()["tickets"]] == [str(second.pk)]
    assert [t["ticket_id"] for t in client.get("/api/tickets?status=closed").json()["tickets"]] == [str(first.pk)]
    assert client.get("/api/tickets?status=bogus").status_code == 400


def test_unread_counts_rise_with_others_messages_and_clear_on_mark_read(user, moderator, client_for, open_ticket):
    ticket = open_ticket(user)
    staff = client_for(moderator)
    staff.post(f"/api/tickets/{ticket.pk}/send", {"message": "Hi, looking"}, format="json")
    staff.post(f"/api/tickets/{ticket.pk}/send", {"message": "Try again?"}, format="json")
    owner = client_for(user)
    assert owner.get("/api/tickets").json()["tickets"][0]["unread_count"] == 2
    # writing in a ticket means having read it up to there
    assert staff.get("/api/tickets").json()["tickets"][0]["unread_count"] == 0
    assert owner.post(f"/api/tickets/{ticket.pk}/mark-read").json() == {"success": True}
    assert owner.get("/api/tickets").json()["tickets"][0]["unread_count"] == 0
    owner.post(f"/api/tickets/{ticket.pk}/send", {"message": "Works now"}, format="json")
    assert owner.get("/api/tickets").json()["tickets"][0]["unread_count"] == 0
    assert staff.get(f"/api/tickets/{ticket.pk}").json()["unread_count"] == 1


def test_the_detail_has_the_seed_shape(user, client_for, open_ticket):
    ticket = open_ticket(user)
    body = client_for(user).get(f"/api/tickets/{ticket.pk}").json()
    assert {"ticket_id", "user_id", "user_name", "user_avatar", "status", "created_at", "messages"} <= set(body)
    message = body["messages"][0]
    assert {"id", "author_id", "author_name", "author_avatar", "content", "timestamp", "is_admin"} <= set(message)
    assert message["author_id"] == str(user.pk) and message["is_admin"] is False
    assert message["timestamp"].endswith("Z")


def test_another_users_ticket_is_not_found(make_user, client_for, open_ticket):
    alice, mallory = make_user(), make_user()
    ticket = open_ticket(alice)
    client = client_for(mallory)
    assert client.get(f"/api/tickets/{ticket.pk}").status_code == 404
    assert client.post(f"/api/tickets/{ticket.pk}/send", {"message": "hi"}, format="json").status_code == 404
    assert client.post(f"/api/tickets/{ticket.pk}/mark-read").status_code == 404
    assert client.post(f"/api/tickets/{ticket.pk}/reopen").status_code == 404
    assert client.get(f"/api/tickets/{ticket.pk}/transcript").status_code == 404
    assert client.get("/api/tickets/not-a-number").status_code == 404
    assert TicketMessage.objects.filter(ticket=ticket).count() == 1


def test_sending_returns_the_message_and_rejects_empty_text(user, client_for, open_ticket):
    ticket = open_ticket(user)
    client = client_for(user)
    response = client.post(f"/api/tickets/{ticket.pk}/send", {"message": "More detail"}, format="json")
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["message"]["content"] == "More detail"
    assert client.post(f"/api/tickets/{ticket.pk}/send", {"message": "   "}, format="json").status_code == 400
    too_long = client.post(f"/api/tickets/{ticket.pk}/send", {"message": "x" * 5000}, format="json")
    assert too_long.status_code == 400


def test_only_staff_close_and_closing_adds_a_system_message(user, moderator, client_for, open_ticket):
    ticket = open_ticket(user)
    assert client_for(user).post(f"/api/tickets/{ticket.pk}/close").status_code == 403
    response = client_for(moderator).post(f"/api/tickets/{ticket.pk}/close")
    assert response.json() == {"success": True, "message": "Ticket closed"}
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_by == moderator and ticket.closed_at
    last = TicketMessage.objects.filter(ticket=ticket).order_by("-id").first()
    assert last.source == MessageSource.SYSTEM and last.author is None
    assert client_for(moderator).post(f"/api/tickets/{ticket.pk}/close").status_code == 409


def test_nobody_writes_in_a_closed_ticket_until_it_is_reopened(user, moderator, client_for, open_ticket):
    ticket = open_ticket(user)
    client_for(moderator).post(f"/api/tickets/{ticket.pk}/close")
    owner = client_for(user)
    refused = owner.post(f"/api/tickets/{ticket.pk}/send", {"message": "hello?"}, format="json")
    assert refused.status_code == 409
    assert owner.post(f"/api/tickets/{ticket.pk}/reopen").json() == {"success": True, "message": "Ticket reopened"}
    assert owner.post(f"/api/tickets/{ticket.pk}/send", {"message": "hello?"}, format="json").status_code == 200
    assert owner.post(f"/api/tickets/{ticket.pk}/reopen").status_code == 409


def test_reopening_respects_the_open_ticket_limit_for_the_owner(user, moderator, client_for, open_ticket):
    _set_config(max_open_per_user=1)
    first = open_ticket(user)
    client_for(moderator).post(f"/api/tickets/{first.pk}/close")
    open_ticket(user)
    assert client_for(user).post(f"/api/tickets/{first.pk}/reopen").status_code == 409
    assert client_for(moderator).post(f"/api/tickets/{first.pk}/reopen").status_code == 200


def test_only_admins_delete(user, moderator, admin_user, client_for, open_ticket):
    ticket = open_ticket(user)
    assert client_for(user).delete(f"/api/tickets/{ticket.pk}").status_code == 403
    assert client_for(moderator).delete(f"/api/tickets/{ticket.pk}").status_code == 403
    response = client_for(admin_user).delete(f"/api/tickets/{ticket.pk}")
    assert response.json() == {"success": True, "message": "Ticket deleted"}
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert client_for(admin_user).delete(f"/api/tickets/{ticket.pk}").status_code == 404


def test_the_bot_reads_and_posts_in_any_ticket_as_discord(user, bot, client_for, open_ticket):
    ticket = open_ticket(user)
    client = client_for(bot)
    assert [t["ticket_id"] for t in client.get("/api/tickets").json()["tickets"]] == [str(ticket.pk)]
    response = client.post(
        f"/api/tickets/{ticket.pk}/send",
        {"message": "from discord", "author_name": "Mod#1", "author_discord_id": "4242"},
        format="json",
    )
    message = response.json()["message"]
    assert message["source"] == "discord" and message["author_name"] == "Mod#1" and message["author_id"] == "4242"
    assert client.post(f"/api/tickets/{ticket.pk}/close").status_code == 403
    assert client.delete(f"/api/tickets/{ticket.pk}").status_code == 403


def test_only_the_bot_may_name_another_author(user, client_for, open_ticket):
    ticket = open_ticket(user)
    response = client_for(user).post(
        f"/api/tickets/{ticket.pk}/send", {"message": "hi", "author_name": "Admin"}, format="json"
    )
    assert response.json()["message"]["author_name"] == user.username


def test_history_pages_back_with_before(user, client_for, open_ticket):
    ticket = open_ticket(user, message="m0")
    TicketMessage.objects.bulk_create(
        [TicketMessage(ticket=ticket, author=user, content=f"m{i}", source="web") for i in range(1, 120)]
    )
    client = client_for(user)
    first = client.get(f"/api/tickets/{ticket.pk}").json()
    assert [m["content"] for m in first["messages"]] == [f"m{i}" for i in range(70, 120)]
    assert first["has_more"] is True
    oldest = first["messages"][0]["id"]
    second = client.get(f"/api/tickets/{ticket.pk}?before={oldest}&limit=60").json()
    assert [m["content"] for m in second["messages"]] == [f"m{i}" for i in range(10, 70)]
    third = client.get(f"/api/tickets/{ticket.pk}?before={second['messages'][0]['id']}&limit=60").json()
    assert [m["content"] for m in third["messages"]] == [f"m{i}" for i in range(10)]
    assert third["has_more"] is False
    assert client.get(f"/api/tickets/{ticket.pk}?before=abc").status_code == 400


def test_closing_stores_a_transcript_when_configured(user, moderator, client_for, open_ticket):
    ticket = open_ticket(user, message="<script>alert(1)</script>")
    client_for(moderator).post(f"/api/tickets/{ticket.pk}/close")
    body = client_for(user).get(f"/api/tickets/{ticket.pk}/transcript").json()
    assert body["message_count"] == 2
    assert "<script>alert(1)</script>" in body["text"]
    assert "&lt;script&gt;" in body["html"] and "<script>alert" not in body["html"]
    page = client_for(user).get(f"/api/tickets/{ticket.pk}/transcript?as=html")
    assert page["Content-Type"].startswith("text/html") and b"&lt;script&gt;" in page.content


def test_no_transcript_is_stored_when_disabled(user, moderator, client_for, open_ticket):
    _set_config(transcript_enabled=False)
    ticket = open_ticket(user)
    client_for(moderator).post(f"/api/tickets/{ticket.pk}/close")
    assert not Transcript.objects.filter(ticket=ticket).exists()
    assert client_for(user).get(f"/api/tickets/{ticket.pk}/transcript").status_code == 404


def test_anonymous_callers_get_401(api_client):
    assert api_client.get("/api/tickets").status_code == 401


def test_staff_are_not_limited_by_the_open_ticket_limit(make_user, client_for):
    _set_config(max_open_per_user=1)
    mod = make_user(Role.MODERATOR)
    client = client_for(mod)
    for n in range(2):
        assert client.post("/api/tickets", {"subject": f"s{n}", "message": "m"}, format="json").status_code == 201
