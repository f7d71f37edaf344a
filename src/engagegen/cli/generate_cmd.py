"""``engagegen generate``: write posts about a topic with a local model (optionally a trained adapter) or a server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.panel import Panel
from rich.text import Text

from engagegen.cli.app import app
from engagegen.cli.common import DEFAULT_RUN, console, err_console, examples, friendly_errors, quiet_model_loading
from engagegen.generation import GenerationError, Generator, LocalModel, OpenAICompatible, build_prompts


@app.command(epilog=examples("engagegen generate --topic cats -n 5",
                             "engagegen generate -n 5 --adapter runs/demo/adapter --temperature 0.7"))
def generate(
    topic: str = typer.Option(DEFAULT_RUN.topic, "--topic", "-t", help="What the posts are about."),
    n: int = typer.Option(5, "-n", "--n", help="How many posts to write."),
    mode: str = typer.Option(
        DEFAULT_RUN.generation.mode, help="Prompt mode: instruction (chat), completion (raw text), reply (chat)."
    ),
    post: str | None = typer.Option(None, help="The post to reply to (reply mode)."),
    prompt: str | None = typer.Option(
        None, help="Prompt template with {topic}, {Topic} or {post}; default: the mode's own."
    ),
    model: str = typer.Option(
        DEFAULT_RUN.generation.model,
        help="smollm2-135m (embedded), a model folder, a .gguf file, a Hugging Face id, or the server's model name.",
    ),
    adapter: Path | None = typer.Option(None, help="LoRA adapter folder, e.g. RUN_DIR/adapter from `engagegen train`."),
    max_new_tokens: int = typer.Option(DEFAULT_RUN.generation.max_new_tokens, help="Length limit of each post, in tokens."),
    temperature: float = typer.Option(DEFAULT_RUN.generation.temperature, help="Sampling temperature; 0 = greedy."),
    seed: int | None = typer.Option(None, help="Seed for repeatable sampling."),
    base_url: str | None = typer.Option(
        None, help="Ask an OpenAI-compatible server instead (its API root, e.g. http://localhost:11434/v1)."
    ),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the server's API key."),
    allow_download: bool = typer.Option(False, "--allow-download", help="Let a Hugging Face --model be downloaded."),
) -> None:
    """Write N posts about the topic and print them (language model: --model, a trained --adapter, or a server)."""
    with friendly_errors():
        prompts = build_prompts(mode, topic, post=post, template=prompt)
        generator: Generator
        if base_url is not None:
            if adapter is not None:
                raise GenerationError("--adapter works with local models only, not with --base-url")
            generator = OpenAICompatible(base_url, model, api_key_env=api_key_env)
        else:
            quiet_model_loading()
            with console.status(f"loading {model}" + (f" with adapter {adapter}" if adapter else "")):
                generator = LocalModel(model, adapter=adapter, chat=mode != "completion", allow_download=allow_download)
        with console.status(f"writing {n} post(s)"):
            posts = generator.generate(prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    err_console.print(Text.assemble(("prompt: ", "dim"), prompts[0]))
    for i, text in enumerate(posts[0], 1):
        # A completion continues the prompt: show the prompt (dim) before it, as the post reads.
        body = Text.assemble((prompts[0] + " ", "dim"), text) if mode == "completion" else Text(text or "(empty)")
        console.print(Panel(body, title=f"post {i}", title_align="left", expand=False))
