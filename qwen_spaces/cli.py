"""``qwen-spaces``: chat with, inspect, list and serve the Qwen Spaces from a terminal.

Expected failures (quota, full queue, Space asleep, no network, bad input) print one line
and exit with a distinct code; they never print a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import sync
from .catalog import CATALOG, SpaceSpec, resolve_model
from .client import BASE_URLS_ENV, SpaceClient
from .discovery import SpaceAPI
from .errors import (
    QueueFullError,
    QuotaExceededError,
    SpaceAuthError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .events import (
    Finished,
    ProcessStarted,
    QueuePosition,
    ReasoningDelta,
    SpaceLog,
    SpaceSkipped,
    SpaceWaking,
    TextDelta,
)
from .health import SpaceHealth, catalog_drift, probe, probe_all
from .status import describe
from .transport import VERSION, Timeouts

__all__ = ["MissingExtraError", "main"]


class MissingExtraError(Exception):
    """A command needs an optional extra that is not installed (a core-only install)."""

    def __init__(self, what: str, extra: str, missing: str) -> None:
        super().__init__(f"{what} needs the [{extra}] extra ({missing} is not installed); "
                         f'install it with: pip install "qwen-spaces[{extra}]"')


#: Exit codes by failure, most specific first.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (QuotaExceededError, 3), (QueueFullError, 4), (SpaceUnavailableError, 5),
    (SpaceTimeoutError, 6), (SpaceProtocolError, 7), (MissingExtraError, 8),
    (SpaceAuthError, 9), (SpaceError, 1),
    (ValueError, 2),
)

#: What each extra brings, by import name (``replica`` for serve/--replica, ``all`` for demo).
EXTRAS: dict[str, tuple[str, ...]] = {
    "replica": ("gradio", "PIL"),
    "all": ("langchain_core", "llama_index.core", "gradio", "PIL"),
}

TOKEN_HELP = (
    "Hugging Face token (more ZeroGPU quota, private Spaces). Default: $HF_TOKEN, then the "
    "file $HF_TOKEN_PATH, then $HF_HOME/token (~/.cache/huggingface/token), which is where "
    "`hf auth login` saves it. Prefer those to --token: a flag shows in the process list.")

CHAT_HELP = """\
commands (handled here, never sent to the model):
  /help            this list
  /reset           forget the conversation (the system prompt stays)
  /system TEXT     set the system prompt; /system alone goes back to the Space's default
  /exit, /quit     leave (or Ctrl-D)
