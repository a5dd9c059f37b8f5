"""gitops.terraform.runner: the environment Terraform runs with, backend settings, error hints."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from gitops import environments
from gitops.preview import plans_dir as preview
from gitops.terraform import runner as tf

from tests.signalled import signal_when
from tests.tf_sandbox import fake_terraform_on_path


def test_localstack_endpoint_comes_from_aws_endpoint_url() -> None:
    environ = tf.terraform_environ("localstack", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4599"})
    assert environ["TF_VAR_localstack_endpoint"] == "http://127.0.0.1:4599"
    assert environ["TF_INPUT"] == "0"
    default = tf.terraform_environ("localstack", {})
    assert default["TF_VAR_localstack_endpoint"] == "http://localhost:4566"


def test_seoul_never_gets_a_localstack_endpoint() -> None:
    environ = tf.terraform_environ("seoul", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4599"})
    assert "TF_VAR_localstack_endpoint" not in environ


def test_one_run_reads_the_descriptions_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root, process environment, backend and hint all come from one read of envs/."""
    names = environments.names()
    reads = []
    real_load = tf.environments.load

    def counting_load(*args, **kwargs):
        reads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(tf.environments, "load", counting_load)
    monkeypatch.setenv("TF_STATE_BUCKET", "my-state")
    tf.described.cache_clear()
    try:
        for env in names:
            tf.env_dir(env)
            tf.terraform_environ(env)
            tf.backend_args(env)
            tf.hint_for("", env)
        assert len(reads) == 1
    finally:
        tf.described.cache_clear()


def test_seoul_backend_needs_a_bucket(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("TF_STATE_BUCKET", raising=False)
    with pytest.raises(SystemExit) as exc:
        tf.backend_args("seoul")
    assert exc.value.code == 2
    assert "TF_STATE_BUCKET is not set" in capsys.readouterr().err


def test_seoul_backend_from_partial_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_STATE_BUCKET", "my-state")
    monkeypatch.delenv("TF_STATE_KEY", raising=False)
    assert tf.backend_args("seoul") == [
        "-backend-config=bucket=my-state",
        "-backend-config=key=seoul/terraform.tfstate",
    ]
    assert tf.backend_args("localstack") == []


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("Error: Saved plan is stale", "run the plan again"),
        ("Error: Error acquiring the state lock", "make unlock"),
        ("dial tcp 127.0.0.1:4566: connect: connection refused", "make up"),
        ("No valid credential sources found", "AWS_PROFILE"),
        ("something else", "make help"),
    ],
)
def test_hints_name_the_next_step(stderr: str, expected: str) -> None:
    assert expected in tf.hint_for(stderr)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("dial tcp 52.95.1.1:443: connect: connection refused", "network and the region"),
        (
            'Error: Failed to get existing workspaces: S3 bucket "b" does not exist.',
            "TF_STATE_BUCKET",
        ),
        ("No valid credential sources found", "trust policy"),
        ("api error AccessDenied: User is not authorized to perform: s3:GetObject", "bootstrap/"),
        ("Error acquiring the state lock", "make unlock ENV=seoul"),
        # Terraform 1.11's S3 backend on a state the role cannot tell missing from forbidden
        (
            'Error: Error refreshing state: Unable to access object "seoul/terraform.tfstate" '
            'in S3 bucket "b": operation error S3: HeadObject, https response error '
            "StatusCode: 403, RequestID: R, HostID: H, api error Forbidden: Forbidden",
            "make bootstrap ENV=seoul",
        ),
    ],
)
def test_seoul_hints_fit_a_real_aws_account(stderr: str, expected: str) -> None:
    hint = tf.hint_for(stderr, "seoul")
    assert expected in hint
    assert "make up" not in hint and "LocalStack" not in hint


FAILING_TERRAFORM = """#!/bin/sh
echo 'Error: Failed to get existing workspaces: S3 bucket "nope" does not exist.' >&2
exit 1
"""


