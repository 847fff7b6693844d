"""Applying Gradio's streaming diffs (``[op, path, value]`` edits, sse_v2 and later).

Edits are applied in place (no deep copy per token), with the semantics of Gradio's own
clients, negative indices included. Gradio's ``diff`` emits wrong delete indices when a
list shrinks by two or more (protocol notes, 5.3); such edits give what the official client
gives, or raise :class:`DiffError` on an impossible one, so the caller can fall back to
the full value that ``process_completed`` always carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DiffError", "apply_diff", "apply_edit"]


class DiffError(ValueError):
    """An edit that does not fit the current value (a server-side diff bug or a lost frame)."""


def apply_diff(value: Any, edits: Sequence[Any]) -> Any:
    """Apply ``edits`` to ``value`` (mutating containers in place); return the new value."""
    for edit in edits:
        value = apply_edit(value, edit)
    return value


def apply_edit(value: Any, edit: Any) -> Any:
    try:
        op, path, new = edit
    except (TypeError, ValueError):
        raise DiffError(f"malformed edit {edit!r}") from None
    if not isinstance(path, list):
        raise DiffError(f"malformed path in edit {edit!r}")
    try:
        return _apply(value, op, path, new)
    except DiffError as exc:  # one place names the edit, for the log of a fallback
        raise DiffError(f"{exc} in edit {edit!r}") from None


def _apply(value: Any, op: Any, path: list[Any], new: Any) -> Any:
    if not path:
        if op == "replace":
            return new
        if op == "append":
            return _concat(value, new)
        raise DiffError(f"{op!r} needs a non-empty path")
    parent = value
    for key in path[:-1]:
        parent = _child(parent, key)
    key = path[-1]
    if op == "replace":
        _set(parent, key, new)
    elif op == "append":
        _set(parent, key, _concat(_child(parent, key), new))
    elif op == "add":
        if isinstance(parent, list):
            if type(key) is not int or not 0 <= key <= len(parent):
                raise DiffError(f"add index {key!r} outside a list of {len(parent)}")
            parent.insert(key, new)
        elif _is_object(parent, key):
            parent[key] = new
        else:
            raise DiffError(f"add into a {type(parent).__name__}")
    elif op == "delete":
        if isinstance(parent, list):
            if not _in_range(key, parent):
                raise DiffError(f"delete index {key!r} outside a list of {len(parent)}")
            del parent[key]
        elif _is_object(parent, key):
            if key not in parent:
                raise DiffError(f"delete of missing key {key!r}")
            del parent[key]
        else:
            raise DiffError(f"delete from a {type(parent).__name__}")
    else:
        raise DiffError(f"unknown diff op {op!r}")
    return value


def _child(container: Any, key: Any) -> Any:
    if isinstance(container, list):
        if not _in_range(key, container):
            raise DiffError(f"bad list index {key!r}")
        return container[key]
    if _is_object(container, key):
        if key not in container:
            raise DiffError(f"missing key {key!r}")
        return container[key]
    raise DiffError(f"cannot index a {type(container).__name__}")


def _set(container: Any, key: Any, new: Any) -> None:
    if isinstance(container, list):
        if not _in_range(key, container):
            raise DiffError(f"bad list index {key!r}")
        container[key] = new
    elif _is_object(container, key):
        container[key] = new
    else:
        raise DiffError(f"cannot set into a {type(container).__name__}")


def _is_object(container: Any, key: Any) -> bool:
    """``container`` is a JSON object, so ``key`` must be a string (not an unhashable
    list, which would escape as ``TypeError``)."""
    if not isinstance(container, dict):
        return False
    if not isinstance(key, str):
        raise DiffError(f"key {key!r} of a dict is not a string")
    return True


def _in_range(key: Any, items: list[Any]) -> bool:
    # Python-style negative indices, as Gradio's own clients apply them: Gradio >= 5.29.1
    # emits them when nested lists shrink (protocol notes 5.3).
    return type(key) is int and -len(items) <= key < len(items)


def _concat(old: Any, new: Any) -> Any:
    if isinstance(old, str) and isinstance(new, str):
        return old + new
    if isinstance(old, list) and isinstance(new, list):
        old.extend(new)
        return old
    raise DiffError(f"append of {type(new).__name__} to {type(old).__name__}")
