"""`make demo`'s last words: a curl the service accepts."""

from __future__ import annotations

from training import demo


def test_the_demo_curl_is_a_valid_request():
    import shlex

    from serving.schemas import TriageRequest

    text = demo.try_it("http://127.0.0.1:3000", "trg_demo")
    words = shlex.split(" ".join(line.rstrip("\\") for line in text.splitlines()[2:]))
    assert words[:3] == ["curl", "-s", "http://127.0.0.1:3000/triage"]
    assert "Authorization: Bearer trg_demo" in words
    TriageRequest.model_validate_json(words[words.index("-d") + 1])
