"""The commands README.md and docs/pipeline.md give for the quick results work on what
`snakemake --cores 2 --config preset=quick` leaves, as a new user would run them: the
report, `mediocrity status` and the README's xarray query.

The commands are read from the documents themselves (bash blocks and inline code), so a
document and its test cannot drift apart. All of them run on the suite's one quick-preset
run (the `quick_run` fixture of tests/conftest.py, shared with tests/test_pipeline.py).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs/pipeline.md")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def documented_commands(text: str) -> list[str]:
    """Shell commands of a Markdown text: every line of its ```bash blocks (comments
    dropped) and every `inline code` span outside the blocks."""
    commands = []
    for language, body in FENCE.findall(text):
        if language in ("bash", "sh", "shell"):
            for line in body.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line and not line.startswith("#"):
                    commands.append(line)
    commands += re.findall(r"`([^`\n]+)`", FENCE.sub("", text))
    return commands


def commands_starting(prefix: str, quick_only: bool = True) -> list[str]:
    """The documented commands that start with `prefix` (and, with quick_only, that are
    given for the quick preset), each once, in document order. Usage lines
    (`[--option]`, `<name>`) and commands that need a config file of the user's own
    (`--configfile`) are not commands to run as written."""
    found = []
    for document in DOCUMENTS:
        for command in documented_commands(document.read_text()):
            if (command.startswith(prefix) and command not in found
                    and not re.search(r"[\[<]|--configfile", command)
                    and (not quick_only or "preset=quick" in command)):
                found.append(command)
    return found


def python_blocks(text: str) -> list[str]:
    return [body for language, body in FENCE.findall(text) if language == "python"]


def run(command: str, where: Path) -> subprocess.CompletedProcess:
    """A documented `snakemake ...` or `mediocrity ...` command, with this interpreter."""
    argv = shlex.split(command)
    assert argv[0] in ("snakemake", "mediocrity"), command
    return subprocess.run([sys.executable, "-m", *argv], cwd=where, capture_output=True,
                          text=True, timeout=600)


def test_the_documents_give_commands_for_the_quick_results():
    assert commands_starting("snakemake --report"), "no report command for the quick preset"
    assert commands_starting("mediocrity status"), "no status command for the quick preset"
    readme = (ROOT / "README.md").read_text()
    assert any("results/quick/" in block for block in python_blocks(readme))


@pytest.mark.parametrize("command", commands_starting("snakemake --report"))
def test_report_command_builds_the_report(quick_run, command):
    out = run(command, quick_run)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    argv = shlex.split(command)
    report = quick_run / argv[argv.index("--report") + 1]
    html = report.read_text(errors="replace")
    for figure in ("F1", "F2", "F3", "F4", "F5", "F6"):
        assert f"{figure}.png" in html and f"{figure}.pdf" in html, figure
    for name in ("fits.csv", "numbers.tex", "summary.nc"):  # the fit table, its numbers
        assert f'"name": "{name}"' in html, name
    # the description page is workflow/report/workflow.rst, rendered for the quick run
    description = html.split('id="workflow-desc"')[1].split("</script>")[0]
    assert "What is in this report" in description
    assert "quick" in description


@pytest.mark.parametrize("command", commands_starting("mediocrity status", quick_only=False))
def test_status_command_describes_the_quick_grid(quick_run, command):
    out = run(command, quick_run)
    assert out.returncode == 0, out.stderr[-3000:]
    # after only the quick run, status (with or without --config preset=quick) reads the
    # quick grid and says so
    assert "quick" in out.stdout, out.stdout


def test_readme_quick_query_runs(quick_run):
    readme = (ROOT / "README.md").read_text()
    for block in python_blocks(readme):
        if "results/quick/" not in block:
            continue
        query = subprocess.run([sys.executable, "-c", block], cwd=quick_run,
                               capture_output=True, text=True, timeout=300)
        assert query.returncode == 0, query.stderr[-3000:]


def test_readme_default_query_is_the_quick_query_on_the_default_paths():
    """The default query cannot run on the quick results (other d values, other paths);
    it must stay the quick one with only its paths and d changed."""

    def normal(block: str) -> str:
        return re.sub(r"\s+", " ", block).strip()

    blocks = python_blocks((ROOT / "README.md").read_text())
    quick = [b for b in blocks if 'xr.open_zarr("results/quick/F3' in b]
    default = [b for b in blocks if 'xr.open_zarr("results/F3' in b]
    assert len(quick) == 1 and len(default) == 1
    as_default = quick[0].replace("results/quick/", "results/").replace("d=300", "d=1000")
    assert normal(as_default) == normal(default[0])
