"""User API keys for the OpenAI-compatible API: list, create (the raw key is in
the answer once), revoke."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.metering import api_key_create, api_key_revoke
from billing.models import ApiKey


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ("id", "name", "prefix", "created_at", "last_used_at", "revoked_at")


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(help_text="The raw key: shown this once, stored only hashed.")

    class Meta(ApiKeyOut.Meta):
        fields = (*ApiKeyOut.Meta.fields, "key")


class ApiKeyListView(APIView):
    @extend_schema(responses={200: ApiKeyOut(many=True)}, tags=["api keys"])
    def get(self, request):
        keys = ApiKey.objects.filter(user=request.user).order_by("-created_at")
        return Response(ApiKeyOut(keys, many=True).data)

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyCreatedOut}, tags=["api keys"])
    def post(self, request):
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        raw, key = api_key_create(user=request.user, name=data.validated_data["name"])
        return Response({**ApiKeyOut(key).data, "key": raw}, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    @extend_schema(responses={204: None}, tags=["api keys"])
    def delete(self, request, key_id: int):
        key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
        api_key_revoke(key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)
