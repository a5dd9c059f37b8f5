"""`make bootstrap-rehearsal`: the bootstrap run against LocalStack with dummy credentials, from
the make target as a newcomer types it, and its refusal to go anywhere near real AWS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gitops.terraform import bootstrap

from tests.test_bootstrap_iam import bootstrap_provided_variables
from tests.tf_sandbox import REPO_ROOT

REGION = "ap-northeast-2"


# --- Refusal (no emulator, no Terraform) ------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "localhost:4566",
        "not a url",
        "https://iam.amazonaws.com",
        "https://sts.ap-northeast-2.amazonaws.com",
    ],
)
def test_rehearsal_refuses_real_aws_or_no_endpoint(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops.pipeline import localstack

    def no_start(*_a: Any, **_k: Any) -> None:
        raise AssertionError("refused too late: LocalStack was asked for")

    monkeypatch.setattr(localstack, "ensure", no_start)
    with pytest.raises(bootstrap.BootstrapError, match="rehearsal endpoint"):
        bootstrap.rehearse(environ={"AWS_PROFILE": "prod-admin"}, endpoint=endpoint)
    with pytest.raises(bootstrap.BootstrapError, match="rehearsal endpoint"):  # from the env
        bootstrap.rehearse(environ={"AWS_ENDPOINT_URL": endpoint})


def test_rehearsal_main_says_why_it_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = bootstrap.main(["--rehearse", "--endpoint", "https://sts.amazonaws.com"], environ={})
    assert code == 1
    assert "real AWS" in capsys.readouterr().err


def test_rehearsal_environment_drops_the_operators_aws_settings() -> None:
    operator = {
        "AWS_PROFILE": "prod-admin",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_SECRET_ACCESS_KEY": "real",
        "AWS_SESSION_TOKEN": "real",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/admin",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/token",
        "TF_VAR_repository": "someone/else",
        "GITHUB_ACTIONS": "true",
        "PATH": "/usr/bin",
    }
    env = bootstrap.rehearsal_environ(operator, "http://localhost:4566")
    aws = {k: v for k, v in env.items() if k.startswith("AWS_")}
    assert aws == {
        "AWS_ENDPOINT_URL": "http://localhost:4566",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    assert "TF_VAR_repository" not in env and env["PATH"] == "/usr/bin"
    assert operator["AWS_PROFILE"] == "prod-admin"  # the caller's mapping is left alone


def test_a_rehearsal_refuses_an_account_that_is_not_localstacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Sts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": "123456789012"}

    def client(service: str, *_a: Any) -> Any:
        assert service == "sts", f"{service} asked for before the account was checked"
        return Sts()

    monkeypatch.setattr(bootstrap, "_client", client)
    monkeypatch.setattr(bootstrap, "terraform", lambda *a, **k: pytest.fail("terraform ran"))
    (tmp_path / "github-oidc").mkdir()
    with pytest.raises(bootstrap.BootstrapError, match="not LocalStack's 000000000000"):
        bootstrap.run(
            environ={},
            repo=bootstrap.REHEARSAL_REPO,
            subject_format="name",
            bootstrap_dir=tmp_path,
            expect_account=bootstrap.LOCALSTACK_ACCOUNT,
        )


# --- The make target, applied on LocalStack --------------------------------------------------


@pytest.mark.e2e
def test_make_bootstrap_rehearsal(localstack_endpoint: str, tmp_path: Path) -> None:
    import boto3

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))}
    # A profile that does not exist: had the rehearsal read it, boto3 would fail on it.
    env["AWS_PROFILE"] = "operator-profile-that-must-not-be-read"
    kept = tmp_path / "kept"
    proc = subprocess.run(
        ["make", "--no-print-directory", "bootstrap-rehearsal",
         f"ENDPOINT={localstack_endpoint}", f"KEEP_IN={kept}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    repo = bootstrap.REHEARSAL_REPO
    printed = {
        line.split()[3]: line.split("--body ", 1)[1].rsplit(" -R ", 1)
        for line in out.splitlines()
        if line.startswith("  gh variable set ")
    }
    assert set(printed) == bootstrap_provided_variables()
    assert all(target == repo for _, target in printed.values())
    values = {name: body.strip("'") for name, (body, _) in printed.items()}
    assert values["TF_STATE_BUCKET"] == bootstrap.REHEARSAL_BUCKET
    assert "stopping the LocalStack it started" not in out  # the session's: reused, left up
    assert "no account budget here (AWS Budgets is not emulated)" in out

    creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    iam = boto3.client("iam", endpoint_url=localstack_endpoint, region_name=REGION, **creds)
    try:
        for name, arn in values.items():
            if name.endswith("_ROLE_ARN"):
                role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
                assert role["Arn"] == arn
                assert f"rehearsal: ok role {role['RoleName']} exists in LocalStack" in out
    finally:
        bootstrap._teardown(
            kept / "bootstrap",
            repo,
            bootstrap.REHEARSAL_BUCKET,
            bootstrap.rehearsal_environ(dict(os.environ), localstack_endpoint),
        )
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert not {v.rsplit("/", 1)[1] for k, v in values.items() if k.endswith("_ROLE_ARN")} & names


def test_a_rehearsal_hides_the_operators_profile_while_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """boto3 reads AWS_PROFILE from the process whatever a session is given: a profile of the
    operator's (here one that does not exist) must be out of sight, and back afterwards."""
    from gitops.pipeline import localstack

    seen: dict[str, str] = {}

    def ensure(*_a: Any, **_k: Any) -> None:
        seen.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
        raise SystemExit(1)

    monkeypatch.setattr(localstack, "ensure", ensure)
    monkeypatch.setenv("AWS_PROFILE", "operator-profile")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real")
    with pytest.raises(bootstrap.BootstrapError, match="no LocalStack"):
        bootstrap.rehearse(environ=dict(os.environ), endpoint="http://localhost:4566")
    assert seen == {}
    assert os.environ["AWS_PROFILE"] == "operator-profile"


