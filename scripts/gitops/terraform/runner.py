"""Run Terraform for one environment the way the pipeline does, on a laptop and in CI alike.

    gitops tf init|validate|plan|apply|destroy|drift|output ENV [options]

- The project's CLI config (.cache/terraform/cli.tfrc, written by `make setup`) is used when it
  exists, so init takes providers from a local mirror where there is one.
- `-input=false` everywhere; no prompt ever waits for a person.
- ENV is any environment an envs/ENV/environment.toml describes (scripts/gitops/environments.py).
- An emulated one (envs/localstack) talks to AWS_ENDPOINT_URL (default gitops.aws.DEFAULT_ENDPOINT).
- An AWS one takes its S3 backend from TF_STATE_BUCKET (required) and its description's state
  key (TF_STATE_KEY overrides it): partial backend configuration, nothing committed.
- plan writes .artifacts/plans/<env>.tfplan and <env>.json, or <env>.stderr.txt on failure
  (of the plan, or of the init before it), ending with the next step for that environment.
  plan --replace ADDRESS re-creates that resource (gitops.terraform.replace): a plan that does
  not replace it, because the address matches nothing, fails instead of planning no change.
- apply --plan FILE applies exactly that reviewed plan; a stale plan is refused with a hint.
- drift exits 0 (clean), 2 (drift) or 1 (error) and writes the same outcome as a word (clean,
  drift, error) to .artifacts/plans/<env>-drift.status: `make drift` exits 2 for every failure,
  so a caller that goes through make reads the file to tell drift from error.
- SIGINT (Ctrl-C) and SIGTERM (a cancelled CI job) both give a running Terraform exactly one
  SIGINT, its signal to stop gracefully, and wait for it to save its state and release the lock.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from gitops import environments
from gitops.aws import endpoint_from_env
from gitops.environments import ENVS_DIR
from gitops.paths import PLANS_DIR, TF_CLI_CONFIG, shown
from gitops.progress import fail, say, stage
from gitops.signals import forward_stop_signals
from gitops.terraform import replace as replace_addresses


@functools.cache
def described() -> dict[str, environments.Environment]:
    """Every described environment; a broken description ends the run with its problems.

    Read once a process: one Terraform run asks for its environment's root, process environment,
    backend and error hint, and the descriptions do not change while it runs.
    """
    try:
        return environments.load(ENVS_DIR)
    except environments.DescriptionError as err:
        raise fail(str(err), "fix the environment.toml named above (docs/PIPELINE.md)", 2) from None


def known() -> tuple[str, ...]:
    return tuple(described())


def describe(env: str) -> environments.Environment:
    """The description of `env`; an unknown name ends the run with the list of known ones."""
    envs = described()
    if env not in envs:
        raise fail(f"unknown environment {env!r}", f"use one of: {', '.join(envs)}", 2)
    return envs[env]


def env_dir(env: str) -> Path:
    return describe(env).root


def terraform_environ(env: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment Terraform runs with for this environment."""
    environ = dict(os.environ if base is None else base)
    if TF_CLI_CONFIG.exists() and "TF_CLI_CONFIG_FILE" not in (base or {}):
        environ["TF_CLI_CONFIG_FILE"] = str(TF_CLI_CONFIG)
    environ["TF_IN_AUTOMATION"] = "1"
    environ["TF_INPUT"] = "0"
    if describe(env).emulated:
        endpoint = endpoint_from_env(environ)
        environ["TF_VAR_localstack_endpoint"] = endpoint
    return environ


