"""HazeBot's ``/api/tickets*`` (same paths and shapes) plus opening a ticket and paged history. Thin views."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import IsAdminRole, IsModeratorOrAdmin
from tickets import selectors, services
from tickets.models import MessageSource

_Success = inline_serializer(
    "TicketSuccess", {"success": serializers.BooleanField(), "message": serializers.CharField()}
)

# Response shapes for the OpenAPI schema (built by tickets.selectors.*_payload).
_TicketFields = {
    "ticket_id": serializers.CharField(),
    "user_id": serializers.CharField(),
    "user_name": serializers.CharField(),
    "subject": serializers.CharField(),
    "category": serializers.CharField(),
    "status": serializers.ChoiceField(choices=["open", "closed"]),
    "created_at": serializers.DateTimeField(),
    "updated_at": serializers.DateTimeField(),
    "closed_at": serializers.DateTimeField(allow_null=True),
}
_MessageOut = inline_serializer(
    "TicketMessage",
    {
        "id": serializers.CharField(),
        "ticket_id": serializers.CharField(),
        "author_id": serializers.CharField(),
        "author_name": serializers.CharField(),
        "author_avatar": serializers.CharField(),
        "content": serializers.CharField(),
        "timestamp": serializers.DateTimeField(),
        "is_admin": serializers.BooleanField(),
        "source": serializers.ChoiceField(choices=["web", "app", "discord", "system"]),
    },
)
_TicketSummary = inline_serializer(
    "TicketSummary",
    {**_TicketFields, "last_message": serializers.CharField(), "unread_count": serializers.IntegerField()},
)


def _detail_fields() -> dict:
    """Fresh field instances each call: a serializer class takes its fields out of the dict it is built from."""
    return {
        **_TicketFields,
        "user_avatar": serializers.CharField(),
        "unread_count": serializers.IntegerField(),
        "messages": _MessageOut.__class__(many=True),
        "has_more": serializers.BooleanField(),
    }


_TicketDetail = inline_serializer("TicketDetail", _detail_fields())
_TicketOpened = inline_serializer("TicketOpened", {"success": serializers.BooleanField(), **_detail_fields()})
_MessageSent = inline_serializer("TicketMessageSent", {"success": serializers.BooleanField(), "message": _MessageOut})
_TranscriptOut = inline_serializer(
    "TicketTranscript",
    {
        "ticket_id": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "message_count": serializers.IntegerField(),
        "text": serializers.CharField(),
        "html": serializers.CharField(),
    },
)


def _raise(exc: services.TicketError):
    error = APIException(detail=exc.detail)
    error.status_code = exc.status
    raise error from exc


def source_for(request) -> str:
    """Where a message comes from: the bot posts from Discord; the mobile app says so in ``X-Platform``."""
    if getattr(request.user, "role", None) == Role.BOT:
        return MessageSource.DISCORD
    platform = (request.headers.get("X-Platform") or "").lower()
    return MessageSource.APP if platform in ("android", "ios", "app") else MessageSource.WEB


def _ticket_or_404(ticket_id, user):
    ticket = selectors.ticket_get_for_user(ticket_id=ticket_id, user=user)
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


class OpenInput(serializers.Serializer):
    subject = serializers.CharField(max_length=services.MAX_SUBJECT)
    message = serializers.CharField(max_length=services.MAX_CONTENT)
    category = serializers.CharField(max_length=50, required=False, default="general")


class TicketListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=["open", "closed", "all"], default="all")],
        responses={200: inline_serializer("TicketList", {"tickets": _TicketSummary.__class__(many=True)})},
        tags=["tickets"],
        operation_id="api_tickets_list",
    )
    def get(self, request):
        wanted = request.query_params.get("status", "all")
        if wanted not in ("open", "closed", "all"):
            raise ValidationError({"detail": "status must be open, closed or all."})
        tickets = selectors.ticket_list(user=request.user, status=wanted)
        return Response({"tickets": [selectors.ticket_list_payload(t) for t in tickets]})

    @extend_schema(request=OpenInput, responses={201: _TicketOpened}, tags=["tickets"])
    def post(self, request):
        data = OpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            ticket = services.ticket_open(
                owner=request.user,
                subject=values["subject"],
                content=values["message"],
                category=values["category"],
                source=source_for(request),
            )
        except services.TicketError as exc:
            _raise(exc)
        return Response(
            {"success": True, **selectors.ticket_detail_payload(ticket=ticket, user=request.user)},
            status=status.HTTP_201_CREATED,
        )


def _int_param(request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({"detail": f"{name} must be a message id (an integer)."}) from None
    if value < 1:
        raise ValidationError({"detail": f"{name} must be positive."})
    return value


class TicketDetailView(APIView):
    """``GET``: the ticket with its newest messages (``?before=<message id>&limit=`` pages back);
    ``DELETE``: admin only."""

    def get_permissions(self):
        return [IsAdminRole()] if self.request.method == "DELETE" else [IsAuthenticated()]

    @extend_schema(
        parameters=[OpenApiParameter("before", int), OpenApiParameter("limit", int, default=selectors.HISTORY_PAGE)],
        responses={200: _TicketDetail},
        tags=["tickets"],
    )
    def get(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        before = _int_param(request, "before", None)
        limit = _int_param(request, "limit", selectors.HISTORY_PAGE)
        return Response(selectors.ticket_detail_payload(ticket=ticket, user=request.user, before=before, limit=limit))

    @extend_schema(responses={200: _Success}, tags=["tickets"])
    def delete(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        try:
            services.ticket_delete(ticket_id=ticket.pk)
        except services.TicketError as exc:
            _raise(exc)
        return Response({"success": True, "message": "Ticket deleted"})


class SendInput(serializers.Serializer):
    message = serializers.CharField(max_length=services.MAX_CONTENT, trim_whitespace=True)
    # Only the bot: the Discord user it relays for.
    author_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    author_discord_id = serializers.CharField(max_length=32, required=False, allow_blank=True)


class TicketSendView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=SendInput, responses={200: _MessageSent}, tags=["tickets"])
    def post(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        data = SendInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        relay = request.user.role == Role.BOT
        try:
            message = services.ticket_message_send(
                ticket_id=ticket.pk,
                author=request.user,
                content=values["message"],
                source=source_for(request),
                external_name=values.get("author_name", "") if relay else "",
                external_id=values.get("author_discord_id", "") if relay else "",
            )
        except services.TicketError as exc:
            _raise(exc)
        return Response({"success": True, "message": selectors.message_payload(message)})


class TicketCloseView(APIView):
    permission_classes = [IsModeratorOrAdmin]

    @extend_schema(request=None, responses={200: _Success}, tags=["tickets"])
    def post(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        try:
            services.ticket_close(ticket_id=ticket.pk, by=request.user)
        except services.TicketError as exc:
            _raise(exc)
        return Response({"success": True, "message": "Ticket closed"})


class TicketReopenView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: _Success}, tags=["tickets"])
    def post(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        try:
            services.ticket_reopen(ticket_id=ticket.pk, by=request.user)
        except services.TicketError as exc:
            _raise(exc)
        return Response({"success": True, "message": "Ticket reopened"})


class TicketMarkReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: inline_serializer("MarkRead", {"success": serializers.BooleanField()})},
        tags=["tickets"],
    )
    def post(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        services.ticket_mark_read(ticket=ticket, user=request.user)
        return Response({"success": True})


class TicketTranscriptView(APIView):
    """The transcript stored at the last close: JSON with ``text`` and ``html``, or the page
    itself with ``?as=html`` / the text with ``?as=text`` (``format`` is DRF's own parameter)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("as", enum=["json", "html", "text"])],
        responses={200: _TranscriptOut},
        tags=["tickets"],
    )
    def get(self, request, ticket_id: str):
        ticket = _ticket_or_404(ticket_id, request.user)
        transcript = selectors.transcript_latest(ticket=ticket)
        if transcript is None:
            raise NotFound("This ticket has no transcript (it is stored when the ticket is closed).")
        wanted = request.query_params.get("as", "json")
        if wanted in ("html", "text"):
            from django.http import HttpResponse

            body, kind = (transcript.html, "text/html") if wanted == "html" else (transcript.text, "text/plain")
            response = HttpResponse(body, content_type=f"{kind}; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="ticket-{ticket.pk}.{"html" if wanted == "html" else "txt"}"'
            )
            return response
        return Response(selectors.transcript_payload(transcript))
