"""``engagegen generate``: write posts about a topic with a local model (optionally a trained adapter) or a server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.panel import Panel
from rich.text import Text

from engagegen.cli.app import app
from engagegen.cli.common import DEFAULT_RUN, console, err_console, examples, friendly_errors, quiet_model_loading
from engagegen.cli.run_settings import from_adapter, sampling_settings
from engagegen.generation import GenerationError, Generator, LocalModel, OpenAICompatible, build_prompts


@app.command(epilog=examples("engagegen generate --topic cats -n 5",
                             "engagegen generate -n 5 --adapter runs/demo/adapter",
                             "engagegen generate -n 5 --adapter runs/demo/adapter --temperature 0.3"))
def generate(
    topic: str | None = typer.Option(None, "--topic", "-t", help="What the posts are about.",
                                     show_default=from_adapter(DEFAULT_RUN.topic)),
    n: int = typer.Option(5, "-n", "--n", help="How many posts to write."),
    mode: str | None = typer.Option(None, help="Prompt mode: instruction (chat), completion (raw text), reply (chat).",
                                    show_default=from_adapter(DEFAULT_RUN.generation.mode)),
    post: str | None = typer.Option(None, help="The post to reply to (reply mode)."),
    prompt: str | None = typer.Option(None, help="Prompt template with {topic}, {Topic} or {post}.",
                                      show_default=from_adapter("the mode's own")),
    model: str | None = typer.Option(None, help="smollm2-135m (embedded), a model folder, a .gguf file, a Hugging Face id, "
                                     "or the server's model name.", show_default=from_adapter(DEFAULT_RUN.generation.model)),
    adapter: Path | None = typer.Option(None, help="LoRA adapter folder, e.g. RUN_DIR/adapter from `engagegen train`; "
                                        "every option not given defaults to the settings its run validated it at."),
    max_new_tokens: int | None = typer.Option(None, help="Length limit of each post, in tokens.",
                                              show_default=from_adapter(DEFAULT_RUN.generation.max_new_tokens)),
    temperature: float | None = typer.Option(None, help="Sampling temperature; 0 = greedy.",
                                             show_default=from_adapter(DEFAULT_RUN.generation.temperature)),
    top_p: float | None = typer.Option(None, help="Nucleus sampling (local models only).",
                                       show_default=from_adapter(DEFAULT_RUN.generation.top_p)),
    seed: int | None = typer.Option(None, help="Seed for repeatable sampling."),
    base_url: str | None = typer.Option(
        None, help="Ask an OpenAI-compatible server instead (its API root, e.g. http://localhost:11434/v1)."
    ),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the server's API key."),
    allow_download: bool = typer.Option(False, "--allow-download", help="Let a Hugging Face --model be downloaded."),
) -> None:
    """Write N posts about the topic and print them (language model: --model, a trained --adapter, or a server)."""
    with friendly_errors():
        if base_url is not None and adapter is not None:
            raise GenerationError("--adapter works with local models only, not with --base-url")
        if base_url is not None and top_p is not None:
            raise GenerationError("--top-p works with local models only, not with --base-url")
        s = sampling_settings(DEFAULT_RUN, adapter, model=model, mode=mode, prompt=prompt, topic=topic,
                              max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
        prompts = build_prompts(s.mode, s.topic, post=post, template=s.prompt or None)
        generator: Generator
        options: dict[str, float] = {}  # top_p: local models only
        if base_url is not None:
            generator = OpenAICompatible(base_url, s.model, api_key_env=api_key_env)
        else:
            quiet_model_loading()
            with console.status(f"loading {s.model}" + (f" with adapter {adapter}" if adapter else "")):
                generator = LocalModel(s.model, adapter=adapter, chat=s.mode != "completion", allow_download=allow_download)
            options["top_p"] = s.top_p
        with console.status(f"writing {n} post(s)"):
            posts = generator.generate(prompts, n=n, max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=seed,
                                       **options)
    err_console.print(Text.assemble(("prompt: ", "dim"), prompts[0]))
    for i, text in enumerate(posts[0], 1):
        # A completion continues the prompt: show the prompt (dim) before it, as the post reads.
        body = Text.assemble((prompts[0] + " ", "dim"), text) if s.mode == "completion" else Text(text or "(empty)")
        console.print(Panel(body, title=f"post {i}", title_align="left", expand=False))