def terraform(
    env: str,
    args: list[str],
    *,
    capture: bool = False,
    check: bool = True,
    stream: bool = False,
    log: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `terraform <args>` in the environment's root.

    capture: keep stdout and stderr; stream: also echo stdout line by line as it comes, so a
    long apply shows its progress live (stderr is still kept for the error hint); with `log`,
    the whole output goes to that file and only the progress lines (PROGRESS) are echoed.
    """
    if shutil.which("terraform") is None:
        raise fail("terraform is not on PATH", "install Terraform (see .terraform-version)", 127)
    if stream:
        proc = _run_streaming(["terraform", *args], env, log)
    else:
        proc = subprocess.run(
            ["terraform", *args],
            cwd=env_dir(env),
            env=terraform_environ(env),
            text=True,
            capture_output=capture,
            check=False,
        )
    if check and proc.returncode != 0:
        if capture:
            sys.stderr.write(proc.stderr)
        raise fail(
            f"terraform {args[0]} failed in envs/{env} (exit {proc.returncode})",
            hint_for(proc.stderr if capture else "", env),
            proc.returncode,
        )
    return proc


# What a logged run still shows as it goes: each resource done, the waits, the totals.
PROGRESS = re.compile(
    r": (Creation|Destruction|Modifications|Import|Read) complete\b|: Still \w+\.\.\."
    r"|^(Apply|Destroy) complete!|^Plan: |^No changes\."
)
TAIL_LINES = 40  # of the log, shown when a logged run fails


def _run_streaming(
    cmd: list[str], env: str, log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Terraform in a session of its own, echoing its output as it comes.

    On Ctrl-C or SIGTERM Terraform gets exactly one SIGINT, its signal to stop gracefully: it
    finishes the calls in flight and writes its state (gitops.signals). Its output is read to
    the end meanwhile, so it never dies of a closed pipe with half of what it made unrecorded;
    then KeyboardInterrupt tells the caller the run was interrupted. With `log`, every line of
    stdout and then stderr is appended to that file, and only the PROGRESS lines are echoed.
    """
    logged = contextlib.ExitStack()
    sink = logged.enter_context(log.open("a", encoding="utf-8")) if log is not None else None
    with logged, subprocess.Popen(
        cmd, cwd=env_dir(env), env=terraform_environ(env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    ) as popen:  # fmt: skip
        assert popen.stdout is not None and popen.stderr is not None
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.extend(popen.stderr), daemon=True)
        reader.start()
        out: list[str] = []
        echoing = True
        with forward_stop_signals(
            popen.pid,
            first="interrupted: letting terraform stop cleanly and save its state",
            # GitHub sends SIGTERM a few seconds after SIGINT; a person may press Ctrl-C again.
            later="signal {signum} ignored: terraform is still saving its state, waiting for it",
            say=say,
        ) as interrupted:
            for line in popen.stdout:
                out.append(line)
                if sink is not None:
                    sink.write(line)
                    if not PROGRESS.search(line):
                        continue
                if echoing:
                    try:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    except OSError:  # our reader is gone: keep draining, never stop Terraform
                        echoing = False
            popen.wait()
        reader.join()
        if sink is not None:
            sink.writelines(err)
    if interrupted:
        raise KeyboardInterrupt(f"signal {interrupted[0]}")
    return subprocess.CompletedProcess(cmd, popen.returncode, "".join(out), "".join(err))


def hint_for(stderr: str, env: str = "localstack") -> str:
    """Turn the failures people really meet into the next step to take in `env`."""
    text = stderr.lower()
    if "saved plan is stale" in text:
        return "the state changed since this plan was made: run the plan again and review it"
    if "error acquiring the state lock" in text:
        return f"another run holds the state lock; wait for it, or see `make unlock ENV={env}`"
    if describe(env).emulated:
        if "connection refused" in text or "dial tcp" in text:
            return "the AWS endpoint does not answer: for LocalStack run `make up` (or start it)"
        if "no valid credential sources" in text or "expiredtoken" in text:
            return "no AWS credentials: set AWS_PROFILE, or run in CI where OIDC provides them"
        return "read Terraform's error above; `make help` lists the targets"
    # A real AWS account: the state bucket (partial backend configuration) and the credentials
    # (OIDC in CI, a profile on a laptop) are what fails first.
    if "nosuchbucket" in text or re.search(r"s3 bucket \S+ does not exist", text):
        return (
            "the state bucket in TF_STATE_BUCKET does not exist in this account and region: "
            "create it (bootstrap/, docs/PIPELINE.md) or correct the repository variable"
        )
    if "no valid credential sources" in text or "expiredtoken" in text:
        return (
            "no valid AWS credentials: on a laptop set AWS_PROFILE; in CI check that the OIDC "
            "step ran and that the role's trust policy names this repository (docs/PIPELINE.md)"
        )
    if "unable to access object" in text and ("forbidden" in text or "statuscode: 403" in text):
        return (
            f"the state object of {env} is missing, or the role may not read it: the pipeline's "
            "roles may list only their own state key, so S3 answers a missing state with 403, "
            f"not 404. `make bootstrap ENV={env}` writes an empty state where there is none "
            "(never over one, and it says how to bring back a deleted one from the bucket's "
            "versions)"
        )
    if "accessdenied" in text or "forbidden" in text or "statuscode: 403" in text:
        return (
            f"the role may not do this in {env}: compare its policy with bootstrap/ (state "
            "bucket and key, the services the stack uses) and the role variable that chose it"
        )
    if "dial tcp" in text or "connection refused" in text or "no such host" in text:
        return f"AWS did not answer from this machine: check the network and the region of {env}"
    return "read Terraform's error above; `make help` lists the targets"


def plan_paths(env: str, *, refresh_only: bool = False) -> tuple[Path, Path, Path]:
    """The saved plan, its JSON and the failure record of a plan (or drift check) of `env`."""
    name = f"{env}-drift" if refresh_only else env
    return (
        PLANS_DIR / f"{name}.tfplan",
        PLANS_DIR / f"{name}.json",
        PLANS_DIR / f"{name}.stderr.txt",
    )


def record_failure(err_file: Path, what: str, stderr: str, hint: str) -> None:
    """Write a failed step's output and the next step, where the plan preview looks for it."""
    err_file.parent.mkdir(parents=True, exist_ok=True)
    err_file.write_text(f"{what}\n\n{stderr.rstrip()}\n\nWhat to do: {hint}\n", encoding="utf-8")
    say(f"{what}; its output is in {shown(err_file)}")


def backend_args(env: str) -> list[str]:
    description = describe(env)
    if description.emulated:
        return []
    bucket = os.environ.get("TF_STATE_BUCKET", "").strip()
    if not bucket:
        raise fail(
            f"TF_STATE_BUCKET is not set: envs/{env} keeps its state in S3",
            "export TF_STATE_BUCKET=<your state bucket> (docs/PIPELINE.md says how to create it)",
            2,
        )
    key = os.environ.get("TF_STATE_KEY", "").strip() or description.state_key
    if key != description.state_key:
        say(f"state key {key} from TF_STATE_KEY (envs/{env} describes {description.state_key})")
    return [f"-backend-config=bucket={bucket}", f"-backend-config=key={key}"]


def init(env: str, backend: bool = True, record: Path | None = None) -> None:
    """terraform init; on failure, with `record`, also write its output there (like a plan)."""
    args = ["init", "-input=false", "-no-color"]
    args += backend_args(env) if backend else ["-backend=false"]
    if backend and not describe(env).emulated:
        args.append("-reconfigure")
    with stage(f"terraform init ({env})"):
        proc = terraform(env, args, capture=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            what = f"terraform init failed in envs/{env} (exit {proc.returncode})"
            hint = hint_for(proc.stderr, env)
            if record is not None:
                record_failure(record, what, proc.stderr, hint)
            raise fail(what, hint, proc.returncode)


def init_for_plan(env: str, *, refresh_only: bool = False) -> None:
    """init before a plan (or drift check): the plan's earlier files go first, and a failed init
    is recorded where the failed plan would be, so the preview shows Terraform's error instead of
    "no plan was produced"; nothing stale stays behind."""
    paths = plan_paths(env, refresh_only=refresh_only)
    for stale in paths:
        stale.unlink(missing_ok=True)
    init(env, record=paths[2])


def validate(env: str) -> None:
    init(env, backend=False)
    with stage(f"terraform validate ({env})"):
        terraform(env, ["validate", "-no-color"])


def plan(
    env: str, *, destroy: bool = False, refresh_only: bool = False, replace: Sequence[str] = ()
) -> int:
    """Plan into .artifacts/plans; returns 0 (no changes), 2 (changes) or 1 (error).

    replace: addresses to re-create (-replace); a plan that does not replace each of them is
    an error, recorded like a failed plan, and no plan file is left to apply."""
    PLANS_DIR.mkdir(parents=True, exist_ok=True)
    name = f"{env}-drift" if refresh_only else env
    plan_file, json_file, err_file = plan_paths(env, refresh_only=refresh_only)
    for stale in (plan_file, json_file, err_file):
        stale.unlink(missing_ok=True)
    args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan_file}"]
    args += ["-destroy"] if destroy else []
    args += ["-refresh-only"] if refresh_only else []
    args += [f"-replace={address}" for address in replace_addresses.validate(replace)]
    with stage(f"terraform plan ({name})"):
        proc = terraform(env, args, capture=True, check=False, stream=True)
        if proc.returncode == 1:
            sys.stderr.write(proc.stderr)
            hint = hint_for(proc.stderr, env)
            record_failure(err_file, f"terraform plan failed in envs/{env}", proc.stderr, hint)
            return 1
    plan_json = terraform(env, ["show", "-json", str(plan_file)], capture=True)
    absent = replace_addresses.missing(json.loads(plan_json.stdout), replace)
    if absent:
        plan_file.unlink(missing_ok=True)
        hint = replace_addresses.not_replaced_hint(env, absent)
        record_failure(
            err_file, f"terraform plan -replace in envs/{env} replaced nothing", "", hint
        )
        return 1
    json_file.write_text(plan_json.stdout, encoding="utf-8")
    say(f"plan saved: {shown(plan_file)} and {json_file.name}")
    for address in replace:
        say(f"the plan re-creates {address} (requested with -replace): review it, then apply it")
    return proc.returncode


def drift_status_file(env: str) -> Path:
    """Where `drift` records its outcome as a word: clean, drift or error."""
    return PLANS_DIR / f"{env}-drift.status"


def drift(env: str, *, run_init: bool = True) -> int:
    """Refresh-only plan; returns 0 (clean), 2 (drift) or 1 (error), and records it."""
    status_file = drift_status_file(env)
    status_file.unlink(missing_ok=True)
    code = 1
    try:
        if run_init:
            init_for_plan(env, refresh_only=True)
        code = plan(env, refresh_only=True)
    finally:
        PLANS_DIR.mkdir(parents=True, exist_ok=True)
        word = {0: "clean", 2: "drift"}.get(code, "error")
        status_file.write_text(word + "\n", encoding="utf-8")
    say({0: "no drift", 2: "drift found"}.get(code, "drift check failed"))
    return code


def apply(
    env: str, plan_file: Path | None = None, *, refresh: bool = True, log: Path | None = None
) -> None:
    if plan_file is not None:
        if not plan_file.exists():
            raise fail(f"plan file {plan_file} does not exist", f"run `make plan ENV={env}`", 2)
        args = ["apply", "-input=false", "-no-color", str(plan_file.resolve())]
    else:
        args = ["apply", "-input=false", "-no-color", "-auto-approve"]
        args += [] if refresh else ["-refresh=false"]
    _change(env, args, log)


def destroy(env: str, *, refresh: bool = True, log: Path | None = None) -> None:
    args = ["destroy", "-input=false", "-no-color", "-auto-approve"]
    args += [] if refresh else ["-refresh=false"]
    _change(env, args, log)


def _change(env: str, args: list[str], log: Path | None = None) -> None:
    """Run an apply or destroy with live output (with `log`: its progress lines, the whole of it
    in that file); a failure ends with Terraform's error (with `log`: the file's last lines) and
    the next step to take."""
    with stage(f"terraform {args[0]} ({env})"):
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as sink:
                sink.write(f"\n$ terraform {' '.join(args)}  (envs/{env})\n")
        proc = terraform(env, args, capture=True, check=False, stream=True, log=log)
        if proc.returncode != 0:
            if log is None:
                sys.stderr.write(proc.stderr)
            else:
                show_tail(log)
            raise fail(f"terraform {args[0]} failed in envs/{env}", hint_for(proc.stderr, env))


def show_tail(log: Path, lines: int = TAIL_LINES) -> None:
    """The last lines of a Terraform log, where a failure says what went wrong."""
    tail = log.read_text(encoding="utf-8").splitlines()[-lines:]
    print(
        f"--- last {len(tail)} lines of {shown(log)} (the whole output is there) ---",
        file=sys.stderr,
    )
    print("\n".join(tail), file=sys.stderr, flush=True)


def outputs(env: str) -> dict[str, object]:
    """The root's outputs as plain values ({} when nothing was applied)."""
    proc = terraform(env, ["output", "-json", "-no-color"], capture=True)
    raw = json.loads(proc.stdout or "{}")
    return {name: item.get("value") for name, item in raw.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Terraform for one environment.")
    parser.add_argument(
        "command", choices=["init", "validate", "plan", "apply", "destroy", "drift", "output"]
    )
    parser.add_argument("env", choices=known())
    parser.add_argument("--plan", type=Path, help="apply: the saved plan file to apply")
    parser.add_argument("--destroy", action="store_true", help="plan: a destroy plan")
    parser.add_argument("--no-init", action="store_true", help="skip terraform init")
    parser.add_argument(
        "--replace", action="append", default=[], metavar="ADDRESS",
        help=f"plan: re-create this resource (terraform -replace), such as "
        f"{replace_addresses.WEB_INSTANCE}; repeat for several",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.replace and (args.command != "plan" or args.destroy):
        parser.error("--replace goes with `plan` alone (then apply that plan)")
    try:
        replace_addresses.validate(args.replace)
    except replace_addresses.ReplaceError as err:
        parser.error(str(err))
    # Ctrl-C stops a run gracefully even where this process was started with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        say(
            "interrupted: terraform stopped and saved what it had done; if it still held the "
            f"state lock, `make unlock ENV={args.env}` shows it (docs/PIPELINE.md, "
            '"After a cancelled deploy")'
        )
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        validate(args.env)
        return 0
    if args.command == "drift":
        return drift(args.env, run_init=not args.no_init)
    if not args.no_init and args.command == "plan":
        init_for_plan(args.env)
    elif not args.no_init:
        init(args.env)
    if args.command == "init":
        return 0
    if args.command == "plan":
        code = plan(args.env, destroy=args.destroy, replace=args.replace)
        return 1 if code == 1 else 0
    if args.command == "apply":
        apply(args.env, args.plan)
    elif args.command == "destroy":
        destroy(args.env)
    elif args.command == "output":
        print(json.dumps(outputs(args.env), indent=2, sort_keys=True))
    return 0
