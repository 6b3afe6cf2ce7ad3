"""Reading spec and sweep files: UTF-8 YAML text, one document, plain values, no repeated keys, bounded aliases.

YAML accepts things a spec must not: a repeated key silently replaces the first, a few hundred bytes of
nested aliases expand to billions of values (minutes and gigabytes before anything fails), and tags ask for
arbitrary objects. All of it is checked on the composed node graph, before any Python object is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..errors import SpecError

Loc = tuple[Any, ...]


def located(source: str, lines: Mapping[Loc, int], loc: Loc) -> str:
    """``file:line`` of ``loc`` (a key without a line, e.g. a missing one, takes its parent's), else ``file``."""
    line = next((lines[loc[:depth]] for depth in range(len(loc), -1, -1) if loc[:depth] in lines), None)
    return f"{source}:{line}" if line is not None else source


MAX_FILE_BYTES = 10 * 1024 * 1024
"""A spec is a page of text; anything bigger is almost surely the wrong file (a table, a checkpoint)."""

ALIAS_BUDGET = 10_000
"""How many values aliases may add once expanded: generous for reused blocks, far below an alias bomb."""

_TAG = "tag:yaml.org,2002:"
_STR, _MERGE = _TAG + "str", _TAG + "merge"
_SAFE_TAGS = frozenset(tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None)
_KINDS = {"int": "a number", "float": "a number", "bool": "a boolean (YAML reads yes/no/on/off/true/false so)",
          "null": "null (empty)", "timestamp": "a date"}


class _Alias(NamedTuple):
    name: str
    mark: yaml.Mark
    node: yaml.Node


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers where each alias is used (the node graph only keeps the anchor's place)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases: list[_Alias] = []

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        event = self.peek_event() if self.check_event(yaml.AliasEvent) else None
        node = super().compose_node(parent, index)
        if event is not None:
            self.aliases.append(_Alias(event.anchor, event.start_mark, node))
        return node

    def construct_object(self, node, deep=False):  # type: ignore[no-untyped-def]
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # e.g. `!!int abc`: int() raises ValueError
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {_short(node.tag)}", node.start_mark) from exc


def read_yaml(path: str | Path, what: str = "spec", shape: str = "a mapping") -> tuple[Any, dict[Loc, int]]:
    """Read a YAML file: its data and a YAML path → line map. ``what`` the file is ("spec", "sweep") and the
    ``shape`` of its top level are for messages.

    Raises:
        SpecError: the file is missing, a directory, unreadable, not UTF-8 text, empty or not valid YAML.
    """
    path = Path(path)
    data, lines = parse_yaml(read_text(path, what), str(path), what=what)
    if not lines:
        raise SpecError(f"{path}: the file is empty; a {what} file is {shape}")
    return data, lines


def read_text(path: Path, what: str = "spec") -> str:
    """The file's text, with a message that says what to do when it cannot be read as UTF-8 text."""
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix in {".yaml", ".yml"})[:5]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise SpecError(f"{what} file {path} is a directory; give the path of a {what} YAML file{hint}")
    if not path.exists():
        raise SpecError(f"{what} file {path} does not exist")
    try:
        with path.open("rb") as file:  # read no more than the limit: /dev/zero has no size but no end either
            raw = file.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise SpecError(f"cannot read {what} file {path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise SpecError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"{what} file {path} is over {MAX_FILE_BYTES // 2**20} MB; a {what} is a short YAML text "
                        "file — is this the right file?")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        utf16 = " (it looks UTF-16 encoded: save it as UTF-8)" if raw[:2] in {b"\xff\xfe", b"\xfe\xff"} else ""
        raise SpecError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}){utf16}; "
                        f"a {what} file must be UTF-8 encoded YAML text — is this the right file?") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise SpecError(f"{path}:{text.count(chr(10), 0, nul) + 1}: a NUL character (offset {nul}): this looks like "
                        f"a binary file; a {what} file must be UTF-8 encoded YAML text — is this the right file?")
    return text


def parse_yaml(text: str, source: str, *, what: str = "spec") -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text, returning the data and a path → line map (empty for an empty document).

    Raises:
        SpecError: the text is not valid YAML, repeats a key, uses a non-text key or a tag, or its aliases
            expand too far (the message gives the line).
    """
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_aliases(node, loader.aliases, source)
        problems = _check_nodes(node, source, what)
        if problems:
            raise SpecError("\n".join(problems))
        lines = _line_map(node)
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        raise SpecError(_yaml_message(exc, source, text)) from None
    except RecursionError:
        raise SpecError(f"{source}: nested too deeply to read; a {what} is only a few levels deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def dotted(loc: Loc) -> str:
    """``('model', 'encoders', 'image', 'type')`` → ``model.encoders.image.type``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


