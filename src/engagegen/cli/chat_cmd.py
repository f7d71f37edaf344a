"""``engagegen chat``: talk with the agent model; every answer is shown with its live reward breakdown."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.panel import Panel
from rich.prompt import Prompt

from engagegen.cli.app import app, print_user_error
from engagegen.cli.common import DEFAULT_RUN, console, examples, friendly_errors, load_network, parse_agent, quiet_model_loading
from engagegen.engagement import BoundedConfidenceCascade
from engagegen.errors import EngagegenError
from engagegen.generation import LocalModel
from engagegen.interaction import ChatSession, describe
from engagegen.network import place_agent
from engagegen.reward import EngagementReward
from engagegen.scoring import VaderOpinion

_HELP = "Type a message; /reset forgets the conversation, /quit (or end of input) leaves."


@app.command(epilog=examples("engagegen chat --network net.npz --adapter runs/demo/adapter"))
def chat(
    network: Path = typer.Option(..., help="Network file (.npz): the audience the answers are scored for."),
    agent: str = typer.Option(DEFAULT_RUN.agent, help="Agent position or a user id."),
    adapter: Path | None = typer.Option(None, help="LoRA adapter folder, e.g. RUN_DIR/adapter from `engagegen train`."),
    model: str = typer.Option(DEFAULT_RUN.generation.model, help="smollm2-135m (embedded), a model folder, a .gguf file or a HF id."),
    topic: str = typer.Option(DEFAULT_RUN.topic, help="What answers should be about (topic gate of the reward)."),
    epsilon: float = typer.Option(DEFAULT_RUN.engagement.epsilon, help="Confidence bound of the bounded-confidence cascade."),
    system: str | None = typer.Option(None, help="System prompt for the agent."),
    max_new_tokens: int = typer.Option(DEFAULT_RUN.generation.max_new_tokens, help="Length limit of each answer, in tokens."),
    temperature: float = typer.Option(DEFAULT_RUN.generation.temperature, help="Sampling temperature; 0 = greedy."),
    seed: int | None = typer.Option(None, help="Seed for repeatable answers."),
) -> None:
    """Talk with the (tuned) agent; every answer is shown with its live reward breakdown.

    The breakdown: the answer's opinion value (0 against the topic, 1 for it), the users it engages
    out of the most any post could engage (the optimum), its topic score (cosine similarity to the
    topic, 0..1) and moderation flags.
    """
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        quiet_model_loading()
        with console.status(f"loading {model}" + (f" with adapter {adapter}" if adapter else "")):
            generator = LocalModel(model, adapter=adapter, chat=True)
            reward = EngagementReward(network=net, source=source, engagement=BoundedConfidenceCascade(epsilon=epsilon),
                                      opinion=VaderOpinion(), topic=topic)
        session = ChatSession(generator, reward, system=system, max_new_tokens=max_new_tokens,
                              temperature=temperature, seed=seed)
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
