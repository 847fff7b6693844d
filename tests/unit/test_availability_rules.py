"""The pure rules behind waking and failover: stage kinds, whose stage to ask, which
failures move a call on, and how long a failed Space is skipped."""

from __future__ import annotations

import pytest

from qwen_spaces import SpaceClient
from qwen_spaces.errors import (
    QueueFullError,
    QuotaExceededError,
    SpaceAppError,
    SpaceAuthError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from qwen_spaces.failover import Cooldowns, failover_reason
from qwen_spaces.hub import hub_endpoint, is_space_id, stage_advice, stage_kind, subdomain_of

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("stage", "kind"), [
    ("RUNNING", "running"), ("RUNNING_BUILDING", "running"), ("running", "running"),
    ("SLEEPING", "asleep"), ("STOPPED", "asleep"),
    ("BUILDING", "starting"), ("APP_STARTING", "starting"),
    ("RUNNING_APP_STARTING", "starting"),
    ("PAUSED", "failed"), ("RUNTIME_ERROR", "failed"), ("BUILD_ERROR", "failed"),
    ("CONFIG_ERROR", "failed"), ("NO_APP_FILE", "failed"), ("DELETING", "failed"),
    ("SOMETHING_NEW", "unknown"), (None, "unknown"),
])
def test_every_hub_stage_has_the_documented_kind(stage: str | None, kind: str) -> None:
    assert stage_kind(stage) == kind


def test_stages_that_do_not_end_by_waiting_say_so() -> None:
    assert "will not come back by waiting" in stage_advice("PAUSED")
    assert "RUNTIME_ERROR" in stage_advice("runtime_error")
    assert stage_advice("WEIRD") == "is in stage WEIRD"


def test_hf_endpoint_is_honoured_as_huggingface_hub_reads_it() -> None:
    assert hub_endpoint({}) == "https://huggingface.co"
    assert hub_endpoint({"HF_ENDPOINT": ""}) == "https://huggingface.co"
    assert hub_endpoint({"HF_ENDPOINT": " https://hf-mirror.example/ "}) == \
        "https://hf-mirror.example"
    with pytest.raises(ValueError, match="HF_ENDPOINT"):
        hub_endpoint({"HF_ENDPOINT": "hf-mirror.example"})


@pytest.mark.parametrize(("url", "sub"), [
    ("https://me-qwen2-5-max-demo.hf.space", "me-qwen2-5-max-demo"),
    ("https://ME-Dup.HF.space:443/", "me-dup"),
    ("http://127.0.0.1:7860", None),
    ("https://hf.space", None),
    ("https://a.b.hf.space", None),
    ("https://evil.hf.space.example.com", None),
])
def test_only_hf_space_hosts_have_a_subdomain(url: str, sub: str | None) -> None:
    assert subdomain_of(url) == sub


@pytest.mark.parametrize(("value", "ok"), [
    ("Qwen/Qwen2.5-Max-Demo", True), ("me/my_dup.v2", True), ("Qwen", False),
    ("Qwen/", False), ("/x", False), ("a/b/c", False), ("a b/c", False),
])
def test_space_ids_are_owner_slash_name(value: str, ok: bool) -> None:
    assert is_space_id(value) is ok


