"""``qwen-spaces``: chat with, inspect, list and serve the Qwen Spaces from a terminal.

Expected failures (quota, full queue, Space asleep, no network, bad input) print one line
and exit with a distinct code; they never print a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .catalog import CATALOG, resolve_model
from .client import SpaceClient
from .errors import (
    QueueFullError,
    QuotaExceededError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .events import Finished, ProcessStarted, QueuePosition, SpaceLog, TextDelta
from .status import describe
from .transport import Timeouts

__all__ = ["main"]

#: Exit codes by failure, most specific first.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (QuotaExceededError, 3), (QueueFullError, 4), (SpaceUnavailableError, 5),
    (SpaceTimeoutError, 6), (SpaceProtocolError, 7), (SpaceError, 1), (ValueError, 2),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen-spaces", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="stream an answer (interactive when no prompt is given)")
    chat.add_argument("prompt", nargs="?", help="the question; omit for an interactive session")
    chat.add_argument("--model", "-m", default="qwen-2.5-max")
    chat.add_argument("--system", "-s", help="system prompt")
    chat.add_argument("--image", "-i", help="image path or URL (vision models)")
    _common(chat)

    inspect = sub.add_parser("inspect", help="show a Space's live API and whether it matches")
    inspect.add_argument("model")
    _common(inspect)

    sub.add_parser("models", help="list the catalog")
    demo = sub.add_parser("demo", help="a LangChain chain and a LlamaIndex query engine "
                          "streaming from local replicas (needs the [all] extra)")
    demo.add_argument("--model", "-m", action="append")
    sub.add_parser("serve", help="serve local replicas of every Space (needs [replica])",
                   add_help=False)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", help="talk to this host instead of the Space (e.g. a replica)")
    p.add_argument("--replica", action="store_true",
                   help="start local replica Spaces and talk to them (needs [replica])")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds of silence before giving up on a stream (default 60)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from .replica.serve import serve

        return serve(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "models":
            return _models()
        if args.command == "demo":
            return _demo(args.model)
        with _endpoint(args) as client:
            if args.command == "inspect":
                return _inspect(client, args)
            return _chat(client, args)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except (SpaceError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


@contextmanager
def _endpoint(args: argparse.Namespace) -> Iterator[SpaceClient]:
    timeouts = Timeouts(idle=args.timeout)
    model = resolve_model(args.model).spec.name
    if args.replica:
        from .replica import ReplicaSet

        with ReplicaSet([model]) as replicas:
            sys.stderr.write(f"[talking to a local replica of {CATALOG[model].space_id} at "
                             f"{replicas.url(model)}]\n")
            yield SpaceClient(timeouts=timeouts, base_urls={model: replicas.url(model)})
        return
    base = {model: args.base_url} if args.base_url else None
    yield SpaceClient(timeouts=timeouts, base_urls=base)


def _models() -> int:
    print(f"{'model':<14} {'space':<26} {'vision':<7} {'history':<8} aliases")
    for spec in CATALOG.values():
        aliases = ", ".join(spec.aliases)
        variants = f" (variants: {', '.join(spec.variants)})" if spec.variants else ""
        print(f"{spec.name:<14} {spec.space_id:<26} {'yes' if spec.vision else 'no':<7} "
              f"{'yes' if spec.supports_history else 'no':<8} {aliases}{variants}")
    return 0


def _inspect(client: SpaceClient, args: argparse.Namespace) -> int:
    spec = resolve_model(args.model).spec
    api = client.discover(spec.name)
    for key, value in api.describe().items():
        print(f"{key:<15} {value}")
    pinned = (spec.fn_index, spec.trigger_id, spec.api_prefix)
    live = (api.fn_index, api.trigger_id, api.api_prefix)
    print(f"{'matches pin':<15} {'yes' if pinned == live else f'no (catalog pins {pinned})'}")
    return 0


def _chat(client: SpaceClient, args: argparse.Namespace) -> int:
    history: list[dict[str, Any]] = []
    if args.system:
        history.append({"role": "system", "content": args.system})
    images = [args.image] if args.image else []
    prompts = [args.prompt] if args.prompt is not None else None
    interactive = prompts is None
    while True:
        if interactive:
            try:
                prompt = input("you> ").strip()
            except EOFError:
                print()
                return 0
            if not prompt or prompt in ("/exit", "/quit"):
                return 0
        else:
            assert prompts is not None
            if not prompts:
                return 0
            prompt = prompts.pop()
        history.append({"role": "user", "content": prompt, "images": images})
        images = []
        answer = _stream_answer(client, args.model, history)
        history.append({"role": "assistant", "content": answer})


def _stream_answer(client: SpaceClient, model: str, history: list[dict[str, Any]]) -> str:
    text = ""
    for event in client.stream(model, history):
        if isinstance(event, TextDelta):
            if event.replaced:
                sys.stdout.write("\b" * event.replaced)
            text = text[:len(text) - event.replaced] + event.text
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, (QueuePosition, ProcessStarted, SpaceLog)):
            _status(event)
        elif isinstance(event, Finished):
            sys.stdout.write("\n")
    return text


def _status(event: Any) -> None:
    if sys.stderr.isatty() or os.environ.get("QWEN_SPACES_STATUS"):
        text = describe(event)
        if text:
            sys.stderr.write(f"[{text}]\n")


def _demo(models: list[str] | None) -> int:
    """The package end to end, offline: local replicas, then a LangChain chain and a
    LlamaIndex query engine streaming from them (needs the ``all`` extra)."""
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
