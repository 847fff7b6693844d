"""langchain-tests' standard integration suites, against replica Spaces on real Gradio.

Tool calling and structured output run against the replica's fake model, which answers in
Qwen's tool-call format by the general rules in ``qwen_spaces/replica/toolmodel.py``.
Skipped standard tests are capabilities the Spaces lack: token usage (none reported),
PDF/audio/video input, image URLs fetched by the standard test from the internet; JSON mode
(``with_structured_output(method="json_mode")`` works, see ``test_tools.py``, but the
standard test names the keys only in English prose, which the fake model cannot read);
tools on QVQ (no system input). ``test_image_inputs`` runs for QVQ with its one download
served from a local file (see ``_offline_image``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_qwen_spaces import ChatQwenSpaces

from .conftest import BASE_URLS

LOCAL_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "assets" / "sample.png"


class _Base(ChatModelIntegrationTests):
    model_name = "qwen-2.5-max"

    @property
    def chat_model_class(self) -> type[ChatQwenSpaces]:
        return ChatQwenSpaces

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": self.model_name, "base_urls": dict(BASE_URLS), "timeout": 30}

    @property
    def returns_usage_metadata(self) -> bool:
        return False

    @property
    def model_override_value(self) -> str:
        return "qwen-2-72b"


class TestChatQwenSpacesText(_Base):
    pass


class TestChatQwenSpacesVision(_Base):
    model_name = "qvq-72b"

    @property
    def has_tool_calling(self) -> bool:
        return False  # QVQ has no system input to offer tools in

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return False  # works (see test_chat_models.py) but this test would fetch the internet

    @pytest.fixture(autouse=True)
    def _offline_image(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """``test_image_inputs`` downloads one PNG with httpx.get; serve it from disk."""
        real_get = httpx.get

        def get(url: str, *args: Any, **kwargs: Any) -> httpx.Response:
            if url.endswith(".png") and url.startswith("https://raw.githubusercontent.com/"):
                return httpx.Response(200, content=LOCAL_IMAGE.read_bytes(),
                                      request=httpx.Request("GET", url))
            return real_get(url, *args, **kwargs)

        monkeypatch.setattr(httpx, "get", get)
        yield
