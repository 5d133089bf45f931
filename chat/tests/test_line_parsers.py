"""The upstream line parsers on their own: a network read's lines are decoded as
one JSON array, and a bad line among good ones is still found, with the text
before it kept."""

from __future__ import annotations

import json

import pytest

from chat.upstreams.base import Final, UpstreamError
from chat.upstreams.ollama import _parse_lines
from chat.upstreams.openai_compat import _EventParser


def ollama_line(text: str) -> str:
    return json.dumps({"model": "m", "message": {"role": "assistant", "content": text}, "done": False})


OLLAMA_DONE = json.dumps({"done": True, "done_reason": "stop", "prompt_eval_count": 4, "eval_count": 3})


def sse(obj) -> list[str]:
    return ["data: " + json.dumps(obj), ""]


def sse_text(text: str) -> list[str]:
    return sse({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def test_ollama_lines_of_one_read_give_their_text_and_the_final():
    pieces: list[str] = []
    final = _parse_lines([ollama_line("a"), "", ollama_line("b"), OLLAMA_DONE, ollama_line("after")], pieces)
    assert final == Final(prompt_tokens=4, completion_tokens=3, finish_reason="stop")
    assert pieces == ["a", "b"]


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        "[1, 2]",  # JSON, but not an object
        ollama_line("x") + ", " + ollama_line("y"),  # two objects on one line are not two lines
    ],
)
def test_a_bad_ollama_line_among_good_ones_is_an_error_after_their_text(bad):
    pieces: list[str] = []
    with pytest.raises(UpstreamError, match="malformed"):
        _parse_lines([ollama_line("a"), ollama_line("b"), bad, ollama_line("c")], pieces)
    assert pieces == ["a", "b"]


def test_an_ollama_error_line_keeps_the_text_before_it():
    pieces: list[str] = []
    with pytest.raises(UpstreamError, match="reported an error: overloaded"):
        _parse_lines([ollama_line("a"), json.dumps({"error": "overloaded"}), ollama_line("b")], pieces)
    assert pieces == ["a"]


def test_sse_events_of_one_read_give_their_text_usage_and_finish():
    parser = _EventParser()
    pieces: list[str] = []
    lines = [": OPENROUTER PROCESSING", ""] + sse_text("a") + sse_text("b")
    lines += sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    lines += sse({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    assert parser(lines, pieces) is None  # no [DONE] yet
    assert parser(["data: [DONE]", ""], pieces) == Final(prompt_tokens=4, completion_tokens=2, finish_reason="length")
    assert pieces == ["a", "b"]


@pytest.mark.parametrize("bad", ["data: {not json", "data: 42", "data: {}, {}"])
def test_a_bad_sse_event_among_good_ones_is_an_error_after_their_text(bad):
    pieces: list[str] = []
    with pytest.raises(UpstreamError, match="malformed"):
        _EventParser()(sse_text("a") + sse_text("b") + [bad, ""] + sse_text("c"), pieces)
    assert pieces == ["a", "b"]


def test_an_sse_error_event_keeps_the_text_before_it():
    pieces: list[str] = []
    lines = sse_text("a") + sse({"error": {"message": "rate limited upstream"}}) + sse_text("b")
    with pytest.raises(UpstreamError, match="rate limited upstream"):
        _EventParser()(lines, pieces)
    assert pieces == ["a"]