Any other line, including one starting with another /word (the replicas' directives such as
/quota or /slow 20), goes to the model; start a line with // to send a literal /help etc.
An empty line does nothing. Ctrl-C stops the answer being streamed: that question and its
partial answer are dropped from the conversation. Ctrl-C at the prompt clears the line.
A failed answer (quota, timeout, Space unavailable) prints one error line; the
conversation is kept.
Reasoning (qwen-3's thinking; --no-thinking turns it off) is written to stderr, dimmed on
a terminal, before the answer; it is not kept in the conversation."""

STATUS_HELP = """\
Which Spaces are up, without using them: the Hub's stage and hardware for each Space, one
GET /config to its host (how long it took, the Gradio version, whether the live API still
fits the catalog) and the queue size where Gradio reports it. Nothing is queued and no Space
is woken beyond that one request.

verdict: unusable when the Hub says the Space will not come back by waiting (PAUSED, an error
stage), or when it should be serving and /config fails or the API no longer fits; a sleeping
or starting Space is usable (the first call waits for it). A host that is no Hub Space (a
replica, $QWEN_SPACES_BASE_URLS) shows the catalog Space's stage as "OWNER/NAME: STAGE"; it
does not count in that host's verdict. Offline, the stage says "cannot reach the Hub".

exit status: 0 when every named MODEL is usable (always, with no MODEL named), 5 when one is
not, 2 for bad input."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-spaces", description=__doc__.split("\n")[0],
        epilog="token: --token, else $HF_TOKEN, else the file $HF_TOKEN_PATH, else "
               "$HF_HOME/token (~/.cache/huggingface/token, written by `hf auth login`). "
               f"${BASE_URLS_ENV}=model=url,... sends a model to another host (a replica).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="stream an answer (interactive when no prompt is given)",
                          epilog=CHAT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    chat.add_argument("prompt", nargs="?", help="the question; omit for an interactive session")
    chat.add_argument("--model", "-m", default="qwen-2.5-max")
    chat.add_argument("--system", "-s", help="system prompt")
    chat.add_argument("--image", "-i", help="image path or URL (vision models)")
    chat.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None,
                      help="qwen-3: think before answering (default: the Space's, on); the "
                      "thinking is shown dimmed, apart from the answer")
    chat.add_argument("--thinking-budget", type=int, metavar="TOKENS",
                      help="qwen-3: most tokens to think for (1000 to 38000)")
    chat.add_argument("--fallback", action="append", metavar="MODEL",
                      help="ask MODEL when the model cannot answer before its first word "
                      "(asleep past --wake-timeout, paused, out of quota, queue full, "
                      "unreachable); repeat for more, tried in order")
    chat.add_argument("--wake-timeout", type=float, metavar="SECONDS",
                      help="how long to wait for a sleeping or starting Space to come up "
                      "(default 300)")
    _space_id(chat)
    _common(chat)

    inspect = sub.add_parser("inspect", help="show a Space's live API and whether it matches")
    inspect.add_argument("model")
    _common(inspect)

    status = sub.add_parser(
        "status", help="which Spaces are up: Hub stage, /config, Gradio version, API, queue",
        description=STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("models", nargs="*", metavar="MODEL",
                        help="the models to check (default: every catalog Space)")
    status.add_argument("--json", action="store_true", help="print a JSON list instead")
    status.add_argument("--base-url", help="check this host instead of the Space (one MODEL)")
    _space_id(status)
    status.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="seconds allowed for each request (default 10)")
    status.add_argument("--token", help=TOKEN_HELP)
    status.add_argument("--proxy", metavar="URL", help="HTTP proxy for the requests")

    sub.add_parser("models", help="list the catalog")
    demo = sub.add_parser("demo", help="a LangChain chain and a LlamaIndex query engine "
                          "streaming from local replicas (needs the [all] extra)")
    demo.add_argument("--model", "-m", action="append")
    sub.add_parser("serve", help="serve local replicas of every Space (needs [replica])",
                   add_help=False)

    from .openai_api.runner import DESCRIPTION, EPILOG, add_arguments

    api = sub.add_parser("api", help="serve every Space as an OpenAI-compatible API",
                         description=DESCRIPTION, epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(api)
    api.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                     help="seconds allowed for connecting to a Space, for each request and "
                          "for each silence on its stream (default 60)")
    api.add_argument("--token", help=TOKEN_HELP)
    api.add_argument("--proxy", metavar="URL",
                     help="HTTP proxy for the requests to the Spaces (default: HTTPS_PROXY / "
                          "HTTP_PROXY, minus NO_PROXY)")
    api.add_argument("--replica", action="store_true",
                     help="start local replicas of the Spaces and serve those instead (needs "
                          "[replica]; for trying clients offline)")
    return parser


def _space_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space-id", metavar="OWNER/NAME",
                   help="the Hub Space behind --base-url (a duplicate, a self-hosted copy): "
                        "whose stage to ask and to name in messages")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", help="talk to this host instead of the Space (e.g. a replica)")
    p.add_argument("--replica", action="store_true",
                   help="start local replica Spaces and talk to them (needs [replica])")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds allowed for connecting, for each request and for each "
                        "silence on the stream, as the adapters' timeout= (default 60); the "
                        "wait in the Space's queue has its own limit (300 s)")
    p.add_argument("--token", help=TOKEN_HELP)
    p.add_argument("--proxy", metavar="URL", help="HTTP proxy for the requests to the Space")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["serve"]:
            if not any(a.startswith(("--gradio-python", "-h", "--help")) for a in argv):
                _need("qwen-spaces serve", "replica")
            from .replica.serve import serve

            return serve(argv[1:])
        args = _parser().parse_args(argv)
        if args.command == "models":
            return _models()
        if args.command == "demo":
            return _demo(args.model)
        if args.command == "api":
            return _api(args)
        if args.command == "status":
            return _status_command(args)
        with _endpoint(args) as client:
            if args.command == "inspect":
                return _inspect(client, args)
            return _chat(client, args)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except BrokenPipeError:
        # The reader left (``qwen-spaces status | head``): the rest is not wanted. Point
        # stdout at /dev/null so that the interpreter's last flush does not fail as well.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a command ended by SIGPIPE
    except (SpaceError, ValueError, MissingExtraError) as exc:
        _error(exc)
        return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


