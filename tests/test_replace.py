"""Re-creating a resource through the pipeline (gitops.terraform.replace, `make plan REPLACE=`,
the deploy workflow's `replace` input): addresses checked, a plan that replaces nothing refused,
a dispatched replacement held to exactly what was asked. The real plan against an applied stack
is in tests/test_pipeline.py (test_up_is_idempotent_and_failures_are_reported)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gitops.terraform import replace
from gitops.terraform import runner as tf

from tests.tf_sandbox import fake_terraform_on_path

WEB = replace.WEB_INSTANCE


def change(address: str, actions: list[str], reason: str | None = None) -> dict[str, Any]:
    rc: dict[str, Any] = {"address": address, "mode": "managed", "change": {"actions": actions}}
    if reason:
        rc["action_reason"] = reason
    return rc


REPLACED = change(WEB, ["delete", "create"], "replace_by_request")
UNCHANGED = change("module.vpc.aws_vpc.this", ["no-op"])
UPDATED = change("module.web.aws_security_group.this", ["update"])
READ = {**change("data.aws_iam_policy_document.x", ["read"]), "mode": "data"}


@pytest.mark.parametrize(
    "address", [WEB, "module.db.aws_instance.db[0]", 'module.x["a"].aws_s3_bucket.b', "a_b.c"]
)
def test_resource_addresses_are_accepted(address: str) -> None:
    assert replace.validate([address]) == [address]


@pytest.mark.parametrize(
    "address",
    ["web", "module.web", "aws_instance", "module.web.aws_instance.this -destroy", "x; rm -rf /",
     "", "module.web.aws_instance.this[", "module..aws_instance.this"],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_web_instance(address: str) -> None:
    with pytest.raises(replace.ReplaceError, match=r"not a resource address \(such as module\.web"):
        replace.validate([address])


def test_the_requested_replacement_alone_passes() -> None:
    plan = {"resource_changes": [REPLACED, UNCHANGED, READ]}
    passed, text = replace.check("seoul", plan, [WEB])
    assert passed and f"replaces `{WEB}` as requested" in text


def test_a_replacement_with_other_changes_is_refused_listing_them() -> None:
    plan = {"resource_changes": [REPLACED, UPDATED]}
    passed, text = replace.check("seoul", plan, [WEB])
    assert not passed
    assert "`module.web.aws_security_group.this` (update)" in text
    assert "deploy those through the deploy of their pull request first" in text


INSTANCE_NOW = {
    "id": "i-0123", "ami": "ami-1", "instance_type": "t3.micro", "user_data_base64": "H4sI-old",
    "tags": {"Name": "study-web"}, "root_block_device": [{"volume_size": 8, "iops": 3000}],
}  # fmt: skip


def replaced_as(after: dict[str, Any], unknown: dict[str, Any]) -> dict[str, Any]:
    """The web instance replaced by request, from INSTANCE_NOW to `after`."""
    rc = change(WEB, ["delete", "create"], "replace_by_request")
    rc["change"].update(before=INSTANCE_NOW, after=after, after_unknown=unknown)
    return rc


def test_a_replacement_as_it_is_passes_whatever_the_provider_computes_anew() -> None:
    """As a real plan has it (envs/localstack): computed values unknown, and a block the
    configuration leaves out but the provider read back from the old instance planned empty."""
    before = {**INSTANCE_NOW, "credit_specification": [{"cpu_credits": "standard"}]}
    after = {**INSTANCE_NOW, "id": None, "root_block_device": [{"volume_size": 8, "iops": None}],
             "credit_specification": []}  # fmt: skip
    unknown = {"id": True, "root_block_device": [{"iops": True}], "credit_specification": []}
    rc = replaced_as(after, unknown)
    rc["change"]["before"] = before
    passed, text = replace.check("seoul", {"resource_changes": [rc]}, [WEB])
    assert passed, text
    after = {**INSTANCE_NOW, "id": None, "root_block_device": [{"volume_size": 8, "iops": None}]}
    passed, text = replace.check(
        "seoul", {"resource_changes": [replaced_as(after, unknown)]}, [WEB]
    )
    assert passed, text


def test_a_replacement_that_would_also_change_the_instance_is_refused() -> None:
    """A user data or instance type merged but not deployed would ride along unreviewed."""
    after = {
        **INSTANCE_NOW, "id": None, "instance_type": "t3.small", "user_data_base64": "H4sI-new",
        "root_block_device": [{"volume_size": 16, "iops": None}],
    }  # fmt: skip
    unknown = {"id": True, "root_block_device": [{"iops": True}]}
    passed, text = replace.check(
        "seoul", {"resource_changes": [replaced_as(after, unknown)]}, [WEB]
    )
    assert not passed
    assert (
        f"`{WEB}` (replace, also changing instance_type, user_data_base64, "
        "root_block_device[0].volume_size)"
    ) in text


@pytest.mark.parametrize(
    "state_change",
    [{"change": {"actions": ["no-op"], "importing": {"id": "sg-1"}}},
     {"change": {"actions": ["no-op"]}, "previous_address": "module.web.aws_security_group.old"}],
    ids=["import", "move"],
)  # fmt: skip
def test_a_replacement_with_an_import_or_a_move_in_the_state_is_refused(
    state_change: dict[str, Any],
) -> None:
    other = {**change("module.web.aws_security_group.this", ["no-op"]), **state_change}
    passed, text = replace.check("seoul", {"resource_changes": [REPLACED, other]}, [WEB])
    assert not passed and "`module.web.aws_security_group.this` (no-op," in text


def test_a_plan_that_replaces_nothing_is_refused() -> None:
    """Terraform plans "No changes" for a -replace address that matches nothing."""
    passed, text = replace.check("seoul", {"resource_changes": [UNCHANGED]}, [WEB])
    assert not passed and "replaces nothing at module.web.aws_instance.this" in text
    # replaced for another reason (a changed AMI, say) is not the replacement requested either
    by_ami = change(WEB, ["delete", "create"])
    assert replace.missing({"resource_changes": [by_ami]}, [WEB]) == [WEB]


def test_replace_check_writes_the_verdict_to_the_summary_and_fails_closed(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"resource_changes": [REPLACED]}))
    bad.write_text(json.dumps({"resource_changes": [REPLACED, UPDATED]}))
    argv = ["--env", "seoul", "--replace", WEB, "--plan"]
    assert replace.main([*argv, str(good)], environ) == 0
    assert replace.main([*argv, str(bad)], environ) == 1
    assert replace.main([*argv, str(tmp_path / "missing.json")], environ) == 2
    assert replace.main(["--env", "seoul", "--replace", "web", "--plan", str(good)], environ) == 2
    text = summary.read_text()
    assert text.count("### Requested replacement (seoul)") == 2
    assert "✅" in text and "[!CAUTION]" in text


# --- `make plan ENV=... REPLACE=...` (gitops tf plan --replace) -------------------------------

FAKE_TERRAFORM = """#!{python}
import json, os, sys
with open(os.environ["FAKE_TF_ARGS"], "a") as out:
    out.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "plan":
    out = next(a for a in sys.argv if a.startswith("-out="))[5:]
    open(out, "w").write("binary plan")
    sys.exit(2)
