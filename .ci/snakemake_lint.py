"""`snakemake --lint`, failing on any lint except the ones below, each wrong for this
project for the reason given. Run from the repository root: python .ci/snakemake_lint.py"""

import re
import subprocess
import sys

ALLOWED = {
    "Specify a conda environment or container for each rule.":
        "every job runs the project's own interpreter (sys.executable, `pip install -e .`); "
        "per-rule conda environments would duplicate one pinned environment",
    "Shell command directly uses variable MEDIOCRITY from outside of the rule":
        "the interpreter that runs the package: not a result-affecting parameter",
    "Shell command directly uses variable PAPER_CLI from outside of the rule":
        "the interpreter that runs the paper stage: not a result-affecting parameter",
    "Shell command directly uses variable F7_CLI from outside of the rule":
        "the interpreter that runs the F7 stage: not a result-affecting parameter",
    "Shell command directly uses variable ESCAPE_CLI from outside of the rule":
        "the interpreter that runs a study's steps: not a result-affecting parameter",
    "Shell command directly uses variable MARGINS_CLI from outside of the rule":
        "the interpreter that runs a study's steps: not a result-affecting parameter",
    "Shell command directly uses variable DASK from outside of the rule":
        "where seeds run changes no result, so it must not be a params entry (switching "
        "schedulers would rerun every cell)",
    "Mixed rules and functions in same snakefile.":
        "common.smk and each study's rules.smk keep their input functions beside the "
        "wildcard constraints/rules that use them, one study per file; no science is in them",
}

run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True,
                     text=True, check=False)
titles = re.findall(r"^\s+\* (.+?):?$", run.stdout + run.stderr, re.M)
if not titles and run.returncode != 0:
    sys.exit(f"snakemake --lint failed:\n{run.stdout}{run.stderr}")
bad = sorted({t.rstrip(":") for t in titles} - {t.rstrip(":") for t in ALLOWED})
for title in sorted({t.rstrip(":") for t in titles} & set(ALLOWED)):
    print(f"snakemake --lint: allowed: {title} ({ALLOWED[title]})")
if bad:
    print(run.stdout + run.stderr)
    sys.exit("snakemake --lint: not allowed: " + "; ".join(bad))
print(f"snakemake --lint: {len(titles)} lints, all of an allowed kind")