def test_failover_moves_on_only_for_failures_of_the_space_not_of_the_request() -> None:
    quota = QuotaExceededError("q", retry_after=600.0)
    assert failover_reason(quota) == "ZeroGPU quota exhausted, retry in 10 min"
    assert failover_reason(QuotaExceededError("q")) == "ZeroGPU quota exhausted"
    assert failover_reason(QueueFullError("full")) == "its queue is full"
    assert failover_reason(SpaceTimeoutError("t", phase="connect")) == \
        "no connection within the connect timeout"
    assert failover_reason(SpaceUnavailableError("u", stage="PAUSED", status=503)) == \
        "not serving (stage PAUSED)"
    assert failover_reason(SpaceUnavailableError("u", status=502)) == "not serving (HTTP 502)"
    # The Hub says it runs, yet its host answered an error page: the status is the reason.
    for stage in ("RUNNING", "RUNNING_BUILDING"):
        assert failover_reason(SpaceUnavailableError("u", stage=stage, status=503)) == \
            "not serving (HTTP 503)"
    refused = SpaceUnavailableError("Qwen/Qwen2.5: cannot connect to http://127.0.0.1:9 "
                                    "(Connect call failed); check the URL and your network",
                                    space="Qwen/Qwen2.5")
    assert failover_reason(refused) == \
        "unreachable: cannot connect to http://127.0.0.1:9 (Connect call failed)"
    assert failover_reason(SpaceUnavailableError("")) == "unreachable"
    # A message that does not start with "{space}: " is not cut at a colon inside it.
    lost = SpaceUnavailableError("Qwen/Qwen2.5 lost the job (CUDA error: out of memory); "
                                 "try again", space="Qwen/Qwen2.5")
    assert failover_reason(lost) == \
        "unreachable: Qwen/Qwen2.5 lost the job (CUDA error: out of memory)"
    # The reason is the first clause after the Space's name, whatever it holds ("verify
    # failed: ..."), and however much advice follows.
    tls = SpaceUnavailableError(
        "Qwen/Qwen2.5: TLS certificate verification failed for https://x.hf.space ([SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
        "(_ssl.c:1006)). Fix the certificate (or the proxy); pass verify_ssl=False only for a "
        "host you trust.", space="Qwen/Qwen2.5")
    assert str(failover_reason(tls)).startswith(
        "unreachable: TLS certificate verification failed for https://x.hf.space ([SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate")
    proxied = SpaceUnavailableError(
        "Qwen/Qwen2.5: cannot connect to the proxy http://p:3128 (refused) on the way to "
        "https://x.hf.space; check the proxy; or list the host in NO_PROXY",
        space="Qwen/Qwen2.5")
    assert failover_reason(proxied) == \
        "unreachable: cannot connect to the proxy http://p:3128 (refused) on the way to " \
        "https://x.hf.space"
    # Request-level failures would fail the same way elsewhere, or need the caller.
    for exc in (SpaceTimeoutError("t", phase="idle"), SpaceTimeoutError("t", phase="queue"),
                SpaceTimeoutError("t", phase="request"), SpaceAuthError("a"),
                SpaceProtocolError("p"), SpaceAppError("app")):
        assert failover_reason(exc) is None, exc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_space_is_skipped_for_the_cooldown_then_asked_again() -> None:
    clock = Clock()
    book = Cooldowns(60.0, clock=clock)
    key = ("qwen-2.5", "https://x")
    book.failed(key, QueueFullError("full"), "its queue is full")
    assert book.skip_reason(key) == ("its queue is full; skipped for another 1 min", False)
    clock.now += 59.4
    assert book.skip_reason(key) == ("its queue is full; skipped for another 1 s", False)
    clock.now += 0.3  # still skipped: never "for another 0 s"
    assert book.skip_reason(key) == ("its queue is full; skipped for another 1 s", False)
    clock.now += 0.3
    assert book.skip_reason(key) is None
    assert book.skip_reason(("other", "https://x")) is None


def test_a_quota_error_is_skipped_until_its_retry_after_exactly() -> None:
    clock = Clock()
    book = Cooldowns(60.0, clock=clock)
    key = ("qwen-2.5-max", "https://y")
    book.failed(key, QuotaExceededError("q", retry_after=30.0), "quota")
    assert book.skip_reason(key) == ("quota; skipped for another 30 s", True)
    clock.now += 30.0
    assert book.skip_reason(key) is None
    book.failed(key, QuotaExceededError("q", retry_after=7500.0), "quota")
    assert book.skip_reason(key) == ("quota; skipped for another 2 h 5 min", True)
    book.succeeded(key)
    assert book.skip_reason(key) is None
    book.failed(key, QuotaExceededError("q", retry_after=330.0), "quota")
    assert book.skip_reason(key) == ("quota; skipped for another 5 min 30 s", True)
    book.failed(key, QueueFullError("full"), "full")  # no wait named: the cool-down
    assert book.skip_reason(key) == ("full; skipped for another 1 min", False)


