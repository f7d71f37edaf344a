"""Prompt modes: completion, instruction, reply; templates, posts files, chat-templated final strings."""

import pytest

from engagegen.generation import DEFAULT_TEMPLATES, GenerationError, PromptTemplate, build_prompts, read_post_texts, to_chat


def test_default_prompts_of_each_mode():
    assert build_prompts("completion", "cats") == ["Cats are the most"]
    assert build_prompts("instruction", "cats") == ["Write a one-sentence social media post about cats."]
    assert build_prompts("reply", "cats", post="Cats are overrated.") == [
        "Reply to this social media post: Cats are overrated."
    ]
    assert PromptTemplate().mode == "instruction"


def test_custom_template_and_capitalised_topic():
    assert build_prompts("completion", "dogs", template="Honestly, {Topic} are") == ["Honestly, Dogs are"]
    assert build_prompts("instruction", " climate policy ", template="Tweet about {topic}!") == [
        "Tweet about climate policy!"
    ]


def test_topics_and_posts_pair_up():
    assert build_prompts("instruction", ["cats", "dogs"]) == [
        DEFAULT_TEMPLATES["instruction"].format(topic="cats"),
        DEFAULT_TEMPLATES["instruction"].format(topic="dogs"),
    ]
    assert build_prompts("reply", ["cats", "dogs"], post=["A", "B"], template="{topic}: {post}") == [
        "cats: A",
        "dogs: B",
    ]
    with pytest.raises(GenerationError, match="2 topics and 3 posts"):
        build_prompts("reply", ["cats", "dogs"], post=["A", "B", "C"])


@pytest.mark.parametrize("topic", ["", "   ", None])
def test_empty_topic_is_an_error(topic):
    with pytest.raises(GenerationError, match="topic"):
        build_prompts("instruction", topic)


def test_mode_and_template_errors_say_what_is_wrong():
    with pytest.raises(GenerationError, match="unknown prompt mode 'tweet'"):
        build_prompts("tweet", "cats")
    with pytest.raises(GenerationError, match=r"must contain \{post\}"):
        PromptTemplate("reply", "Answer about {topic}")
    with pytest.raises(GenerationError, match=r"must contain \{topic\} or \{Topic\}"):
        PromptTemplate("instruction", "Write a post.")
    with pytest.raises(GenerationError, match="unknown field"):
        PromptTemplate("instruction", "Write about {subject}.")
    with pytest.raises(GenerationError, match="malformed"):
        PromptTemplate("instruction", "Write about {topic")
    with pytest.raises(GenerationError, match="needs a non-empty post"):
        build_prompts("reply", "cats")
    with pytest.raises(GenerationError, match="does not use it"):
        build_prompts("instruction", "cats", post="hello")


def test_posts_files(tmp_path):
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text('{"text": "Cats nap."}\n\n"Dogs bark."\n', encoding="utf-8")
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text('id,post\n1,"Cats, again"\n2,Birds sing\n', encoding="utf-8")
    assert read_post_texts(jsonl) == ["Cats nap.", "Dogs bark."]
    assert read_post_texts(csv_file) == ["Cats, again", "Birds sing"]
    assert build_prompts("reply", "pets", posts_file=csv_file, template="{post}") == ["Cats, again", "Birds sing"]


def test_posts_file_errors_name_file_and_line(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(GenerationError, match=r"bad.jsonl:2: not valid JSON"):
        read_post_texts(bad_json)
    empty_post = tmp_path / "empty.csv"
    empty_post.write_text('text\nfine\n""\n', encoding="utf-8")
    with pytest.raises(GenerationError, match=r"empty.csv:3: the post is empty"):
        read_post_texts(empty_post)
    no_column = tmp_path / "cols.csv"
    no_column.write_text("body\nhello\n", encoding="utf-8")
    with pytest.raises(GenerationError, match=r"cols.csv:1: no 'text' or 'post' column"):
        read_post_texts(no_column)
    with pytest.raises(GenerationError, match=r"must be a \.jsonl or \.csv"):
        read_post_texts(tmp_path / "posts.txt")
    with pytest.raises(GenerationError, match="either as post or as posts_file"):
        build_prompts("reply", "cats", post="x", posts_file=no_column)


def test_tokenizer_gives_the_chat_templated_model_input(smollm2_tokenizer):
    chat = build_prompts("instruction", "cats", tokenizer=smollm2_tokenizer)
    assert chat == [to_chat(smollm2_tokenizer, "Write a one-sentence social media post about cats.")]
    assert chat[0].endswith(
        "<|im_start|>user\nWrite a one-sentence social media post about cats.<|im_end|>\n<|im_start|>assistant\n"
    )
    # Completion prompts are raw text: the chat template is not applied.
    assert build_prompts("completion", "cats", tokenizer=smollm2_tokenizer) == ["Cats are the most"]
