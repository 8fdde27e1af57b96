"""The original VLMHyperBench v0.1 folder layout and model rows.

A v0.1 folder holds ``user_config*.csv`` and ``vlm_base.csv`` beside ``data_dirs/`` with
``Datasets/<TASK>/<dataset>/`` (``annotation.csv`` + ``images/``) and
``PromptCollections/<TASK>/<collection>/<file>.csv``; its ``dataset`` cell is a dataset's
name, its ``prompt_collection`` cell ``<collection>/<file>.csv``. ``vlm_base.csv`` rows
with ``module`` / ``class_name`` run their v0.1 ``ModelInterface`` package through the
``model_interface`` backend; ``Hugging Face`` rows without them run on ``transformers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmhb.core.errors import ConfigError

DATA_DIRS = "data_dirs"
DATASETS = "Datasets"
PROMPTS = "PromptCollections"
USER_CONFIG_GLOB = "user_config*.csv"
# v0.1 task names → task kinds
TASK_KINDS = {
    "": "vqa",
    "vqa": "vqa",
    "rpoclassification": "classification",
    "rposorting": "ordering",
}
# v0.1 model families → their Hugging Face organisation (v0.1 packages used ``Qwen/<name>``)
HF_ORGS = {"qwen": "Qwen", "minicpm": "openbmb", "deepseek": "deepseek-ai"}
MODEL_INTERFACE = "model_interface"


def find_user_config(folder: Path) -> Path | None:
    """``user_config.csv`` in ``folder``, else its one ``user_config*.csv`` (None: none)."""
    if (folder / "user_config.csv").is_file():
        return folder / "user_config.csv"
    found = sorted(folder.glob(USER_CONFIG_GLOB))
    if len(found) > 1:
        raise ConfigError(
            str(folder),
            "several user configs: " + ", ".join(p.name for p in found) + "; name the one to run",
        )
    return found[0] if found else None


def task_kind(cell: str) -> str:
    """The task kind of a ``task`` cell (``VQA``, ``RPOClassification``, ``RPOSorting``,
    or a kind name)."""
    name = cell.strip().lower()
    return TASK_KINDS.get(name, name)


def _task_folder(root: Path, task: str) -> Path:
    """``root/<task>``, the folder's name matched without case when it differs."""
    exact = root / task.strip()
    if exact.is_dir() or not root.is_dir():
        return exact
    wanted = task.strip().lower()
    return next((p for p in sorted(root.iterdir()) if p.name.lower() == wanted), exact)


def dataset_candidates(cell: str, base: Path, task: str) -> list[Path]:
    """Folders a ``dataset`` cell may name, in the order they are tried."""
    v01 = [
        _task_folder(root / DATA_DIRS / DATASETS, task or "VQA") / cell for root in _v01_roots(base)
    ]
    return [base / cell, base / "datasets" / cell, base / "data" / cell, *v01]


def _v01_roots(base: Path) -> list[Path]:
    """Folders that may hold ``data_dirs/``: the CSV's, and its ``datasets`` folder (a
    submitted pair's link to the server's data root)."""
    return [base, base / "datasets"]


def prompt_file(cell: str, base: Path, task: str) -> Path:
    """The prompt file a ``prompt_collection`` cell names: relative to the CSV, else under
    ``data_dirs/PromptCollections/<TASK>/``."""
    direct = (base / cell).resolve()
    if direct.exists():
        return direct
    for root in _v01_roots(base):
        v01 = _task_folder(root / DATA_DIRS / PROMPTS, task or "VQA") / cell
        if v01.exists():
            return v01.resolve()
    return direct


def hf_model_id(row: dict[str, str]) -> str:
    """The hub id of a ``Hugging Face`` row: its ``model_path`` column, a name with an
    organisation, or ``<org of the family>/<model_name>``."""
    if row.get("model_path"):
        return row["model_path"]
    name = row["model_name"]
    if "/" in name:
        return name
    family = (row.get("model_family") or name).strip().lower()
    org = next((o for prefix, o in HF_ORGS.items() if family.startswith(prefix)), None)
    return f"{org}/{name}" if org else name


def is_model_interface(row: dict[str, str]) -> bool:
    """A row naming a v0.1 ``ModelInterface`` class to import."""
    return bool(row.get("module") and row.get("class_name"))


def model_interface_params(row: dict[str, str]) -> dict[str, Any]:
    """Params of the ``model_interface`` backend for a v0.1 row."""
    package, module = row.get("python_package", ""), row["module"]
    dotted = f"{package}.{module}" if package.isidentifier() and "." not in module else module
    return {"module": dotted, "class_name": row["class_name"], "model_name": row["model_name"]}


def model_interface_packages(row: dict[str, str]) -> list[str]:
    """What to install for a v0.1 row: ``git_python_package``, else ``python_package``."""
    spec = row.get("git_python_package") or row.get("python_package") or ""
    return [spec] if spec else []


def default_gpus(row: dict[str, str], backend: str) -> int:
    """GPUs a row takes: its ``gpus`` column, else 1 for Hugging Face models."""
    if row.get("gpus", "").strip():
        try:
            return int(row["gpus"])
        except ValueError:
            raise ConfigError("gpus", f"not a whole number: {row['gpus']!r}") from None
    hugging_face = row.get("framework", "").strip().lower().replace(" ", "") in {
        "huggingface",
        "hf",
        "transformers",
    }
    return 1 if hugging_face or backend == "transformers" else 0
