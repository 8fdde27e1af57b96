"""The ``apptainer`` env manager: each stage in an Apptainer (Singularity) container, for
machines without a Docker engine (HPC clusters).

A stage runs as ``apptainer exec [--nv] --containall --cleanenv [--net --network none]
--pwd <run_dir> --env ... --bind src:src[:ro] ... <image> python -m vlmhb.core.cli.main
stage run <private task> --result ... --consume``: the process env's command line
(``vlmhb.core.envs.stage_io``) behind the launcher, started, cancelled and logged the same
way (it is a ``ProcessEnvManager`` with another ``stage_argv``). The container sees what
``vlmhb.core.envs.policy.stage_mounts`` allows, each at its own path, plus the private
folder of the task file (its path is the only thing on the command line: no secret);
``--containall`` gives it its own PID/IPC namespaces, an empty home and ``/tmp``, and no
host environment (``--cleanenv``). Its network is ``stage_network``'s: ``none`` is
``--net --network none``; ``host`` is Apptainer's default (the host's network). GPUs
(``--nv``) only when the stage holds some, with ``CUDA_VISIBLE_DEVICES``. Apptainer runs
the container as the calling user, never as root.

The image: ``env.image`` is a name under the allow-list (``VLMHB_IMAGE_PREFIXES``), run
from ``<cache_dir>/apptainer/<name>.sif`` when that file exists (e.g. ``apptainer build
<cache>/apptainer/vlmhb_base-cpu_latest.sif docker-daemon:vlmhb/base-cpu:latest``), else
``docker://<name>`` (pulled and cached by Apptainer). Images run as built: ``env.packages``
is refused (bake packages into the image). Apptainer's own failures (exit code 255: no
image, a bind it cannot make) are infrastructure failures.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vlmhb.core.contracts import EnvSpec, StageTask
from vlmhb.core.envs.base import PreparedEnv
from vlmhb.core.envs.network import stage_network
from vlmhb.core.envs.policy import DEFAULT_IMAGE, container_policy, stage_mounts
from vlmhb.core.envs.process import ProcessEnvManager
from vlmhb.core.envs.stage_io import StageFiles, stage_command
from vlmhb.core.errors import VlmhbError

APPTAINER = "apptainer"
STAGE_PYTHON = "python"  # the image's venv is first on its PATH
PASSED_THROUGH = ("APPTAINERENV_", "SINGULARITYENV_")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def sif_name(image: str) -> str:
    """The cached SIF file name of an image name (``vlmhb/base-cpu`` →
    ``vlmhb_base-cpu_latest.sif``)."""
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    return f"{_UNSAFE.sub('_', name)}_{tag or 'latest'}.sif"


class ApptainerEnvManager(ProcessEnvManager):
    """Runs each stage through ``apptainer exec``; see the module docstring."""

    LAUNCHER_EXIT_CODES = frozenset({255})

    def prepare(self, env: EnvSpec) -> PreparedEnv:
        """Check the image against the allow-list and find where it comes from."""
        if env.packages:
            raise VlmhbError(
                "the apptainer env runs images as they are built: env.packages is not "
                "supported; install the packages into the image"
            )
        image = env.image or DEFAULT_IMAGE
        container_policy().check_image(image)
        sif = self.cache_dir / "apptainer" / sif_name(image)
        source = str(sif) if sif.is_file() else f"docker://{image}"
        return PreparedEnv(
            STAGE_PYTHON, key=source, cache_hit=sif.is_file(), info={"image": source}
        )

    def stage_environ(self, task: StageTask) -> dict[str, str]:
        """The launcher's environment: this one without ``APPTAINERENV_*`` /
        ``SINGULARITYENV_*`` (Apptainer passes those into the container even with
        ``--cleanenv``); the stage's own variables are ``--env`` flags."""
        return {
            name: value for name, value in os.environ.items() if not name.startswith(PASSED_THROUGH)
        }

    def stage_argv(
        self, task: StageTask, prepared: PreparedEnv, private_task: Path, files: StageFiles
    ) -> list[str]:
        """``apptainer exec`` with the stage's mounts, network and GPUs around the stage
        command line."""
        argv = [APPTAINER, "exec"]
        if task.gpu_ids:
            argv.append("--nv")
        argv += ["--containall", "--cleanenv"]
        if stage_network(task) == "none":
            argv += ["--net", "--network", "none"]
        argv += ["--pwd", str(task.run_dir)]
        gpus = ",".join(str(i) for i in task.gpu_ids)
        for name, value in (("PYTHONUNBUFFERED", "1"), ("CUDA_VISIBLE_DEVICES", gpus)):
            argv += ["--env", f"{name}={value}"]
        for mount in stage_mounts(task, container_policy()):
            if not mount.read_only:
                mount.source.mkdir(parents=True, exist_ok=True)
            suffix = ":ro" if mount.read_only else ""
            argv += ["--bind", f"{mount.source}:{mount.source}{suffix}"]
        private = private_task.parent
        argv += ["--bind", f"{private}:{private}"]  # the task file with secrets; 0700, ours
        return [
            *argv,
            prepared.info["image"],
            *stage_command(prepared.python, private_task, files.result_file),
        ]
