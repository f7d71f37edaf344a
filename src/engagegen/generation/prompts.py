"""Prompt modes: how a topic (and, for replies, a post) becomes the text a generator is given.

``completion``: raw text the model continues, no chat template (the paper's "Cats are the most").
``instruction``: a request to write a post, sent through the chat template (the default).
``reply``: a request to reply to a post, sent through the chat template.

The strings returned here are what a run records. Given a tokenizer, ``build_prompts`` returns the
chat-mode prompts through its chat template: the exact model input.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from engagegen.files import InputFileError, csv_records, read_text
from engagegen.generation.base import GenerationError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["DEFAULT_TEMPLATES", "PromptMode", "PromptTemplate", "build_prompts", "read_post_texts", "to_chat", "message_text"]

PromptMode = Literal["completion", "instruction", "reply"]
PROMPT_MODES: tuple[str, ...] = get_args(PromptMode)

# Fields a template may use: {topic} as given, {Topic} with a capital first letter, {post} (reply mode).
TEMPLATE_FIELDS = frozenset({"topic", "Topic", "post"})

# Columns (CSV) or fields (JSONL) holding a post, in order of preference.
POST_COLUMNS = ("text", "post")

DEFAULT_TEMPLATES: dict[str, str] = {
    "completion": "{Topic} are the most",
    "instruction": "Write a one-sentence social media post about {topic}.",
    "reply": "Reply to this social media post: {post}",
}


def _check_mode(mode: str) -> str:
    if mode not in PROMPT_MODES:
        raise GenerationError(f"unknown prompt mode {mode!r}; choose one of {', '.join(PROMPT_MODES)}")
    return mode


def _template_fields(text: str) -> set[str]:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise GenerationError(
            f"prompt template {text!r} is malformed: {exc} (write literal braces as {{{{ }}}})"
        ) from None
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        raise GenerationError(
            f"prompt template {text!r} uses unknown field(s) {', '.join(sorted(map(repr, unknown)))}; "
            f"allowed: {{topic}}, {{Topic}}, {{post}}"
        )
    return fields


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt mode and the template text it fills in (``None``: the mode's default).

    >>> PromptTemplate("completion").render("cats")
    'Cats are the most'
    >>> PromptTemplate("instruction").render("cats")
    'Write a one-sentence social media post about cats.'
    >>> PromptTemplate("reply").render("cats", post="Cats rule.")
    'Reply to this social media post: Cats rule.'
    """

    mode: PromptMode = "instruction"
    text: str | None = None

    def __post_init__(self) -> None:
        _check_mode(self.mode)
        if self.text is not None and not isinstance(self.text, str):
            raise GenerationError(f"prompt template must be a string, got {type(self.text).__name__}")
        fields = _template_fields(self.template)
        if self.mode == "reply" and "post" not in fields:
            raise GenerationError(f"reply-mode template {self.template!r} must contain {{post}}")
        if self.mode != "reply" and not fields & {"topic", "Topic"}:
            raise GenerationError(f"{self.mode}-mode template {self.template!r} must contain {{topic}} or {{Topic}}")
        if self.mode != "reply" and "post" in fields:
            raise GenerationError(
                f"{{post}} is only filled in reply mode; template {self.template!r} is {self.mode}-mode"
            )

    @property
    def template(self) -> str:
        """The template text in use."""
        return DEFAULT_TEMPLATES[self.mode] if self.text is None else self.text

    @property
    def chat(self) -> bool:
        """Whether prompts of this mode go through a chat template (all but ``completion``)."""
        return self.mode != "completion"

    def render(self, topic: str, post: str | None = None) -> str:
        """The prompt for one topic (and one post in reply mode)."""
        if not isinstance(topic, str) or not topic.strip():
            raise GenerationError(f"topic must be a non-empty string, got {topic!r}")
        topic = topic.strip()
        if self.mode == "reply":
            if not isinstance(post, str) or not post.strip():
                raise GenerationError(f"reply mode needs a non-empty post to reply to, got {post!r}")
            post = post.strip()
        elif post is not None:
            raise GenerationError(f"a post was given but {self.mode} mode does not use it; use mode 'reply'")
        return self.template.format(topic=topic, Topic=topic[:1].upper() + topic[1:], post=post)


