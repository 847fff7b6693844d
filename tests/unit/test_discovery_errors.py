"""Discovery from real /config documents, and error classification."""

from __future__ import annotations

import copy
import pickle

import pytest

from qwen_spaces import QuotaExceededError, SpaceAppError, SpaceProtocolError
from qwen_spaces.catalog import CATALOG
from qwen_spaces.discovery import parse_config
from qwen_spaces.errors import app_error
from tests import captures

SPEC = CATALOG["qwen-2-72b"]


@pytest.mark.parametrize(("version", "prefix", "fmt"), [("6.31.0", "/gradio_api", "parts"),
                                                        ("4.44.1", "", "tuples")])
def test_parse_real_config(version: str, prefix: str, fmt: str) -> None:
    api = parse_config(SPEC, "http://127.0.0.1:7861", captures.config(version))
    assert api.version == version and api.protocol == "sse_v3" and api.api_prefix == prefix
    assert (api.fn_index, api.trigger_id) == (0, 5)  # the capture app's layout, not the pin
    assert api.input_roles == ("query", "history", "system")
    assert api.history_format == fmt and api.diffs and api.use_queue
    assert api.url("queue/join") == f"http://127.0.0.1:7861{prefix}/queue/join"


def test_live_api_that_no_longer_matches_names_the_space() -> None:
    cfg = captures.config("6.31.0")
    gone = copy.deepcopy(cfg)
    for dep in gone["dependencies"]:
        if dep.get("api_name") == "model_chat":
            dep["api_name"] = "chat_v2"
    with pytest.raises(SpaceProtocolError, match=r"Qwen/Qwen2-72B-Instruct no longer has the "
                                                 r"endpoint /model_chat.*/chat_v2"):
        parse_config(SPEC, "http://h", gone)
    fewer = copy.deepcopy(cfg)
    dep = next(d for d in fewer["dependencies"] if d.get("api_name") == "model_chat")
    dep["inputs"] = dep["inputs"][:2]
    with pytest.raises(SpaceProtocolError, match="number of inputs changed"):
        parse_config(SPEC, "http://h", fewer)
    old = dict(cfg, protocol="ws")
    with pytest.raises(SpaceProtocolError, match="does not support"):
        parse_config(SPEC, "http://h", old)


def test_root_is_used_only_on_the_same_origin() -> None:
    cfg = dict(captures.config("6.31.0"), root="https://x.hf.space/--replicas/ab12c/")
    assert parse_config(SPEC, "https://x.hf.space", cfg).root == \
        "https://x.hf.space/--replicas/ab12c"
    assert parse_config(SPEC, "https://other.host", cfg).root == "https://other.host"


def test_error_classification() -> None:
    quota = app_error("'You have exceeded your ZeroGPU quota (60s requested vs. 12s left). "
                      "Try again in 0:10:00.'", space="S")
    assert isinstance(quota, QuotaExceededError) and quota.retry_after == 600
    assert "'" not in str(quota)[:6]
    assert isinstance(app_error("Space app has reached its GPU limit.", space="S"),
                      QuotaExceededError)
    plain = app_error("boom", space="S")
    assert type(plain) is SpaceAppError and str(plain) == "S: boom"
    again = pickle.loads(pickle.dumps(quota))
    assert type(again) is QuotaExceededError and again.retry_after == 600 and again.space == "S"
