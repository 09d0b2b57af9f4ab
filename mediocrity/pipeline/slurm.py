"""What the SLURM executor will use to follow its jobs, said at normal verbosity.

snakemake-executor-plugin-slurm 2.x follows jobs with `sacct` or `squeue`. Without SLURM
accounting (no slurmdbd, common on small clusters) `sacct` fails, and the plugin logs that
only at debug level: a run then waits in silence. The profile (workflow/profiles/slurm)
sets `slurm-status-command: squeue`; the plugin still switches to `sacct` when MinJobAge is
shorter than 3 x its first status delay. `status_note(workflow)` reads the cluster's
settings (`scontrol show config`) and returns one line saying which command will be used
and why, or a warning when the run could not follow its jobs.
"""

from __future__ import annotations

import re
import shutil
import subprocess


def cluster_settings() -> dict[str, str] | None:
    """`scontrol show config` as {key: value}, None if it cannot be read."""
    if shutil.which("scontrol") is None:
        return None
    try:
        run = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if run.returncode != 0:
        return None
    out = {}
    for line in run.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _seconds(value: str | None) -> int | None:
    match = re.match(r"^(\d+)\s*([a-z]*)", (value or "").strip().lower())
    if not match:
        return None
    return int(match[1]) * (3600 if match[2].startswith("h") else 1)


def status_note(command: str | None, first_check: int | None,
                settings: dict[str, str] | None) -> tuple[str, bool]:
    """(message, is_warning) about following SLURM jobs with `command` (sacct or squeue,
    the plugin's `--slurm-status-command`), first checked `first_check` seconds after
    submission (`--slurm-init-seconds-before-status-checks`), on a cluster with
    `settings` (scontrol show config)."""
    command = command or "sacct"
    first_check = first_check or 40
    if settings is None:
        return (f"SLURM: job status from {command} (could not read `scontrol show config` "
                "to check the cluster's accounting and MinJobAge)", False)
    storage = settings.get("AccountingStorageType", "?")
    no_accounting = storage.endswith("/none")
    min_age = _seconds(settings.get("MinJobAge"))
    needed = 3 * first_check
    if command == "squeue" and min_age is not None and min_age < needed:
        if no_accounting:
            return (f"SLURM: MinJobAge = {min_age} s < 3 x {first_check} s, so the executor "
                    f"plugin will poll sacct instead of squeue, but accounting is off "
                    f"({storage}): it could never see a job finish. Lower "
                    f"--slurm-init-seconds-before-status-checks to {max(min_age // 3, 1)} or "
                    f"raise MinJobAge in slurm.conf", True)
        return (f"SLURM: job status from sacct (MinJobAge = {min_age} s is under 3 x "
                f"{first_check} s, too short for squeue)", False)
    if command == "sacct" and no_accounting:
        return (f"SLURM: accounting is off ({storage}), so sacct cannot report job states "
                "and the run would wait forever: use --slurm-status-command squeue (the "
                "setting of workflow/profiles/slurm)", True)
    why = (f"accounting {storage}, MinJobAge = {min_age} s keeps finished jobs visible"
           if command == "squeue" else f"accounting {storage}")
    return (f"SLURM: job status from {command}, first check {first_check} s after "
            f"submission ({why})", False)


def log_status(workflow, logger) -> None:
    """For the Snakefile's `onstart`: when the executor is SLURM, log which command follows
    the jobs (logger.info), or why it could not (logger.warning)."""
    plugin = getattr(workflow, "executor_plugin", None)
    if getattr(plugin, "name", None) != "slurm":
        return
    settings = getattr(workflow, "executor_settings", None)
    message, warn = status_note(getattr(settings, "status_command", None),
                                getattr(settings, "init_seconds_before_status_checks", None),
                                cluster_settings())
    (logger.warning if warn else logger.info)(message)
