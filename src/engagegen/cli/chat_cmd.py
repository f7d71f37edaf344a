"""``engagegen chat``: talk with the agent model; every answer is shown with its live reward breakdown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.panel import Panel
from rich.prompt import Prompt

from engagegen.cli.app import app, print_user_error
from engagegen.cli.common import DEFAULT_RUN, console, examples, friendly_errors, quiet_model_loading
from engagegen.cli.run_settings import FROM_CONFIG_NETWORK, from_adapter, from_config, run_config, sampling_settings
from engagegen.errors import EngagegenError
from engagegen.generation import LocalModel
from engagegen.interaction import ChatSession, describe
from engagegen.training.build import build_audience

_HELP = "Type a message; /reset forgets the conversation, /quit (or end of input) leaves."


@app.command(epilog=examples("engagegen chat --network net.npz --adapter runs/demo/adapter",
                             "engagegen chat --config runs/demo/config.yaml --adapter runs/demo/adapter"))
def chat(
    config: Path | None = typer.Option(None, help="A run config (e.g. RUN/config.yaml): score answers with that run's "
                                       "audience and reward, as training does. The options below change it."),
    network: Path | None = typer.Option(None, help="Network file (.npz): the audience the answers are scored for.",
                                        show_default=FROM_CONFIG_NETWORK),
    agent: str | None = typer.Option(None, help="Agent position or a user id.", show_default=from_config(DEFAULT_RUN.agent)),
    adapter: Path | None = typer.Option(None, help="LoRA adapter folder, e.g. RUN_DIR/adapter from `engagegen train`; "
                                        "the sampling options default to the settings its run validated it at."),
    model: str | None = typer.Option(None, help="smollm2-135m (embedded), a model folder, a .gguf file or a HF id.",
                                     show_default=from_adapter(DEFAULT_RUN.generation.model, config=True)),
    topic: str | None = typer.Option(None, help="What answers should be about (topic gate of the reward).",
                                     show_default=from_adapter(DEFAULT_RUN.topic, config=True)),
    epsilon: float | None = typer.Option(None, help="Confidence bound of the engagement model.",
                                         show_default=from_config(DEFAULT_RUN.engagement.epsilon)),
    system: str | None = typer.Option(None, help="System prompt for the agent."),
    max_new_tokens: int | None = typer.Option(None, help="Length limit of each answer, in tokens.",
                                              show_default=from_adapter(DEFAULT_RUN.generation.max_new_tokens, config=True)),
    temperature: float | None = typer.Option(None, help="Sampling temperature; 0 = greedy.",
                                             show_default=from_adapter(DEFAULT_RUN.generation.temperature, config=True)),
    top_p: float | None = typer.Option(None, help="Nucleus sampling.",
                                       show_default=from_adapter(DEFAULT_RUN.generation.top_p, config=True)),
    seed: int | None = typer.Option(None, help="Seed for repeatable answers."),
) -> None:
    """Talk with the (tuned) agent; every answer is shown with its live reward breakdown.

    The breakdown: the answer's opinion value (0 against the topic, 1 for it), the users it engages
    out of the most any post could engage (the optimum), its topic score (cosine similarity to the
    topic, 0..1) and moderation flags. Without --config the fluency score leaves out perplexity.
    """
    with friendly_errors():
        base = run_config(config, network=network, agent=agent, epsilon=epsilon)
        sampling = sampling_settings(base, adapter, model=model, topic=topic, max_new_tokens=max_new_tokens,
                                     temperature=temperature, top_p=top_p)
        # Answers are scored as posts, also under a reply-mode run config.
        cfg = replace(base, topic=sampling.topic, generation=replace(base.generation, mode="instruction"))
        quiet_model_loading()
        with console.status(f"loading {sampling.model}" + (f" with adapter {adapter}" if adapter else "")):
            generator = LocalModel(sampling.model, adapter=adapter, chat=True)
            audience = build_audience(cfg)
        reward, source, topic = audience.reward, audience.agent, cfg.topic
        session = ChatSession(generator, reward, system=system, max_new_tokens=sampling.max_new_tokens,
                              temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)
    optimum = reward.optimum
    console.print(f"agent at user {source} · optimum {optimum.value:g} users at opinion {optimum.message:.2f} · "
                  f"topic {topic!r}\n[dim]{_HELP}[/dim]", highlight=False)
    while True:
        try:
            message = Prompt.ask("[bold cyan]you[/bold cyan]", console=console)
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        command = message.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            break
        if command == "/reset":
            session.reset()
            console.print("[dim]conversation forgotten[/dim]")
            continue
        if not command:
            continue
        try:
            with console.status("thinking"):
                turn = session.ask(message)
        except EngagegenError as exc:  # the user's to fix (e.g. a message too long for the model); anything else is a bug
            print_user_error(exc)
            continue
        console.print(Panel(turn.text or "(empty answer)", title="agent", title_align="left", expand=False))
        console.print(f"[dim]{describe(turn.breakdown, optimum.value)}[/dim]", highlight=False)
