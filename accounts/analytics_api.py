"""HazeBot's analytics endpoints (admin): ``GET /api/stats`` and ``GET /api/active-sessions``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import analytics
from accounts.permissions import IsAdminRole
from voidsite.errors import json_error


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT))
class StatsView(APIView):
    permission_classes = [IsAdminRole]

    def get(self, request):
        raw = request.query_params.get("days")
        if raw is None or raw == "":
            return Response(analytics.analytics_stats(days=None))
        if raw not in {str(d) for d in analytics.STATS_WINDOWS}:
            return json_error("days must be 7, 30 or 90 (or omitted for all time).", 400)
        return Response(analytics.analytics_stats(days=int(raw)))


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT))
class ActiveSessionsView(APIView):
    permission_classes = [IsAdminRole]

    def get(self, request):
        return Response({"sessions": analytics.active_sessions_list()})