def to_chat(tokenizer: PreTrainedTokenizerBase, prompt: str) -> str:
    """``prompt`` as one user turn through ``tokenizer``'s chat template, ending where the model's reply starts."""
    if not tokenizer.chat_template:
        raise GenerationError("the tokenizer has no chat template; use the completion prompt mode for this model")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def message_text(item: Any) -> str:
    """A prompt or completion as plain text: TRL passes strings, or lists of chat messages (the
    system turn left out).

    >>> message_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Cats?"}])
    'Cats?'
    """
    if isinstance(item, str):
        return item
    if isinstance(item, list) and all(isinstance(m, dict) and "content" in m for m in item):
        return "\n".join(str(m["content"]) for m in item if m.get("role") != "system")
    raise GenerationError(f"cannot read text from a prompt or completion of type {type(item).__name__}")


def _post_of(record: Any, where: str) -> str:
    text = (
        record
        if isinstance(record, str)
        else next((record[k] for k in POST_COLUMNS if isinstance(record, dict) and k in record), None)
    )
    if not isinstance(text, str):
        raise GenerationError(
            f"{where}: expected a post as a string or an object with a 'text' field, got {record!r:.80}"
        )
    if not text.strip():
        raise GenerationError(f"{where}: the post is empty")
    return text.strip()


def read_post_texts(path: str | os.PathLike[str]) -> list[str]:
    """Posts to reply to, one per record: a ``.jsonl`` file (one JSON string or object with a ``text``
    field per line) or a ``.csv`` file with a header and a ``text`` (or ``post``) column.

    Errors name the file and line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise GenerationError(f"{path}: posts must be a .jsonl or .csv file")
    try:
        if suffix == ".jsonl":
            posts = []
            for line_no, line in enumerate(read_text(path).splitlines(), 1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        raise GenerationError(f"{path}:{line_no}: not valid JSON ({exc})") from None
                    posts.append(_post_of(record, f"{path}:{line_no}"))
        else:
            header, rows = csv_records(path)
            column = next((c for c in POST_COLUMNS if c in header), None)
            if column is None:
                raise GenerationError(f"{path}:1: no 'text' or 'post' column (columns: {header})")
            posts = [_post_of(row.fields[column], f"{path}:{row.line}") for row in rows]
    except InputFileError as exc:
        raise GenerationError(str(exc)) from None
    if not posts:
        raise GenerationError(f"{path}: no posts in the file")
    return posts


def build_prompts(
    mode: PromptMode,
    topic: str | Sequence[str],
    post: str | Sequence[str] | None = None,
    template: str | None = None,
    *,
    posts_file: str | os.PathLike[str] | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> list[str]:
    """The prompts for one or more topics (and posts, in reply mode), ready to record and generate from.

    A single topic or post is paired with every item of the other argument; two sequences must
    have the same length. In reply mode the posts come from ``post`` or from ``posts_file``
    (see :func:`read_post_texts`). With a ``tokenizer``, chat-mode prompts come back through its chat
    template: the exact model input, for ``LocalModel.generate(..., raw=True)`` and for training.

    >>> build_prompts("completion", "cats")
    ['Cats are the most']
    >>> build_prompts("instruction", ["cats", "dogs"])
    ['Write a one-sentence social media post about cats.', 'Write a one-sentence social media post about dogs.']
    >>> build_prompts("reply", "cats", post=["I love cats.", "Cats scratch."], template="On {topic}, answer: {post}")
    ['On cats, answer: I love cats.', 'On cats, answer: Cats scratch.']
    """
    prompt_template = PromptTemplate(mode, template)
    if posts_file is not None:
        if post is not None:
            raise GenerationError("give the posts to reply to either as post or as posts_file, not both")
        post = read_post_texts(posts_file)
    if not isinstance(topic, (str, Sequence)) or not topic:
        raise GenerationError(f"topic must be a non-empty string or list of strings, got {topic!r}")
    topics = [topic] if isinstance(topic, str) else list(topic)
    posts = [post] if post is None or isinstance(post, str) else list(post)
    if not posts:
        raise GenerationError("post is an empty list; pass at least one post to reply to")
    if len(topics) != len(posts) and 1 not in (len(topics), len(posts)):
        raise GenerationError(f"got {len(topics)} topics and {len(posts)} posts; pass one of each per prompt")
    count = max(len(topics), len(posts))
    topics, posts = topics * (count // len(topics)), posts * (count // len(posts))
    prompts = [prompt_template.render(t, p) for t, p in zip(topics, posts, strict=True)]
    if tokenizer is not None and prompt_template.chat:
        return [to_chat(tokenizer, prompt) for prompt in prompts]
    return prompts