def test_the_cooldown_is_60_s_unless_set_and_0_turns_it_off() -> None:
    clock = Clock()
    key = ("qwen-2.5", "https://x")
    book = Cooldowns(clock=clock)
    book.failed(key, QueueFullError("full"), "full")
    clock.now += 59.9
    assert book.skip_reason(key) is not None
    clock.now += 0.1
    assert book.skip_reason(key) is None
    off = Cooldowns(0.0, clock=clock)
    off.failed(key, QueueFullError("full"), "full")
    assert off.skip_reason(key) is None  # asked again at once
    Cooldowns(0.5)  # any wait >= 0 is allowed


def test_a_success_of_a_space_that_never_failed_is_nothing_to_forget() -> None:
    book = Cooldowns(60.0)
    book.succeeded(("qwen-2.5", "https://x"))
    assert book.skip_reason(("qwen-2.5", "https://x")) is None


def test_a_negative_cooldown_is_refused() -> None:
    with pytest.raises(ValueError, match="failover_cooldown"):
        Cooldowns(-1.0)


def test_a_chain_prepares_each_model_and_skips_those_that_cannot_take_the_request() -> None:
    client = SpaceClient(read_env_token=False)
    image = [{"role": "user", "content": "what is this?",
              "images": ["https://example.org/cat.png"]}]
    job = client.prepare("qwen-2.5", image, fallback_models=["qvq", "qwen-2-72b"])
    # Qwen2.5 takes no image: skipped before any request; QVQ leads; Qwen2-72B neither.
    assert [u.model for u in job.passed_over] == ["qwen-2.5"]
    assert job.choice.spec.name == "qvq-72b"
    assert [getattr(f, "model", None) for f in job.fallbacks] == ["qwen-2-72b"]  # Unfit
    assert "cannot see images" in job.passed_over[0].reason
    assert "cannot see images" in getattr(job.fallbacks[0], "reason", "")


def test_a_chain_no_model_of_which_can_take_the_request_is_a_value_error() -> None:
    client = SpaceClient(read_env_token=False)
    with pytest.raises(ValueError, match=r"no model in the chain.*qwen-2\.5:.*qwen-2-72b:"):
        client.prepare("qwen-2.5", USER, thinking=False, fallback_models=["qwen-2-72b"])


def test_variant_base_url_and_space_id_belong_to_the_first_model_only() -> None:
    client = SpaceClient(read_env_token=False, base_urls={"qwen-2-72b": "http://127.0.0.1:9"})
    job = client.prepare("qwen-2.5", USER, variant="7B", base_url="http://127.0.0.1:8",
                         space_id="me/Dup", fallback_models=["qwen-2.5", "qwen-2-72b"])
    assert job.choice.model_name == "qwen-2.5-7b"
    assert (job.base_url, job.space_id, job.choice.spec.space_id) == \
        ("http://127.0.0.1:8", "me/Dup", "me/Dup")
    (second,) = job.fallbacks  # "qwen-2.5" named twice is asked once
    assert not isinstance(second, str)
    assert getattr(second, "base_url", None) == "http://127.0.0.1:9"
    assert getattr(second, "space_id", "x") is None
    assert second.choice.model_name == "qwen-2-72b"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["qwen-2.5", ["qwen-2.5", ""], ["qwen-2.5", 3]])
def test_fallback_models_must_be_a_list_of_names(bad: object) -> None:
    client = SpaceClient(read_env_token=False)
    with pytest.raises(ValueError, match="fallback_models"):
        client.prepare("qwen-2.5", USER, fallback_models=bad)  # type: ignore[arg-type]


def test_an_unknown_fallback_model_is_the_callers_error() -> None:
    client = SpaceClient(read_env_token=False)
    with pytest.raises(ValueError, match="qwen-9"):
        client.prepare("qwen-2.5", USER, fallback_models=["qwen-9"])


def test_a_space_id_that_is_not_owner_slash_name_is_refused_before_any_request() -> None:
    client = SpaceClient(read_env_token=False)
    with pytest.raises(ValueError, match="owner/name"):
        client.prepare("qwen-2.5", USER, space_id="Qwen2.5")
    with pytest.raises(ValueError, match="wake_timeout"):
        SpaceClient(read_env_token=False, wake_timeout=0)
