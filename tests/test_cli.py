"""Command line: `mediocrity --version` and `mediocrity info`, through the installed console
script and through `python -m mediocrity`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mediocrity

SCRIPT = Path(sys.executable).with_name("mediocrity")
COMMANDS = [pytest.param([sys.executable, "-m", "mediocrity"], id="python-m")]
if SCRIPT.exists():
    COMMANDS.append(pytest.param([str(SCRIPT)], id="console-script"))


def _run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_version_prints_the_package_version(cmd):
    out = _run([*cmd, "--version"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"mediocrity {mediocrity.__version__}"


@pytest.mark.parametrize("cmd", COMMANDS)
def test_info_lists_versions_and_the_numba_threading_layer(cmd):
    out = _run([*cmd, "info"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"mediocrity {mediocrity.__version__}"
    import numba
    import numpy

    assert f"numpy {numpy.__version__}" in lines
    assert f"numba {numba.__version__}" in lines
    assert any(line.startswith("python ") for line in lines)
    assert any(line.startswith("numba threading layer: ") for line in lines)


def test_unknown_command_fails_with_usage():
    out = _run([sys.executable, "-m", "mediocrity", "no-such-command"])
    assert out.returncode != 0
    assert "usage: mediocrity" in out.stderr


def test_every_option_of_every_command_says_what_it_is(monkeypatch, capsys):
    """Each argument of `mediocrity` and of each study's commands has a help text."""
    import argparse

    from mediocrity.pipeline.cli import main
    from mediocrity.studies.escape.exponents import main as f7_main

    missing = []
    add = argparse._ActionsContainer.add_argument

    def spy(self, *args, **kwargs):
        action = add(self, *args, **kwargs)
        if not action.help and not isinstance(action, argparse._HelpAction):
            missing.append(f"{getattr(self, 'prog', '?')} {'/'.join(args)}")
        return action

    monkeypatch.setattr(argparse._ActionsContainer, "add_argument", spy)
    for run, argv in [(main, ["-h"]), (main, ["status", "-h"]), (main, ["escape", "-h"]),
                      (main, ["paper", "-h"]), (main, ["margins", "-h"]), (f7_main, ["-h"])]:
        with pytest.raises(SystemExit):
            run(argv)
    capsys.readouterr()
    assert missing == []
