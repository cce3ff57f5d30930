"""YAML with line numbers: a bank file parsed so that every problem can name its file, field and
line, and marshmallow's errors turned into ContentErrors that do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from marshmallow import Schema, ValidationError

from courses.errors import ContentError, ContentErrors
from quizzes.question_types import ErrorAt

Path_ = tuple[str | int, ...]  # a field inside a YAML document: ("questions", 3, "options", 1, "id")


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[str, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in first_line:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key_node.value!r} (first on line {first_line[key_node.value]})",
                    problem_mark=key_node.start_mark,
                )
            first_line[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Source:
    """One parsed YAML file: the data, and the node tree to find the line of any field."""

    file: Path | str
    data: Any
    root: yaml.Node | None

    def error(self, path: Path_, problem: str) -> ContentError:
        return ContentError(self.file, self.where(path), problem)

    def error_at(self, *prefix: str | int) -> ErrorAt:
        def build(*path: str | int, problem: str) -> ContentError:
            return self.error((*prefix, *path), problem)

        return build

    def where(self, path: Path_) -> str | None:
        if not path:
            return None
        line = self.line(path)
        field = _describe(path, self.data)
        return f"{field} (line {line})" if line else field

    def line(self, path: Path_) -> int | None:
        """The line of the field (its key), or of the deepest part of its path that exists."""
        node, line = self.root, None
        for step in path:
            found = _child_node(node, step)
            if found is None:
                break
            start, node = found
            line = start.start_mark.line + 1
        return line


def _child_node(node: yaml.Node | None, step: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(where the child starts: its key in a mapping, and the child's value node)."""
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step], node.value[step]
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return key_node, value_node
    return None


def _describe(path: Path_, data: Any) -> str:
    """("questions", 3, "options") -> "questions[3] (o04).options", naming the question by its id."""
    text = ""
    for index, step in enumerate(path):
        if isinstance(step, int) and isinstance(data, list):
            text += f"[{step}]"
            data = data[step] if step < len(data) else None
            if index > 0 and path[index - 1] == "questions" and isinstance(data, dict):
                question_id = data.get("id")
                text += f" ({question_id})" if isinstance(question_id, str) else ""
        else:
            text += f".{step}" if text else str(step)
            data = data.get(step) if isinstance(data, dict) else None
    return text


def parse_yaml(text: str, file: Path | str) -> Source:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise yaml_error(file, exc) from None
    finally:
        loader.dispose()
    return Source(file, data, root)


def yaml_error(file: Path | str, exc: yaml.YAMLError) -> ContentError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    problem = getattr(exc, "problem", None) or str(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark and context_mark is not mark:
        problem += f" ({context} on line {context_mark.line + 1})"
    return ContentError(file, where, f"invalid YAML: {problem}")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(path, None, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise ContentError(path, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def validated(source: Source, schema: Schema, what: str) -> dict[str, Any]:
    """The data loaded by `schema`, or ContentError(s) for every shape problem, in line order."""
    if not isinstance(source.data, dict):
        raise ContentError(source.file, None, f"must be a YAML mapping of fields ({what})")
    try:
        return schema.load(source.data)
    except ValidationError as exc:
        problems = sorted(_flatten(exc.messages), key=lambda item: source.line(item[0]) or 0)
        raise combined([source.error(path, problem) for path, problem in problems]) from None


def _flatten(messages: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """marshmallow's nested messages -> (("questions", 3, "prompt"), "Missing data for required field.")."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            # "_schema" is the object itself; "key"/"value" say which half of a Dict entry failed
            step = () if key in ("_schema", "key", "value") else (key,)
            yield from _flatten(value, (*path, *step))
    elif isinstance(messages, list) and all(isinstance(message, str) for message in messages):
        yield path, " ".join(messages)
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, path)
    else:
        yield path, str(messages)


def combined(errors: list[ContentError]) -> ContentError | ContentErrors:
    return errors[0] if len(errors) == 1 else ContentErrors(errors)
