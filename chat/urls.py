from django.urls import path

from billing import api_keys
from chat import views

urlpatterns: list = [
    path("chat/stream", views.void_chat_stream, name="void-chat-stream"),
    path("api/chat/stream", views.bytechat_chat_stream, name="bytechat-chat-stream"),
    path("v1/chat/completions", views.openai_chat_completions, name="openai-chat-completions"),
    path("v1/models", views.openai_models, name="openai-models"),
    # User API keys for /v1 (billing owns them; routed here beside the API they open).
    path("api/keys", api_keys.ApiKeyListView.as_view(), name="api-keys"),
    path("api/keys/<int:key_id>", api_keys.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
