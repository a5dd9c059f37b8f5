"""pre-commit hook: tflint over every Terraform directory with the repository's .tflint.hcl.

tflint is a Go binary with no PyPI wheel. GitHub's runners install it in the lint job (pr.yml);
a machine without it gets one visible line, "skipped: tflint not installed", never a silent pass
(the hook is `verbose: true`, so pre-commit prints the line even when the hook passes). Set
REQUIRE_TFLINT=1 (the lint job does) to turn that skip into a failure.

    gitops hook-tflint
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gitops.paths import REPO_ROOT

CONFIG = REPO_ROOT / ".tflint.hcl"
SKIP_LINE = "skipped: tflint not installed"
INSTALL_HINT = "install it from github.com/terraform-linters/tflint (CI's lint job does)"


def tflint_commands(exe: str, config: Path = CONFIG) -> list[list[str]]:
    """The commands the hook runs: install the rulesets .tflint.hcl names, then lint."""
    return [
        [exe, "--init", f"--config={config}"],
        [exe, "--recursive", f"--config={config}", "--format=compact"],
    ]


def main(argv: list[str] | None = None) -> int:
    del argv  # pre-commit passes no file names (pass_filenames: false): tflint walks the tree
    exe = shutil.which("tflint")
    if exe is None:
        if os.environ.get("REQUIRE_TFLINT") == "1":
            print(f"ERROR: tflint not installed but REQUIRE_TFLINT=1; {INSTALL_HINT}")
            return 1
        print(f"{SKIP_LINE}: {INSTALL_HINT}; nothing was linted by tflint")
        return 0
    for cmd in tflint_commands(exe):
        print("$ tflint " + " ".join(cmd[1:]).replace(str(REPO_ROOT) + os.sep, ""), flush=True)
        proc = subprocess.run(cmd, cwd=REPO_ROOT, check=False)
        if proc.returncode != 0:
            return proc.returncode
    print("tflint: no issues")
    return 0