#: The library's setting names in messages, as this command spells them.
CLI_TERMS = (("fallback_models=", "--fallback"), ("wake_timeout", "--wake-timeout"))


def _error(exc: BaseException) -> None:
    """The one ``error:`` line for a failure, in the command's own words."""
    text = " ".join(str(exc).split())
    for term, flag in CLI_TERMS:
        text = text.replace(term, flag)
    sys.stderr.write(f"error: {text}\n")


def _need(what: str, extra: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` can be imported."""
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package is missing, or an import hook refused it
            found = False
        if not found:
            raise MissingExtraError(what, extra, module.split(".")[0])


def _options(args: argparse.Namespace, queue: float | None = None) -> dict[str, Any]:
    """The client settings every command takes: ``--timeout``, ``--token``, ``--proxy``."""
    return {"timeouts": Timeouts.from_timeout(args.timeout, queue=queue),
            "hf_token": args.token, "proxy": args.proxy}


@contextmanager
def _endpoint(args: argparse.Namespace) -> Iterator[SpaceClient]:
    options = _options(args)
    if getattr(args, "wake_timeout", None) is not None:
        options["wake_timeout"] = args.wake_timeout
    model = resolve_model(args.model).spec.name
    if args.replica:
        _need("--replica", "replica")
        from .replica import ReplicaSet

        fallbacks = getattr(args, "fallback", None) or ()
        chain = list(dict.fromkeys([model, *(resolve_model(m).spec.name for m in fallbacks)]))
        with ReplicaSet(chain) as replicas:
            for name in chain:
                sys.stderr.write(f"[talking to a local replica of {CATALOG[name].space_id} at "
                                 f"{replicas.url(name)}]\n")
            yield SpaceClient(base_urls={name: replicas.url(name) for name in chain},
                              **options)
        return
    base = {model: args.base_url} if args.base_url else None
    yield SpaceClient(base_urls=base, **options)


def _api(args: argparse.Namespace) -> int:
    """``qwen-spaces api``: the OpenAI-compatible endpoint (see qwen_spaces.openai_api)."""
    from .openai_api.runner import serve

    options = _options(args, queue=args.queue_timeout)
    if not args.replica:
        return serve(args, SpaceClient(**options))
    _need("--replica", "replica")
    from .replica import ReplicaSet

    with ReplicaSet() as replicas:
        urls = {name: replicas.url(name) for name in replicas.models}
        sys.stderr.write(f"[serving local replicas of {', '.join(urls)}]\n")
        return serve(args, SpaceClient(base_urls=urls, **options))


def _models() -> int:
    """One line per Space: what it takes, how sure the catalog is of its layout, aliases."""
    print(f"{'model':<15} {'space':<26} {'takes':<32} {'layout':<10} aliases")
    for spec in CATALOG.values():
        takes = [name for name, has in (
            ("history", spec.supports_history or spec.turn == "session"),
            ("system", spec.supports_system), ("tools", spec.tool_calling),
            ("images", spec.vision), ("thinking", spec.thinking)) if has]
        aliases = ", ".join(spec.aliases)
        variants = f" (variants: {', '.join(spec.variants)})" if spec.variants else ""
        print(f"{spec.name:<15} {spec.space_id:<26} {','.join(takes) or '-':<32} "
              f"{spec.layout:<10} {aliases}{variants}")
    return 0


def _inspect(client: SpaceClient, args: argparse.Namespace) -> int:
    spec = resolve_model(args.model).spec
    api = client.discover(spec.name)
    for key, value in api.describe().items():
        print(f"{key:<15} {value}")
    for line in catalog_check(spec, api):
        print(line)
    return 0


def catalog_check(spec: SpaceSpec, api: SpaceAPI) -> list[str]:
    """``inspect``'s verdict on the live API: it fits (discovery raised otherwise), and what
    it has that the catalog pins otherwise (:func:`qwen_spaces.health.catalog_drift`)."""
    if api.source != "config":
        return [f"{'catalog check':<15} not checked: /config is not a Gradio config here, so "
                "calls use the catalog's pinned values"]
    inputs = ", ".join(r for r in api.input_roles if r)
    return [f"{'catalog check':<15} ok: endpoint /{api.api_name} with inputs ({inputs}) as "
            "the catalog expects",
            *(f"{'  differs':<15} {note}" for note in catalog_drift(spec, api))]


def _status_command(args: argparse.Namespace) -> int:
    """``qwen-spaces status``: the table (or ``--json``); exit 5 when a named model is not
    usable."""
    if (args.base_url or args.space_id) and len(args.models) != 1:
        raise ValueError("--base-url and --space-id need exactly one MODEL")
    names = [resolve_model(m).spec.name for m in args.models]
    client = SpaceClient(**_options(args))
    if len(names) == 1:
        found = [sync.run(probe(client, names[0], base_url=args.base_url,
                                space_id=args.space_id))]
    else:
        found = sync.run(probe_all(client, names or None))
    if args.json:
        print(json.dumps([h.as_dict() for h in found], indent=2))
    else:
        _print_status(found)
    return 5 if names and not all(h.usable for h in found) else 0


def _where(h: SpaceHealth) -> str:
    """The Space that serves the host, else (unknown, or not a Hub Space) the host."""
    return h.url if h.stage_source == "catalog" or h.space_id is None else h.space_id


def _stage_cell(h: SpaceHealth) -> str:
    """The Hub's stage, or why there is none; labelled with the Space when it is the
    catalog's rather than the host's."""
    stage = h.stage or h.hub_failure or "-"
    return stage if h.stage_source == "host" else f"{h.space_id}: {stage}"


def _api_cell(h: SpaceHealth) -> str:
    if h.api_matches is None:
        return "-" if h.config_ms is None else "not checked"
    return "matches" if h.api_matches else "drift"


#: ``qwen-spaces status`` columns: the header, and the cell for one Space.
STATUS_COLUMNS: tuple[tuple[str, Callable[[SpaceHealth], str]], ...] = (
    ("model", lambda h: h.model),
    ("space (or host)", _where),
    ("hub stage", _stage_cell),
    ("hardware", lambda h: h.hardware or "-"),
    ("config", lambda h: f"{h.config_ms} ms" if h.config_ms is not None
     else h.config_failure or "-"),
    ("gradio", lambda h: h.gradio or "-"),
    ("api", _api_cell),
    ("queue", lambda h: "-" if h.queue_size is None else str(h.queue_size)),
    ("verdict", lambda h: f"{'usable' if h.usable else 'UNUSABLE'}: {h.reason}"),
)


def _print_status(found: Sequence[SpaceHealth]) -> None:
    """The table, then what its cells leave out (each text once, with its models)."""
    rows = [[header for header, _ in STATUS_COLUMNS],
            *([cell(h) for _, cell in STATUS_COLUMNS] for h in found)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATUS_COLUMNS) - 1)]
    for row in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)),
                         row[-1]]))
    notes: dict[str, list[str]] = {}
    for h in found:
        details = [f"hub: {h.hub_error}" if h.hub_error else "",
                   f"config: {h.config_error}" if h.config_error else "",
                   *(f"api: {n}" for n in h.api_notes if not h.api_matches)]
        for text in filter(None, details):
            notes.setdefault(text, []).append(h.model)
    if any(h.stage_source == "catalog" for h in found):
        notes["hub stage OWNER/NAME: STAGE is the catalog Space's stage on the Hub, not the "
              "host's; it does not count in the verdict"] = []
    if notes:
        print()
    for text, models in notes.items():
        print(f"{', '.join(models)}: {text}" if models else text)


def _chat(client: SpaceClient, args: argparse.Namespace) -> int:
    model = resolve_model(args.model).spec.name
    system = [{"role": "system", "content": args.system}] if args.system else []
    images = [args.image] if args.image else []
    options = {key: value for key, value in (("thinking", args.thinking),
                                             ("thinking_budget", args.thinking_budget),
                                             ("space_id", args.space_id),
                                             ("fallback_models", args.fallback))
               if value is not None}
    if args.prompt is not None:
        _answer(client, args.model, [*system, _user(args.prompt, images)], options)
        return 0
    return _interactive(client, args.model, model, system, images, options)


def _user(text: str, images: list[str]) -> dict[str, Any]:
    return {"role": "user", "content": text, "images": images}


def _interactive(client: SpaceClient, model: str, name: str,
                 system: list[dict[str, Any]], images: list[str],
                 options: dict[str, Any]) -> int:
    """The conversation loop; see :data:`CHAT_HELP` for what the user can type."""
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
    where = client.base_urls.get(name) or CATALOG[name].url
    source = f" (from ${BASE_URLS_ENV})" if where in client._env_hosts else ""
    space = options.get("space_id") or CATALOG[name].space_id
    fallbacks = options.get("fallback_models")
    then = f", falling back to {', '.join(fallbacks)}" if fallbacks else ""
    sys.stderr.write(f"qwen-spaces chat with {name} ({space}) at {where}{source}{then}. "
                     "/help for commands, Ctrl-D to quit.\n")
    turns: list[dict[str, Any]] = []
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            sys.stdout.write("\n(line cleared; /exit or Ctrl-D to quit)\n")
            continue
        if not line:
            continue
        command, _, rest = line.partition(" ")
        if command in ("/exit", "/quit"):
            return 0
        if command == "/help":
            print(CHAT_HELP)
            continue
        if command == "/reset":
            turns = []
            print("(conversation cleared)")
            continue
        if command == "/system":
            system = [{"role": "system", "content": rest.strip()}] if rest.strip() else []
            print(f"(system prompt {'set' if system else 'back to the Space default'})")
            continue
        if line.startswith("//"):
            line = line[1:]
        question = _user(line, images)
        try:
            reply = _answer(client, model, [*system, *turns, question], options)
        except KeyboardInterrupt:
            sys.stderr.write("[stopped; this question and its partial answer are not kept]\n")
            continue
        except (SpaceError, ValueError) as exc:
            _error(exc)
            continue
        images = []
        turns += [question, {"role": "assistant", "content": reply}]


@dataclass
class _Answer:
    text: str = ""
    muted: bool = False  # set on Ctrl-C: nothing more is printed
    open_line: bool = False  # answer text printed, its line not ended yet
    thinking: bool = False  # reasoning printed, its block not closed yet
    done: threading.Event = field(default_factory=threading.Event)


def _answer(client: SpaceClient, model: str, messages: list[dict[str, Any]],
            options: dict[str, Any] | None = None) -> str:
    """Stream one answer to stdout; return its text.

    The answer runs as one task on the client's background loop. Ctrl-C here cancels that
    task, whose stream then closes in the same task (cancelling the job on the Space); we
    wait briefly for that so that nothing more is printed, then re-raise.
    """
    state = _Answer()
    # Validates now: a ValueError (thinking on a Space without it, ...) is raised here.
    events = client.astream(model, messages, **(options or {}))
    try:
        sync.run(_print_answer(events, state))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            state.muted = True
            state.done.wait(5)
        if state.open_line:  # the error line or the prompt starts on a line of its own
            sys.stdout.write("\n")
            sys.stdout.flush()
        raise
    return state.text


async def _print_answer(events: AsyncGenerator[Any, None], state: _Answer) -> None:
    try:
        async with aclosing(events) as stream:
            async for event in stream:
                if state.muted:
                    break
                if isinstance(event, ReasoningDelta):
                    _thought(event.text, state)
                elif isinstance(event, TextDelta):
                    _end_thought(state)
                    if event.replaced:
                        sys.stdout.write("\b" * event.replaced)
                    state.text = state.text[:len(state.text) - event.replaced] + event.text
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                    state.open_line = True
                elif isinstance(event, STATUS_EVENTS):
                    _status(event)
                elif isinstance(event, Finished):
                    _end_thought(state)
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    state.open_line = False
                    _answered_by(event)
    finally:
        state.done.set()


#: Events shown as a status line while an answer is awaited (see :func:`_status`).
STATUS_EVENTS = (QueuePosition, ProcessStarted, SpaceLog, SpaceWaking, SpaceSkipped)

DIM, RESET = "\x1b[2m", "\x1b[0m"


def _dim(text: str) -> str:
    """``text`` dimmed when stderr is a terminal (and NO_COLOR is not set)."""
    return f"{DIM}{text}{RESET}" if sys.stderr.isatty() and not os.environ.get("NO_COLOR") \
        else text


def _thought(text: str, state: _Answer) -> None:
    """Reasoning goes to stderr (so stdout holds only the answer), dimmed on a terminal."""
    if not state.thinking:
        state.thinking = True
        sys.stderr.write(_dim("[thinking]") + "\n")
    sys.stderr.write(_dim(text))
    sys.stderr.flush()


def _answered_by(final: Finished) -> None:
    """After an answer from a fallback model: which one, and why those before it did not
    answer (``Finished.extra["failover"]``), on one dim stderr line."""
    info = final.extra.get("failover")
    if not isinstance(info, dict) or not info.get("skipped"):
        return
    skipped = "; ".join(f"{s['model']}: {s['reason']}" for s in info["skipped"])
    sys.stderr.write(_dim(f"[answered by {info['model']} ({info['space_id']}); skipped "
                          f"{skipped}]") + "\n")
    sys.stderr.flush()


def _end_thought(state: _Answer) -> None:
    if state.thinking:
        state.thinking = False
        sys.stderr.write("\n[end of thinking]\n\n")
        sys.stderr.flush()


def _status(event: Any) -> None:
    if sys.stderr.isatty() or os.environ.get("QWEN_SPACES_STATUS"):
        text = describe(event)
        if text:
            sys.stderr.write(f"[{text}]\n")


def _demo(models: list[str] | None) -> int:
    """The package end to end, offline: local replicas, then a LangChain chain and a
    LlamaIndex query engine streaming from them (needs the ``all`` extra)."""
    _need("qwen-spaces demo", "all")
    from .replica import spaces_or_replicas

    os.environ.setdefault("QWEN_SPACES_REPLICA", "1")
    names = [resolve_model(m).spec.name for m in models] if models else ["qwen-2.5-max"]
    spaces_or_replicas(names)
    for name in names:
        print(f"\n=== LangChain: prompt | ChatQwenSpaces({name!r}) | parser, streamed")
        _langchain_demo(name)
        print(f"\n=== LlamaIndex: query engine over 3 documents with QwenSpacesLLM({name!r})")
        _llama_index_demo(name)
    return 0


def _langchain_demo(model: str) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from langchain_qwen_spaces import ChatQwenSpaces

    prompt = ChatPromptTemplate.from_messages([("system", "Answer in one sentence."),
                                               ("human", "{question}")])
    chain = prompt | ChatQwenSpaces(model=model) | StrOutputParser()
    for piece in chain.stream({"question": "What is the Gradio queue protocol?"}):
        print(piece, end="", flush=True)
    print()


def _llama_index_demo(model: str) -> None:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.base.response.schema import StreamingResponse
    from llama_index.core.embeddings import MockEmbedding

    from llama_index_qwen_spaces import QwenSpacesLLM

    docs = [Document(text=t) for t in (
        "Gradio streams results as server-sent events.",
        "Hugging Face Spaces host Gradio demos.",
        "ZeroGPU Spaces enforce a daily GPU quota.")]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=QwenSpacesLLM(model=model), streaming=True)
    response = engine.query("How do Gradio apps stream?")
    assert isinstance(response, StreamingResponse)
    response.print_response_stream()
    print()


if __name__ == "__main__":
    sys.exit(main())
