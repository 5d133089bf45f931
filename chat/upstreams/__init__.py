"""Upstream model servers: one module per kind (Ollama, OpenAI-compatible, the built-in demo).

Each exposes ``stream(...)``: an async iterator of text pieces (``str``) that ends
with one :class:`~chat.upstreams.base.Final`, or raises
:class:`~chat.upstreams.base.UpstreamError`.
"""