@pytest.fixture
def failing_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `terraform` on PATH whose init fails as a missing state bucket does; plans go to tmp."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(FAILING_TERRAFORM)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TF_STATE_BUCKET", "nope")
    plans = tmp_path / "plans"
    monkeypatch.setattr(tf, "PLANS_DIR", plans)
    return plans


@pytest.mark.parametrize(("command", "stem"), [("plan", "seoul"), ("drift", "seoul-drift")])
def test_a_failed_init_is_recorded_like_a_failed_plan(
    failing_init: Path, command: str, stem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    failing_init.mkdir()
    (failing_init / f"{stem}.json").write_text("{}")  # a stale plan of an earlier run
    with pytest.raises(SystemExit) as exc:
        tf.main([command, "seoul"])
    assert exc.value.code == 1
    assert "terraform init failed in envs/seoul" in capsys.readouterr().err
    assert not (failing_init / f"{stem}.json").exists()
    record = (failing_init / f"{stem}.stderr.txt").read_text()
    assert 'S3 bucket "nope" does not exist' in record
    assert "What to do: the state bucket in TF_STATE_BUCKET does not exist" in record
    # The preview shows Terraform's error and the Seoul hint, not "no plan was produced".
    out = failing_init / "comment.md"
    argv = ["--plans", str(failing_init), "--env", f"seoul={stem}", "--output", str(out)]
    assert preview.main(argv, {}) == 0
    comment = out.read_text()
    assert "does not exist" in comment and "No plan was produced" not in comment
    assert "make up" not in comment


def test_init_outside_a_plan_records_nothing(failing_init: Path) -> None:
    with pytest.raises(SystemExit):
        tf.main(["output", "seoul"])
    assert not failing_init.exists()


def test_unknown_environment_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        tf.env_dir("prod")
    assert "unknown environment 'prod'" in capsys.readouterr().err


def test_apply_refuses_a_missing_plan_file(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        tf.apply("seoul", tmp_path / "nope.tfplan")
    assert exc.value.code == 2
    assert "does not exist" in capsys.readouterr().err


# --- a fake `terraform` on PATH: drift outcomes and signals, without the real binary -----------

FAKE_TERRAFORM = """#!{python}
import os, signal, sys, time
cmd = sys.argv[1]
if cmd == "init":
    if os.environ.get("FAKE_INIT_FAILS"):
        print("Error: error configuring S3 Backend: AccessDenied", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
if cmd == "plan":
    sys.exit(int(os.environ.get("FAKE_PLAN_RC", "0")))
if cmd == "show":
    print("{{}}")
    sys.exit(0)
# apply/destroy: work until the first SIGINT, then take a while to save the state
sigints = []
signal.signal(signal.SIGINT, lambda *_: sigints.append(1))
signal.signal(signal.SIGTERM, lambda *_: sigints.append("term"))
print("aws_instance.web: Still creating...", flush=True)
deadline = time.monotonic() + 30
while not sigints and time.monotonic() < deadline:
    time.sleep(0.05)
# saving the state: until every signal of the cancel has been sent, and a moment more, in which
# a wrongly forwarded second signal would still arrive
while not os.path.exists(os.environ["FAKE_TF_SENT"]) and time.monotonic() < deadline:
    time.sleep(0.02)
time.sleep(0.2)
with open(os.environ["FAKE_TF_RECORD"], "w") as out:
    out.write(repr(sigints))
print("state saved, lock released", flush=True)
sys.exit(1)
"""


@pytest.fixture
def fake_terraform(tmp_path, monkeypatch: pytest.MonkeyPatch):
    fake_terraform_on_path(tmp_path, monkeypatch, FAKE_TERRAFORM)
    monkeypatch.setattr(tf, "PLANS_DIR", tmp_path / "plans")
    return tmp_path


@pytest.mark.parametrize(
    ("init_fails", "plan_rc", "code", "word"),
    [(False, 0, 0, "clean"), (False, 2, 2, "drift"), (False, 1, 1, "error"), (True, 0, 1, "error")],
)
def test_drift_records_its_outcome_for_callers_behind_make(
    fake_terraform, monkeypatch: pytest.MonkeyPatch, init_fails, plan_rc, code, word
) -> None:
    if init_fails:
        monkeypatch.setenv("FAKE_INIT_FAILS", "1")
    monkeypatch.setenv("FAKE_PLAN_RC", str(plan_rc))
    status = tf.drift_status_file("localstack")
    status.parent.mkdir(parents=True)
    status.write_text("drift\n")  # a stale outcome of an earlier check must not survive
    try:
        result = tf.main(["drift", "localstack"])
    except SystemExit as exc:  # a failed init ends the command the way `fail` does
        result = exc.code
    assert result == code
    assert status.read_text().strip() == word


def test_sigterm_stops_terraform_like_ctrl_c_and_waits_for_it(tmp_path) -> None:
    """A cancelled CI job: SIGTERM, and another a moment later, while Terraform applies."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text(FAKE_TERRAFORM.format(python=sys.executable))
    (bin_dir / "terraform").chmod(0o755)
    record = tmp_path / "record"
    environ = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_TF_RECORD": str(record),
        "FAKE_TF_SENT": str(tmp_path / "sent"),
    }
    code, output = signal_when(
        [sys.executable, "-m", "gitops", "tf", "apply", "localstack", "--no-init"],
        "Still creating",
        # the runner's second signal must not orphan it
        [signal.SIGTERM, signal.SIGTERM],
        env=environ,
        sent=tmp_path / "sent",
    )
    assert code == 130, output
    # tf.py outlived Terraform: the state was saved before it exited, after exactly one SIGINT.
    assert record.read_text() == "[1]", output
    assert "state saved, lock released" in output
    assert "After a cancelled deploy" in output


# --- a logged apply (make up/down): progress on the terminal, the whole output in a file ------

LOGGED_TERRAFORM = """#!{python}
import os, sys
print("Terraform will perform the following actions:")
for i in range(300):
    print(f'      + user_data = "boot script line {{i}}"')
print("Plan: 1 to add, 0 to change, 0 to destroy.")
print("aws_vpc.this: Creating...")
print("aws_vpc.this: Still creating... [10s elapsed]")
if os.environ.get("FAKE_APPLY_FAILS"):
    print("Error: creating EC2 VPC: connection refused", file=sys.stderr)
    sys.exit(1)
print("aws_vpc.this: Creation complete after 11s [id=vpc-1]")
print("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
"""


@pytest.fixture
def logged_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_terraform_on_path(tmp_path, monkeypatch, LOGGED_TERRAFORM)
    return tmp_path / "e2e" / "terraform.log"


def test_a_logged_apply_shows_progress_and_keeps_the_whole_output(
    logged_terraform: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tf.apply("localstack", refresh=False, log=logged_terraform)
    shown = capsys.readouterr().out
    assert "boot script line" not in shown
    progress = (
        "Plan: 1 to add",
        "Still creating... [10s elapsed]",
        "Creation complete after 11s",
        "Apply complete! Resources: 1 added",
        "ok terraform apply (localstack)",
    )
    for line in progress:
        assert line in shown
    assert len(shown.splitlines()) < 10, shown
    log = logged_terraform.read_text()
    assert "$ terraform apply -input=false -no-color -auto-approve -refresh=false" in log
    assert 'user_data = "boot script line 299"' in log and "Apply complete!" in log


def test_a_logged_apply_that_fails_shows_the_tail_of_its_log(
    logged_terraform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_APPLY_FAILS", "1")
    with pytest.raises(SystemExit):
        tf.apply("localstack", refresh=False, log=logged_terraform)
    out, err = capsys.readouterr()
    assert "boot script line 200" not in out + err
    assert f"last {tf.TAIL_LINES} lines of {logged_terraform}" in err
    tail = err[err.index(f"last {tf.TAIL_LINES} lines") :]
    assert "boot script line 299" in tail and "Error: creating EC2 VPC: connection refused" in tail
    assert "the AWS endpoint does not answer" in err  # the hint, as without a log
    assert logged_terraform.read_text().rstrip().endswith("connection refused")
