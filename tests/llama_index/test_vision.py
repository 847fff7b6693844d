"""Image blocks reach QVQ as the exact uploaded image; text-only models refuse them."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock
from PIL import Image

from llama_index_qwen_spaces import QwenSpacesLLM
from qwen_spaces.replica import ReplicaSet
from tests.servers import Front, file_reply

TOKEN = "hf_vision_test_token_never_leaves_the_space"


def png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def ask(image: ImageBlock, question: str = "What is in this picture?") -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, blocks=[image, TextBlock(text=question)])]


async def test_qvq_sees_the_exact_image(replicas: ReplicaSet, tmp_path: Path) -> None:
    data = png(7, 5, (200, 10, 10))
    path = tmp_path / "red.png"
    path.write_bytes(data)
    with Image.open(path) as img:
        size = f"{img.width}x{img.height}"
    described = f"image: PNG {size} sha256:{hashlib.sha256(data).hexdigest()[:12]}"
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    async with Front(overrides={"/pics/red.png": file_reply(data, "image/png")}) as front:
        llm = QwenSpacesLLM(model="qvq-72b", base_url=replicas.url("qvq-72b"), hf_token=TOKEN)
        blocks = {"path": ImageBlock(path=path), "bytes": ImageBlock(image=data),
                  "http url": ImageBlock(url=f"{front.url}/pics/red.png"),
                  "data uri": ImageBlock(url=uri)}
        for name, block in blocks.items():
            response = await llm.achat(ask(block))
            text = response.message.content or ""
            assert described in text, name
            assert "query: What is in this picture?" in text, name
        sync_text = llm.chat(ask(ImageBlock(path=path), "sync?")).message.content or ""
        assert described in sync_text and "query: sync?" in sync_text
        fetched = front.headers_for("/pics/red.png")
        assert len(fetched) == 1
        assert "x-hf-authorization" not in fetched[0]  # the token never goes to image hosts
    no_image = await llm.acomplete("no picture")
    assert "image: no image" in no_image.text


@pytest.mark.parametrize("model", ["qwen-2.5-max", "qwen-2-72b"])
async def test_text_only_models_refuse_images_before_any_request(
        replicas: ReplicaSet, model: str, tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(png(3, 3, (0, 0, 0)))
    async with Front(target=replicas.url(model)) as front:
        llm = QwenSpacesLLM(model=model, base_url=front.url, hf_token=None)
        with pytest.raises(ValueError, match="text-only model"):
            await llm.achat(ask(ImageBlock(path=path)))
        with pytest.raises(ValueError, match="text-only model"):
            llm.stream_chat(ask(ImageBlock(image=path.read_bytes())))
        assert front.seen == []
