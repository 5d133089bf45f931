from django.contrib import admin, messages

from tickets import services
from tickets.models import Ticket, TicketMessage, Transcript


class TicketMessageInline(admin.TabularInline):
    model = TicketMessage
    fields = ("created_at", "author", "external_author_name", "source", "content")
    readonly_fields = ("created_at", "author", "external_author_name", "source")
    extra = 0
    ordering = ("-id",)
    show_change_link = False

    def get_queryset(self, request):
        # The newest 200 only: a ticket with 10,000 messages still opens.
        ids = list(super().get_queryset(request).order_by("-id").values_list("id", flat=True)[:200])
        return super().get_queryset(request).filter(id__in=ids).select_related("author")


class TranscriptInline(admin.TabularInline):
    model = Transcript
    fields = ("created_at", "message_count")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "owner", "category", "status", "created_at", "updated_at", "closed_at")
    list_filter = ("status", "category")
    search_fields = ("subject", "owner__username", "owner__discord_id", "messages__content")
    readonly_fields = ("created_at", "updated_at", "closed_at", "closed_by", "status")
    raw_id_fields = ("owner",)
    list_select_related = ("owner",)
    inlines = [TicketMessageInline, TranscriptInline]
    actions = ["close_tickets", "reopen_tickets"]

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False  # searching messages joins them: one row per ticket

    @admin.action(description="Close the selected tickets (system message, transcript)")
    def close_tickets(self, request, queryset):
        done = 0
        for ticket_id in queryset.values_list("id", flat=True):
            try:
                services.ticket_close(ticket_id=ticket_id, by=request.user)
                done += 1
            except services.TicketError:
                continue
        self.message_user(request, f"{done} ticket(s) closed.", messages.SUCCESS)

    @admin.action(description="Reopen the selected tickets")
    def reopen_tickets(self, request, queryset):
        done = 0
        for ticket_id in queryset.values_list("id", flat=True):
            try:
                services.ticket_reopen(ticket_id=ticket_id, by=request.user)
                done += 1
            except services.TicketError:
                continue
        self.message_user(request, f"{done} ticket(s) reopened.", messages.SUCCESS)


@admin.register(TicketMessage)
class TicketMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "ticket", "author", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("content", "author__username", "external_author_name")
    raw_id_fields = ("ticket", "author")
    list_select_related = ("ticket", "author")


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ("ticket", "created_at", "message_count")
    readonly_fields = ("ticket", "created_at", "message_count", "text", "html")
    search_fields = ("ticket__subject", "text")
