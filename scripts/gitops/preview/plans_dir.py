"""Render the plan preview for whatever plans a job left in a directory.

    gitops preview --plans .artifacts/plans [--env localstack --env seoul]
        [--skipped "seoul=REASON"] [--aws-skipped REASON] [--summary FILE] [--output comment.md]
        [--redacted-out DIR]

`gitops plan-preview` (gitops.preview.cli) renders plans it is told about: `ENV=plan.json`,
`--failed ENV=stderr` and `--skipped ENV=reason`. Which of those applies to an environment is
only known once the plan jobs have finished, from the files they uploaded. This module makes
that choice, the same way in CI and on a laptop, then renders them with the same library call
(gitops.preview.render.render_files, in-process):

- --env NAME[=STEM]: the plan files are STEM.json (planned) or STEM.stderr.txt (failed) in
  --plans, or STEM.preview.json (the redacted model a plan job uploaded, planned or failed,
  gitops.preview.model.to_json); STEM defaults to NAME (the drift check uses
  `--env seoul=seoul-drift`). Without --env: every environment envs/*/environment.toml
  describes (scripts/gitops/environments.py).
- --redacted-out DIR: also write each environment's redacted model to DIR/NAME.preview.json:
  what a pull request's plan job uploads instead of its plan (the comment and the digest come
  from it; no raw value of the plan is in it).
- --aws-skipped REASON with a non-empty REASON: every AWS environment is skipped for REASON (a
  pull request from a fork, or a repository without AWS configured, plans none of them).
- neither file: the job stopped before it could plan; shown as failed with that explanation.
- --skipped NAME=REASON with a non-empty REASON: skipped, with a ::notice annotation.
- --summary defaults to $GITHUB_STEP_SUMMARY (the full detail goes there).
- `changes=true|false` goes to $GITHUB_OUTPUT: whether any planned environment would change
  anything (gitops.preview.model.any_changes, over the one definition the comment and the
  summary use: imports, moves and forgets count), so a deploy does not ask a reviewer to
  approve a plan with nothing in it, and never skips one that imports.
- exit 1 when a plan file cannot be read or is not a plan (the error says which), 2 on bad
  arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gitops import environments
from gitops.github.outputs import set_outputs
from gitops.paths import PLANS_DIR
from gitops.preview.model import MODEL_SUFFIX, InputError, any_changes, to_json
from gitops.preview.render import render_files

NO_PLAN = (
    "No plan was produced for {name}: the job stopped before `make plan` could write one, or "
    "it was cancelled. Its log says why.\n"
)


@dataclass(frozen=True)
class EnvPlan:
    name: str
    kind: str  # "planned" | "model" | "failed" | "skipped"
    value: str  # plan JSON path, redacted model path, stderr path, or skip reason


def parse_pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not name.strip():
            raise ValueError(f"{flag} expects NAME=VALUE, got {value!r}")
        pairs.append((name.strip(), rest.strip() if sep else ""))
    return pairs


def classify(plans: Path, envs: list[tuple[str, str]], skipped: dict[str, str]) -> list[EnvPlan]:
    """Decide, per environment, whether it planned, failed or was skipped."""
    result = []
    for name, stem in envs:
        stem = stem or name
        if skipped.get(name):
            result.append(EnvPlan(name, "skipped", skipped[name]))
        elif (plans / f"{stem}.json").is_file():
            result.append(EnvPlan(name, "planned", str(plans / f"{stem}.json")))
        elif (plans / f"{stem}{MODEL_SUFFIX}").is_file():
            result.append(EnvPlan(name, "model", str(plans / f"{stem}{MODEL_SUFFIX}")))
        elif (plans / f"{stem}.stderr.txt").is_file():
            result.append(EnvPlan(name, "failed", str(plans / f"{stem}.stderr.txt")))
        else:
            plans.mkdir(parents=True, exist_ok=True)
            missing = plans / f"{stem}.missing.txt"
            missing.write_text(NO_PLAN.format(name=name), encoding="utf-8")
            result.append(EnvPlan(name, "failed", str(missing)))
    return result


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Render the plan preview of a plans directory.")
    parser.add_argument("--plans", type=Path, default=PLANS_DIR, help="default: where "
                        "`gitops tf plan` writes (.artifacts/plans)")  # fmt: skip
    parser.add_argument("--env", action="append", default=[], metavar="NAME[=STEM]",
                        help="default: every described environment")  # fmt: skip
    parser.add_argument("--skipped", action="append", default=[], metavar="NAME=REASON")
    parser.add_argument("--aws-skipped", default="", metavar="REASON",
                        help="skip every AWS environment for REASON (when not empty)")  # fmt: skip
    parser.add_argument("--summary", default=env.get("GITHUB_STEP_SUMMARY") or None)
    parser.add_argument("--output", type=Path, help="write the comment here (default: stdout)")
    parser.add_argument("--redacted-out", type=Path, metavar="DIR",
                        help="also write each environment's redacted model here")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        envs = parse_pairs(args.env, "--env") or [(name, "") for name in environments.names()]
        skipped = dict(parse_pairs(args.skipped, "--skipped"))
        if args.aws_skipped.strip():
            described = environments.load()
            for name, _stem in envs:
                if name in described and not described[name].emulated:
                    skipped.setdefault(name, args.aws_skipped.strip())
    except ValueError as err:  # a bad NAME=VALUE, or a broken environment description
        parser.error(str(err))

    items = classify(args.plans, envs, skipped)
    # Annotations go to stdout (where the runner reads them) unless stdout is the comment.
    log = sys.stdout if args.output else sys.stderr
    for item in items:
        if item.kind == "skipped":
            print(f"::notice title=Plan skipped ({item.name})::{item.value}", file=log)
        else:
            print(f"{item.name}: {item.kind} ({item.value})", file=log)
    try:
        comment, envs = render_files(
            [(i.name, Path(i.value)) for i in items if i.kind == "planned"],
            [(i.name, Path(i.value)) for i in items if i.kind == "failed"],
            [(i.name, i.value) for i in items if i.kind == "skipped"],
            [i.name for i in items],
            summary=args.summary,
            append_summary=args.summary == env.get("GITHUB_STEP_SUMMARY"),
            models=[(i.name, Path(i.value)) for i in items if i.kind == "model"],
        )
    except InputError as err:
        print(f"preview: error: {err}; the plan job's log says what it wrote", file=sys.stderr)
        return 1
    set_outputs(env, changes="true" if any_changes(envs) else "false")
    if args.redacted_out:
        args.redacted_out.mkdir(parents=True, exist_ok=True)
        for shown in envs:
            path = args.redacted_out / f"{shown.name}{MODEL_SUFFIX}"
            path.write_text(json.dumps(to_json(shown), indent=1) + "\n", encoding="utf-8")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(comment, encoding="utf-8")
    else:
        sys.stdout.write(comment)
    return 0
