"""``python -m vlmhb.agent``: the same as ``vlmhb agent``."""

from vlmhb.agent.cli import agent_app

agent_app(prog_name="vlmhb agent")
