"""Where a stage runs: the agents' inventories are the truth. A ``gpus: N`` stage goes only
to an agent with N free GPUs; agents that failed this stage's earlier attempts come last."""

from __future__ import annotations

from dataclasses import dataclass

from vlmhb.agent.client import AgentRef
from vlmhb.agent.wire import Inventory


@dataclass(frozen=True)
class Seen:
    """An agent and its inventory (``None``: it did not answer)."""

    agent: AgentRef
    inventory: Inventory | None


@dataclass(frozen=True)
class Placement:
    """``agent`` to start on now; else ``never`` tells whether no agent could ever hold the
    stage (then ``reason`` is the stage's failure) or none has room yet."""

    agent: AgentRef | None
    never: bool = False
    reason: str = ""


def place(gpus: int, seen: list[Seen], avoid: set[str]) -> Placement:
    """The agent for a stage taking ``gpus`` GPUs: among those that answered, one with
    enough free GPUs, preferring any not in ``avoid``, then the least loaded (``_load``)."""
    answered = [s for s in seen if s.inventory is not None]
    if not answered:
        names = ", ".join(s.agent.name for s in seen) or "none configured"
        return Placement(None, reason=f"no agent answers (agents: {names})")
    capable = [s for s in answered if s.inventory is not None and len(s.inventory.gpus) >= gpus]
    if not capable and len(answered) == len(seen):
        sizes = ", ".join(
            f"{s.agent.name}: {len(s.inventory.gpus)}" for s in answered if s.inventory is not None
        )
        return Placement(None, never=True, reason=f"no agent has {gpus} GPU(s) (declared: {sizes})")

    fits = [s for s in capable if s.inventory is not None and len(s.inventory.gpus_free) >= gpus]
    if not fits:
        return Placement(None, reason=f"no agent has {gpus} free GPU(s) now")
    fits.sort(key=lambda s: (s.agent.name in avoid, *_load(s, gpus), s.agent.name))
    return Placement(fits[0].agent)


def _load(s: Seen, gpus: int) -> tuple[int, int]:
    """Fewest running stages first; then a GPU stage takes the best fit (fewest free GPUs
    that suffice) and a CPU stage the agent with the fewest GPUs (GPU hosts stay free)."""
    inventory = s.inventory
    assert inventory is not None
    size = len(inventory.gpus_free) if gpus else len(inventory.gpus)
    return len(inventory.running), size
