from django.urls import path

from tickets import api

urlpatterns = [
    path("api/tickets", api.TicketListView.as_view(), name="tickets"),
    path("api/tickets/<str:ticket_id>", api.TicketDetailView.as_view(), name="ticket-detail"),
    path("api/tickets/<str:ticket_id>/send", api.TicketSendView.as_view(), name="ticket-send"),
    path("api/tickets/<str:ticket_id>/close", api.TicketCloseView.as_view(), name="ticket-close"),
    path("api/tickets/<str:ticket_id>/reopen", api.TicketReopenView.as_view(), name="ticket-reopen"),
    path("api/tickets/<str:ticket_id>/mark-read", api.TicketMarkReadView.as_view(), name="ticket-mark-read"),
    path("api/tickets/<str:ticket_id>/transcript", api.TicketTranscriptView.as_view(), name="ticket-transcript"),
]
