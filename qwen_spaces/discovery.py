"""Reading a Space's live API from ``/config`` and checking it against the catalog.

The pinned values in the catalog are used only when ``/config`` cannot be read as a Gradio
config; when it can, what it says wins, and a live layout that no longer fits the catalog
(missing endpoint, different inputs) is an error naming the Space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .catalog import STATE_ROLES, InputRole, SpaceSpec
from .errors import SpaceProtocolError

__all__ = ["SpaceAPI", "StepAPI", "parse_config", "pinned_api"]

_DIFF_PROTOCOLS = {"sse_v2", "sse_v2.1", "sse_v3"}
_QUEUE_PROTOCOLS = {"sse_v1", *_DIFF_PROTOCOLS}


@dataclass(frozen=True)
class StepAPI:
    """A helper listener called on the same session before the answer's: Qwen2.5-1M's
    ``add_text`` prelude, Qwen3-Demo's thinking switch. Reached by ``/run/predict``."""

    fn_index: int
    trigger_id: int | None
    input_roles: tuple[InputRole | None, ...]


@dataclass(frozen=True)
class SpaceAPI:
    """Everything the transport needs to call one endpoint of one Space."""

    space: str
    root: str
    api_prefix: str
    protocol: str
    version: str | None
    api_name: str
    fn_index: int
    trigger_id: int | None
    input_roles: tuple[InputRole | None, ...]
    history_format: str | None
    history_item: str
    reply_output: int
    reply_kind: str
    diffs: bool
    use_queue: bool
    call_allowed: bool
    max_file_size: int | None
    source: str  # "config" or "pinned"
    prelude: StepAPI | None = None
    #: The listener that flips the session's thinking switch (None: the Space has none).
    thinking_switch: StepAPI | None = None

    def url(self, route: str) -> str:
        return f"{self.root}{self.api_prefix}/{route.lstrip('/')}"

    def describe(self) -> dict[str, Any]:
        return {
            "space": self.space, "root": self.root, "gradio_version": self.version,
            "protocol": self.protocol, "api_prefix": self.api_prefix or "(none)",
            "endpoint": f"/{self.api_name}", "fn_index": self.fn_index,
            "trigger_id": self.trigger_id, "inputs": [r or "state" for r in self.input_roles],
            "history_format": self.history_format, "source": self.source,
        }


def pinned_api(spec: SpaceSpec, base_url: str) -> SpaceAPI:
    return SpaceAPI(
        space=spec.space_id, root=base_url, api_prefix=spec.api_prefix, protocol="sse_v3",
        version=None, api_name=spec.api_name, fn_index=spec.fn_index,
        trigger_id=spec.trigger_id, input_roles=spec.inputs,
        history_format=spec.history_format or ("tuples" if spec.supports_history else None),
        history_item=spec.history_item, reply_output=spec.reply_output,
        reply_kind=spec.reply_kind, diffs=True, use_queue=True, call_allowed=spec.api_open,
        max_file_size=None, source="pinned",
        prelude=StepAPI(spec.prelude.fn_index, spec.prelude.trigger_id, spec.prelude.inputs)
        if spec.prelude else None,
        thinking_switch=StepAPI(_PINNED_SWITCH, None, ("thinking",)) if spec.thinking else None,
    )


#: Qwen3-Demo's thinking button click (listener 3), for when ``/config`` cannot be read.
_PINNED_SWITCH = 3


def parse_config(spec: SpaceSpec, base_url: str, config: dict[str, Any]) -> SpaceAPI:
    """Build the :class:`SpaceAPI` from a ``/config`` document; raise if it no longer fits."""
    space = spec.space_id
    version = config.get("version")
    version = str(version) if version is not None else None
    protocol = str(config.get("protocol") or "ws")
    if protocol not in _QUEUE_PROTOCOLS:
        raise SpaceProtocolError(
            f"{space} speaks Gradio protocol {protocol!r} (Gradio {version or '3.x'}), which "
            "this client does not support (it needs Gradio >= 4.9)", space=space)
    deps = config.get("dependencies")
    components = config.get("components")
    if not isinstance(deps, list) or not isinstance(components, list):
        raise SpaceProtocolError(f"{space}: /config has no dependencies/components", space=space)
    by_id = {c.get("id"): c for c in components if isinstance(c, dict)}

    found = _find(deps, spec.api_name)
    if found is None:
        names = sorted({str(d.get("api_name")) for d in deps
                        if isinstance(d, dict) and d.get("api_name")})
        raise SpaceProtocolError(
            f"{space} no longer has the endpoint /{spec.api_name} (it has: "
            f"{', '.join('/' + n for n in names) or 'none'}). The Space changed its API; "
            "update qwen-spaces or report it.", space=space)
    pos, dep = found
    fn_index = dep.get("id", pos)
    trigger_id = _trigger(dep)

    roles, history_format = _map_inputs(spec, spec.inputs, dep, by_id, version)
    outputs = dep.get("outputs", [])
    if spec.reply_output >= len(outputs):
        raise _mismatch(spec, dep, by_id, "the answer output is missing")
    out_type = by_id.get(outputs[spec.reply_output], {}).get("type")
    if spec.reply_kind != "text" and "chatbot" not in str(out_type).lower():
        raise _mismatch(spec, dep, by_id, f"output {spec.reply_output} is a {out_type!r}")

    prelude = None
    if spec.prelude is not None:
        step = spec.prelude
        found_step = _find(deps, step.api_name)
        if found_step is None:
            raise _mismatch(spec, dep, by_id, f"the /{step.api_name} step is gone")
        step_pos, step_dep = found_step
        step_roles, _ = _map_inputs(spec, step.inputs, step_dep, by_id, version)
        prelude = StepAPI(int(step_dep.get("id", step_pos)), _trigger(step_dep), step_roles)
    switch = None
    if spec.thinking:
        switch = _thinking_switch(deps, dep, roles)
        if switch is None:
            raise _mismatch(spec, dep, by_id, "no listener switches the thinking state")

    return SpaceAPI(
        space=space, root=_root(base_url, config.get("root")),
        api_prefix=str(config.get("api_prefix") or "").rstrip("/"), protocol=protocol,
        version=version, api_name=spec.api_name, fn_index=int(fn_index),
        trigger_id=trigger_id, input_roles=tuple(roles), history_format=history_format,
        history_item=spec.history_item, reply_output=spec.reply_output,
        reply_kind=spec.reply_kind,
        diffs=protocol in _DIFF_PROTOCOLS and dep.get("connection") != "stream",
        use_queue=dep.get("queue") is not False and config.get("enable_queue", True) is not False,
        call_allowed=spec.api_open and bool(dep.get("api_name")),
        max_file_size=config.get("max_file_size") if isinstance(
            config.get("max_file_size"), int) else None,
        source="config", prelude=prelude, thinking_switch=switch,
    )