class _Cycle(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _check_aliases(root: yaml.Node, aliases: list[_Alias], source: str) -> None:
    """Refuse recursive aliases and aliases that expand past :data:`ALIAS_BUDGET` values, before expanding."""
    if not aliases:
        return
    sizes: dict[int, int] = {}  # node id → values it stands for once its aliases are expanded
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key not in sizes:
            if key in open_:
                raise _Cycle(node)
            open_.add(key)
            sizes[key] = 1 + sum(size(child) for child in _children(node))
            open_.discard(key)
        return sizes[key]

    try:
        total = size(root)
    except _Cycle as cycle:
        node = cycle.node
        alias = next((a for a in aliases if a.node is node
                      and node.start_mark.index <= a.mark.index < node.end_mark.index), None)
        name, line = (alias.name, alias.mark.line + 1) if alias else ("?", node.start_mark.line + 1)
        raise SpecError(f"{source}:{line}: alias *{name} is used inside the block it names (&{name}), which would "
                        "repeat it forever; use the alias outside that block") from None
    added = total - len(sizes)
    if added > ALIAS_BUDGET:
        worst = max(aliases, key=lambda a: sizes[id(a.node)])
        raise SpecError(
            f"{source}:{worst.mark.line + 1}: alias *{worst.name} expands to {sizes[id(worst.node)]:,} values and the "
            f"aliases of this file to {added:,} in all, more than the {ALIAS_BUDGET:,} allowed; nested aliases "
            "multiply: write the values out, or use aliases only to reuse small blocks")


def _check_nodes(root: yaml.Node, source: str, what: str) -> list[str]:
    """Repeated keys, keys that are not text and tags, each with its line; every node once (aliases share)."""
    problems: list[str] = []
    seen: set[int] = set()

    def walk(node: yaml.Node, path: Loc) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        line = node.start_mark.line + 1
        if node.tag not in _SAFE_TAGS:
            problems.append(f"{source}:{line}: {dotted(path)}: the YAML tag {_short(node.tag)} is not allowed; "
                            f"a {what} file holds plain values (text, numbers, lists and mappings)")
            return
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE:
                    walk(value_node, path)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                    problems.append(f"{source}:{key_line}: {dotted(path)}: a key is {kind}; keys are names")
                    continue
                key = key_node.value
                if key_node.tag != _STR:
                    kind = _KINDS.get(key_node.tag.removeprefix(_TAG), _short(key_node.tag))
                    problems.append(f"{source}:{key_line}: {dotted(path + (key,))}: the key {key!r} is read as "
                                    f"{kind}, not a name; put it in quotes if it is meant as one: '{key}'")
                elif key in first:
                    problems.append(f"{source}:{key_line}: {dotted(path + (key,))}: duplicate key "
                                    f"(first at line {first[key]})")
                else:
                    first[key] = key_line
                walk(value_node, path + (key,))

    walk(root, ())
    return problems


def _line_map(node: yaml.Node, path: Loc = (), lines: dict[Loc, int] | None = None) -> dict[Loc, int]:
    """Map every YAML path (tuple of keys / indexes) to the 1-based line where it starts."""
    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines.setdefault(path + (key,), key_node.start_mark.line + 1)
            _line_map(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, path + (index,), lines)
    return lines


def _yaml_message(exc: yaml.YAMLError, source: str, text: str) -> str:
    """``file:line: not valid YAML: what`` with the line of the problem (or of its context)."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return (f"{source}:{line}: not valid YAML: the character #x{exc.character:04x} (offset {exc.position}) is "
                "not allowed in YAML text — is this the right file?")
    problem, context, context_mark = (getattr(exc, key, None) for key in ("problem", "context", "context_mark"))
    mark = getattr(exc, "problem_mark", None) or context_mark
    parts = []
    if context:
        on_line = context_mark is not None and mark is not None and context_mark.line != mark.line
        parts.append(f"{context} (line {context_mark.line + 1})" if on_line else context)  # type: ignore[union-attr]
    if problem:
        parts.append(problem)
    message = ": ".join(parts) or str(exc)
    if "'\\t'" in message:
        message += " (indent with spaces: YAML does not allow tabs for indentation)"
    if "found duplicate anchor" in message and context_mark is not None:
        name = context.split("'")[1] if context and context.count("'") >= 2 else "?"
        message = (f"the anchor &{name} is defined twice (first at line {context_mark.line + 1}); "
                   "give each anchor its own name")
    if message.startswith("found undefined alias"):
        name = message.split("'")[1] if message.count("'") >= 2 else "?"
        message = f"alias *{name} has no anchor &{name} before it; define `&{name}` on the block first"
    if "found another document" in message:
        message = "the file holds more than one YAML document (a second one starts here); keep only one"
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    return f"{where}: not valid YAML: {message}"