if sys.argv[1] == "show":
    print(os.environ["FAKE_PLAN_JSON"])
"""


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `terraform` that records its arguments and shows FAKE_PLAN_JSON; plans go to tmp."""
    fake_terraform_on_path(tmp_path, monkeypatch, FAKE_TERRAFORM)
    monkeypatch.setenv("FAKE_TF_ARGS", str(tmp_path / "args.jsonl"))
    monkeypatch.setattr(tf, "PLANS_DIR", tmp_path / "plans")
    return tmp_path


def recorded(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "args.jsonl").read_text().splitlines()]


def test_plan_passes_replace_to_terraform_and_keeps_a_plan_that_does_it(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PLAN_JSON", json.dumps({"resource_changes": [REPLACED]}))
    assert tf.main(["plan", "localstack", "--no-init", "--replace", WEB]) == 0
    [plan_args, _show] = recorded(fake_terraform)
    assert plan_args[0] == "plan" and f"-replace={WEB}" in plan_args
    assert (fake_terraform / "plans" / "localstack.tfplan").exists()
    assert (fake_terraform / "plans" / "localstack.json").exists()


def test_a_replace_plan_that_replaces_nothing_fails_and_leaves_no_plan(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_PLAN_JSON", json.dumps({"resource_changes": [UNCHANGED]}))
    typo = "module.web.aws_instance.thsi"
    assert tf.main(["plan", "localstack", "--no-init", "--replace", typo]) == 1
    plans = fake_terraform / "plans"
    assert not (plans / "localstack.tfplan").exists() and not (plans / "localstack.json").exists()
    record = (plans / "localstack.stderr.txt").read_text()
    assert f"replaces nothing at {typo}" in record and f"the web instance is {WEB}" in record
    assert "replaced nothing" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["plan", "localstack", "--replace", "web"], ["apply", "localstack", "--replace", WEB],
     ["plan", "localstack", "--destroy", "--replace", WEB]],
)  # fmt: skip
def test_replace_is_refused_before_terraform_runs(
    fake_terraform: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        tf.main(argv)
    assert exc.value.code == 2
    assert "replace" in capsys.readouterr().err
    assert not (fake_terraform / "args.jsonl").exists()


def test_make_plan_passes_replace_through(tmp_path: Path) -> None:
    """`make plan REPLACE=...` reaches gitops as --replace (make -n prints, runs nothing)."""
    import subprocess

    from gitops.paths import REPO_ROOT

    shown = subprocess.run(
        ["make", "-n", "--no-print-directory", "plan", "ENV=seoul", f"REPLACE={WEB}"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"tf plan seoul --replace '{WEB}'" in shown
