"""The ``vlmhb`` CLI mounts only the plugin CLI a command line names: a core command
loads none (no HTTP client, web backend... imported for ``vlmhb run``), help and a
mistyped name see them all."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
sys.argv = ["vlmhb", *sys.argv[1:]]
from vlmhb.core.cli.main import main
try:
    main()
except SystemExit:
    pass
probed = ("aiohttp", "vlmhb.inference.bench_cli", "vlmhb.data.cli")
print("LOADED", sorted(m for m in probed if m in sys.modules))
"""


def loaded(*argv: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    )
    modules = next(line for line in done.stdout.splitlines() if line.startswith("LOADED"))
    return modules.removeprefix("LOADED "), done.stdout + done.stderr


def test_a_core_command_loads_no_plugin_cli() -> None:
    modules, output = loaded("validate", "--help")
    assert modules == "[]" and "Check a config" in output


def test_a_plugin_command_loads_only_its_own_cli() -> None:
    modules, output = loaded("datasets", "--help")
    assert modules == "['vlmhb.data.cli']" and "synthetic documents" in output


def test_help_and_a_mistyped_name_see_every_plugin() -> None:
    for argv, shown in ((("--help",), "bench-serve"), (("datasetz",), "No such command")):
        modules, output = loaded(*argv)
        assert "vlmhb.inference.bench_cli" in modules and "vlmhb.data.cli" in modules
        assert shown in output
