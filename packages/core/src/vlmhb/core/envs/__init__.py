"""Execution plane: where a stage runs, behind one ``EnvManager`` contract."""

from vlmhb.core.envs.base import EnvManager, PreparedEnv

__all__ = ["EnvManager", "PreparedEnv"]