def _find(deps: list[Any], api_name: str) -> tuple[int, dict[str, Any]] | None:
    for pos, dep in enumerate(deps):
        if isinstance(dep, dict) and str(dep.get("api_name") or "").lstrip("/") == api_name:
            return pos, dep
    return None


def _trigger(dep: dict[str, Any]) -> int | None:
    targets = dep.get("targets") or []
    return targets[0][0] if targets and isinstance(targets[0], list) else None


def _map_inputs(spec: SpaceSpec, wanted_roles: tuple[InputRole, ...], dep: dict[str, Any],
                by_id: dict[Any, Any], version: str | None,
                ) -> tuple[tuple[InputRole | None, ...], str | None]:
    """One role per live input, in order. A ``gr.State`` slot takes the catalog's next role
    when that is a state role, else None (sent as null); every other input takes the next
    non-state role. Anything left over on either side means the API changed."""
    roles: list[InputRole | None] = []
    wanted = list(wanted_roles)
    history_format = None
    for cid in dep.get("inputs", []):
        comp = by_id.get(cid, {})
        if comp.get("type") == "state":
            roles.append(wanted.pop(0) if wanted and wanted[0] in STATE_ROLES else None)
            continue
        if not wanted or wanted[0] in STATE_ROLES:
            roles.append("extra")  # type: ignore[arg-type]
            continue
        role = wanted.pop(0)
        if role == "history":
            if "chatbot" not in str(comp.get("type")):  # subclasses keep "chatbot" in name
                raise _mismatch(spec, dep, by_id, f"input {len(roles)} is a "
                                f"{comp.get('type')!r}, expected the chatbot")
            history_format = _chatbot_format(comp, version)
        roles.append(role)
    if wanted or "extra" in roles:
        raise _mismatch(spec, dep, by_id, "the number of inputs changed")
    return tuple(roles), history_format


def _thinking_switch(deps: list[Any], dep: dict[str, Any],
                     roles: tuple[InputRole | None, ...]) -> StepAPI | None:
    """The listener whose only input and only output is the answer listener's thinking
    state: Qwen3-Demo's thinking button (it flips ``enable_thinking``)."""
    if "thinking" not in roles:
        return None
    state_id = dep["inputs"][roles.index("thinking")]  # roles: one per live input
    for pos, other in enumerate(deps):
        if (isinstance(other, dict) and other is not dep
                and other.get("inputs") == [state_id] and other.get("outputs") == [state_id]):
            return StepAPI(int(other.get("id", pos)), _trigger(other), ("thinking",))
    return None


def _chatbot_format(comp: dict[str, Any], version: str | None) -> str:
    major = _major(version)
    if major is not None and major >= 6:
        return "parts"
    kind = (comp.get("props") or {}).get("type")
    return "messages" if kind == "messages" else "tuples"


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except (TypeError, ValueError):
        return None


def _root(base_url: str, root: object) -> str:
    """Use the server's ``root`` only when it is the same origin as what we were given.

    (On Spaces it can pin a replica: ``https://x.hf.space/--replicas/ab12c``.)
    """
    if isinstance(root, str) and root:
        a, b = urlsplit(base_url), urlsplit(root)
        if (a.scheme, a.netloc) == (b.scheme, b.netloc):
            return root.rstrip("/")
    return base_url


def _mismatch(spec: SpaceSpec, dep: dict[str, Any], by_id: dict[Any, Any], why: str) -> \
        SpaceProtocolError:
    live = [by_id.get(c, {}).get("type", "?") for c in dep.get("inputs", [])]
    return SpaceProtocolError(
        f"{spec.space_id}: the live /{spec.api_name} endpoint no longer matches the catalog "
        f"({why}; live inputs: {live}, catalog expects: {list(spec.inputs)}). The Space "
        "changed its API; update qwen-spaces or report it.", space=spec.space_id)
