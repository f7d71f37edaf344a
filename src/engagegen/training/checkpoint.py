"""Crash-safe checkpoints and the run's append-only metrics log.

A checkpoint folder appears under its final name only once it is complete (it is written under a
staging name and renamed), so a run killed at any moment, or a full disk, leaves the previous
checkpoint usable. Metrics lines carry their step; on resume the lines after the checkpoint's step
are dropped, so a resumed run's log reads like an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from engagegen.files import atomic_write_text

__all__ = ["latest_checkpoint", "MetricsLog", "finalize_checkpoint", "prune_checkpoints", "CHECKPOINT_PREFIX"]

CHECKPOINT_PREFIX = "checkpoint-"
_COMPLETE = "engagegen_state.json"


def _step_of(path: Path) -> int | None:
    m = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", path.name)
    return int(m.group(1)) if m else None


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint under ``folder`` (one holding our state file), or None."""
    if not folder.is_dir():
        return None
    done = [(s, p) for p in folder.iterdir() if (s := _step_of(p)) is not None and (p / _COMPLETE).is_file()]
    return max(done)[1] if done else None


def finalize_checkpoint(staged: Path, final: Path, state: dict[str, Any]) -> Path:
    """Add our state file to a fully written ``staged`` folder and rename it into place atomically."""
    atomic_write_text(staged / _COMPLETE, json.dumps(state, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    return final


def read_checkpoint_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / _COMPLETE).read_text())


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest complete checkpoints (and any stale staging folders)."""
    done = sorted((s, p) for p in folder.iterdir() if (s := _step_of(p)) is not None)
    for _, path in done[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


class MetricsLog:
    """A run's JSON Lines file, one object per line: ``metrics.jsonl`` and ``eval.jsonl`` (each line
    with a ``step``; appended and flushed per line), read back as well as ``samples.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int, stage: int | None = None) -> None:
        """Keep only lines up to ``step`` (used when resuming from that checkpoint); with ``stage``,
        lines of a later stage at that same step go too (a stage opens at the step the one before closed)."""
        if not self.path.exists():
            return

        def kept_line(record: dict[str, Any]) -> bool:
            return record["step"] < step or (record["step"] == step and (stage is None or record.get("stage", 1) <= stage))

        kept = [line for line in self.path.read_text().splitlines() if line.strip() and kept_line(json.loads(line))]
        atomic_write_text(self.path, "".join(f"{line}\n" for line in kept))

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> list[dict[str, Any]]:
        """Every object of the file; none when it does not exist (yet)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