@pytest.mark.parametrize("keep", [False, True])
def test_a_rehearsal_that_keeps_what_it_applied_keeps_the_localstack_holding_it(
    keep: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a rehearsal applied lives only in the emulator: with KEEP_IN, the LocalStack it
    started stays up (and says how to stop it); without, it is stopped as before."""
    from gitops.pipeline import localstack

    started = localstack.Emulator("http://localhost:4566", True, "host", pid=4242)
    stopped: list[localstack.Emulator] = []
    monkeypatch.setattr(localstack, "ensure", lambda *a, **k: started)
    monkeypatch.setattr(localstack, "stop", lambda emu, *a, **k: stopped.append(emu))
    result = bootstrap.Result(variables={}, repository=bootstrap.REHEARSAL_REPO, reused_provider="")
    monkeypatch.setattr(bootstrap, "run", lambda **kwargs: result)
    lines: list[str] = []
    kept = tmp_path / "kept"
    bootstrap.rehearse(environ={}, endpoint=started.endpoint, keep_in=kept if keep else None,
                       log=lines.append)  # fmt: skip
    if keep:
        assert stopped == []
        assert localstack.load(kept / "localstack.json") == started
        assert any(f"localstack stop --state-file {kept}" in line for line in lines), lines
    else:
        assert stopped == [started]


def test_a_rehearsal_refused_before_applying_leaves_the_bucket_it_found(tmp_path: Path) -> None:
    """A second rehearsal against a LocalStack that keeps the first one's work (KEEP_IN,
    ENDPOINT=) is refused before it applies anything; its clean-up must not then delete the
    bucket the first one left."""
    import boto3
    from moto import mock_aws

    root = bootstrap._rehearsal_roots(tmp_path, bootstrap.REHEARSAL_REPO)  # nothing applied
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bootstrap.REHEARSAL_BUCKET)
        bootstrap._teardown(root, bootstrap.REHEARSAL_REPO, bootstrap.REHEARSAL_BUCKET, env)
        assert s3.head_bucket(Bucket=bootstrap.REHEARSAL_BUCKET)
