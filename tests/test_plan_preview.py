"""The plan preview (gitops.preview) over real plans made by Terraform against LocalStack.

The fixtures in tests/fixtures/plans/ come from tests/fixtures/plans/regenerate.py; they hold
real secrets in clear text (a sensitive variable, a Secrets Manager value, a sensitive output, a
token in a tag), and these tests assert that none of them ever reaches the comment or the job
summary. No LocalStack or Terraform is needed here.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitops.paths import REPO_ROOT
from gitops.preview.redact import Secrets, is_secret_name
from gitops.preview.render import MARKER, SUMMARY_BUDGET, cut_to_budget
from gitops.preview.replacements import explain_replace_path

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "plans"
SCRIPT = REPO_ROOT / "scripts" / "plan_preview.py"
SCENARIOS = ("create", "update", "replace", "destroy", "no_changes")
GITHUB_LIMIT = 65_536


def _load_regenerate() -> Any:
    spec = importlib.util.spec_from_file_location("regenerate", FIXTURES / "regenerate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REGEN = _load_regenerate()
SECRETS: tuple[str, ...] = REGEN.SECRETS


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def render(tmp_path: Path, *args: str) -> tuple[str, str]:
    """(comment, summary) of one CLI run; fails the test when the CLI fails."""
    summary = tmp_path / "summary.md"
    proc = run(*args, "--summary", str(summary))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, summary.read_text()


def env_section(comment: str, env: str) -> str:
    """The part of the comment about one environment."""
    start = comment.index(f"### `{env}`")
    end = comment.find("\n### ", start + 1)
    return comment[start : end if end != -1 else len(comment)]


def summary_row(comment: str, env: str) -> list[str]:
    row = next(line for line in comment.splitlines() if line.startswith(f"| `{env}` |"))
    return [cell.replace("**", "").strip() for cell in row.strip("|").split("|")]


def write_plan(tmp_path: Path, name: str, plan: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(plan))
    return path


def rc_of(plan: dict[str, Any], address: str) -> dict[str, Any]:
    return next(rc for rc in plan["resource_changes"] if rc["address"] == address)


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Every scenario in one comment, as the workflow would render several environments."""
    tmp = tmp_path_factory.mktemp("all")
    args = [f"{s}={FIXTURES / s}.json" for s in SCENARIOS]
    args += ["--failed", f"failed={FIXTURES / 'failed.stderr.txt'}"]
    args += ["--skipped", "seoul=only planned on main"]
    return render(tmp, *args)


# --- the fixtures are what the tests claim --------------------------------------------------


def test_fixtures_are_real_plans_carrying_real_secrets() -> None:
    raw = {s: (FIXTURES / f"{s}.json").read_text() for s in SCENARIOS}
    for name, text in raw.items():
        plan = json.loads(text)
        assert plan["terraform_version"], name
        assert plan["format_version"], name
    replace = fixture("replace")
    # A sensitive variable, in clear text in the plan JSON.
    assert replace["configuration"]["root_module"]["variables"]["db_password"]["sensitive"]
    assert replace["variables"]["db_password"]["value"] == REGEN.DB_PASSWORD
    # A sensitive output.
    assert replace["planned_values"]["outputs"]["db_password"]["sensitive"] is True
    assert REGEN.DB_PASSWORD in raw["replace"]
    # A secret's value (Secrets Manager) in prior state.
    assert REGEN.API_KEY in raw["replace"]
    # A token in a tag the provider does not mark sensitive.
    assert REGEN.DEPLOY_TOKEN_NEW in raw["update"]
    assert REGEN.DB_PASSWORD_NEW in raw["update"]
    failed = (FIXTURES / "failed.stderr.txt").read_text()
    assert REGEN.DEPLOY_TOKEN_SHORT in failed
    # Terraform quotes the failing tfvars line whole, sensitive variables included.
    assert REGEN.DB_PASSWORD in failed and REGEN.API_KEY in failed


# --- secrets --------------------------------------------------------------------------------


def test_no_secret_reaches_the_comment_or_the_summary(everything: tuple[str, str]) -> None:
    comment, summary = everything
    for secret in SECRETS:
        assert secret not in comment, secret
        assert secret not in summary, secret


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_in_any_single_scenario(tmp_path: Path, scenario: str) -> None:
    comment, summary = render(tmp_path, f"env={FIXTURES / scenario}.json")
    for secret in SECRETS:
        assert secret not in comment + summary, (scenario, secret)


def test_failed_plan_alone_is_redacted(tmp_path: Path) -> None:
    """No plan JSON to learn the secrets from: patterns alone must catch them."""
    comment, summary = render(tmp_path, "--failed", f"seoul={FIXTURES / 'failed.stderr.txt'}")
    for secret in SECRETS:
        assert secret not in comment + summary, secret
    assert 'var.deploy_token is "(redacted)"' in comment


def test_secret_named_attributes_are_masked_where_the_provider_did_not(
    everything: tuple[str, str],
) -> None:
    section = env_section(everything[0], "update")
    assert "`tags.DeployToken` (sensitive)" in section
    row = next(line for line in section.splitlines() if "`aws_ssm_parameter.db_password`" in line)
    assert "`value` (sensitive)" in row


def test_sensitive_outputs_are_masked(everything: tuple[str, str]) -> None:
    section = env_section(everything[0], "update")
    row = next(line for line in section.splitlines() if "| `db_password` |" in line)
    assert row.rstrip().endswith("(sensitive) |")


def test_values_equal_to_a_known_secret_are_masked_under_any_name(tmp_path: Path) -> None:
    plan = fixture("update")
    rc = rc_of(plan, "aws_ssm_parameter.release")
    rc["change"]["after"]["description"] = REGEN.DB_PASSWORD_NEW  # an innocent-looking name
    comment, summary = render(tmp_path, f"env={write_plan(tmp_path, 'leak', plan)}")
    assert REGEN.DB_PASSWORD_NEW not in comment + summary
    assert '`description`: `""` → (sensitive)' in comment


def test_redact_scrubs_secret_shapes_but_keeps_the_error_readable() -> None:
    # Fakes assembled at run time, so the repository's secret scanners see no key in this file.
    aws_secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
    aws_key_id = "AKIA" + "IOSFODNN7EXAMPLE"
    pem = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEow\n-----END RSA " + "PRIVATE KEY-----"
    text = "\n".join(
        [
            "pass" + 'word = "hunter2-hunter2"',
            "export SECRET_KEY=abc123def",
            f"aws_secret_access_key = {aws_secret}",
            f"id {aws_key_id} used",
            "dsn mysql://app:" + "pa55word@db:3306/app",
            "Authorization: Bearer abcdefghijklmnop",
            pem,
            "operation error Secrets Manager: GetSecretValue, StatusCode: 400",
            "commit 0123456789abcdef0123456789abcdef01234567",
        ]
    )
    out = Secrets().redact(text)
    leaks = ("hunter2", "abc123def", aws_secret[:12], aws_key_id, "pa55word", "abcdefghijklmnop")
    for leaked in (*leaks, "MIIEow"):
        assert leaked not in out, leaked
    assert 'password = "(redacted)"' in out
    assert "mysql://app:(redacted)@db:3306/app" in out
    assert "Secrets Manager: GetSecretValue" in out
    assert "0123456789abcdef0123456789abcdef01234567" in out


# --- what each scenario says ----------------------------------------------------------------


def test_marker_comes_first_and_only_in_the_comment(everything: tuple[str, str]) -> None:
    comment, summary = everything
    assert comment.splitlines()[0] == MARKER == "<!-- plan-preview -->"
    assert MARKER not in summary


def test_counts_per_environment(everything: tuple[str, str]) -> None:
    comment, _ = everything
    # Environment | Result | Add | Change | Replace | Destroy
    assert summary_row(comment, "create")[2:] == ["9", "0", "0", "0"]
    assert summary_row(comment, "update")[2:] == ["0", "8", "0", "0"]
    assert summary_row(comment, "replace")[2:] == ["0", "0", "1", "0"]
    assert summary_row(comment, "destroy")[2:] == ["0", "0", "0", "9"]
    assert summary_row(comment, "no_changes")[2:] == ["0", "0", "0", "0"]
    assert "### `update`: 0 to add, 8 to change, 0 to replace, 0 to destroy" in comment
    assert "Terraform's own count: 1 to add, 0 to change, 1 to destroy" in env_section(
        comment, "replace"
    )


def test_create_lists_what_is_created_grouped_by_module(everything: tuple[str, str]) -> None:
    section = env_section(everything[0], "create")
    for module in ("**root module**", "**`module.network`**", "**`module.web`**"):
        assert module in section
    network = section[section.index("**`module.network`**") :]
    assert '| ➕ | create | `aws_vpc.this` | `cidr_block = "10.42.0.0/16"` |' in network
    assert "<details>" in section  # the table is detail, folded


def test_update_names_the_changed_attributes(everything: tuple[str, str]) -> None:
    section = env_section(everything[0], "update")
    assert '`tags.Environment`: `"staging"` → `"production"`' in section
    assert '`insecure_value`: `"v1"` → `"v2"`' in section
    assert "♻️" not in section.split("<details>")[0]  # nothing destructive announced


def test_drift_is_reported(everything: tuple[str, str]) -> None:
    section = env_section(everything[0], "update")
    assert "Drift: 1 resource changed outside Terraform" in section
    assert '`module.network.aws_vpc.this`: `tags.Owner` added: `"changed-by-hand"`' in section


def test_replace_explains_user_data_and_the_public_ip(everything: tuple[str, str]) -> None:
    section = env_section(everything[0], "replace")
    rc = rc_of(fixture("replace"), "module.web.aws_instance.this")
    assert rc["change"]["replace_paths"] == [["user_data"]]
    old_ip = rc["change"]["before"]["public_ip"]
    warning, rest = section.split("**Destroyed or replaced**", 1)
    assert "**1 resource will be replaced**" in warning
    assert "♻️ `module.web.aws_instance.this` **replaced**" in rest
    assert "`user_data` (its boot script) changed" in rest
    assert "`user_data_replace_on_change = true` replaces the instance" in rest
    assert f"new public IP (now {old_ip})" in rest
    assert "old one is destroyed first" in rest


def test_destroy_says_everything_goes_and_lists_it_first(everything: tuple[str, str]) -> None:
    comment, _ = everything
    assert "destroys everything" in " ".join(summary_row(comment, "destroy"))
    section = env_section(comment, "destroy")
    assert "**This plan destroys everything in `destroy`** (9 resources)" in section
    listed = section.index("**Destroyed or replaced**")
    assert listed < section.index("<details>")
    assert "its public IP" in section and "is released" in section
    assert section.count("**destroyed**") == 9


def test_no_changes_is_said_plainly(everything: tuple[str, str]) -> None:
    comment, _ = everything
    assert summary_row(comment, "no_changes")[1] == "✅ no changes"
    section = env_section(comment, "no_changes")
    assert "### `no_changes`: no changes" in section
    assert "**No changes.**" in section
    assert "|" not in section  # no empty tables


def test_failed_plan_shows_its_error(everything: tuple[str, str]) -> None:
    comment, summary = everything
    assert summary_row(comment, "failed")[1] == "❌ plan failed"
    section = env_section(comment, "failed")
    assert "**The plan failed**" in section
    assert "Error: Invalid value for variable" in section
    assert "deploy_token must be at least 16 characters long." in section
    assert "couldn't find resource" in section
    assert "```text" in section
    assert "Error: reading SSM Parameter" in summary


def test_skipped_environment_shows_the_reason(everything: tuple[str, str]) -> None:
    comment, _ = everything
    assert summary_row(comment, "seoul")[1] == "⏭️ skipped"
    assert "⏭️ **Skipped**, not planned: only planned on main" in env_section(comment, "seoul")


def test_version_timestamp_and_how_to_read(everything: tuple[str, str]) -> None:
    comment, _ = everything
    plan = fixture("create")
    section = env_section(comment, "create")
    assert f"Terraform {plan['terraform_version']}" in section
    assert f"planned {plan['timestamp']}" in section
    assert "**How to read this:**" in comment


def test_environments_in_command_line_order(tmp_path: Path) -> None:
    comment, _ = render(
        tmp_path,
        "--skipped", "zeta=later",
        f"alpha={FIXTURES / 'create.json'}",
        "--failed", f"mid={FIXTURES / 'failed.stderr.txt'}",
    )  # fmt: skip
    order = re.findall(r"^### `(\w+)`", comment, re.M)
    assert order == ["zeta", "alpha", "mid"]


# --- ordering and Markdown ------------------------------------------------------------------


def mixed_plan() -> dict[str, Any]:
    """One plan with a create, an update, a replace and a delete in the same module."""
    plan = fixture("replace")
    web = "module.web.aws_instance.this"
    create = copy.deepcopy(rc_of(fixture("create"), web))
    create.update(address="module.web.aws_instance.a_new", name="a_new")
    update = copy.deepcopy(rc_of(fixture("update"), web))
    update.update(address="module.web.aws_instance.b_tagged", name="b_tagged")
    delete = copy.deepcopy(rc_of(fixture("destroy"), web))
    delete.update(address="module.web.aws_instance.z_old", name="z_old")
    delete["action_reason"] = "delete_because_no_resource_config"
    replace = rc_of(plan, web)
    root_update = rc_of(fixture("update"), "aws_ssm_parameter.release")
    plan["resource_changes"] = [root_update, create, update, replace, delete]
    return plan


def test_deletions_and_replacements_come_first(tmp_path: Path) -> None:
    comment, summary = render(tmp_path, f"mixed={write_plan(tmp_path, 'mixed', mixed_plan())}")
    for text in (comment, summary):
        rows = [line for line in text.splitlines() if re.match(r"\| \S+ \| ", line)]
        resources = [r.split("|")[3].strip() for r in rows if "`aws_" in r.split("|")[3]]
        # module.web holds the destructive changes, so it comes before the root module.
        assert resources == [
            "`aws_instance.z_old`",
            "`aws_instance.this`",
            "`aws_instance.a_new`",
            "`aws_instance.b_tagged`",
            "`aws_ssm_parameter.release`",
        ]
    listed = comment.index("**Destroyed or replaced**")
    assert comment.index("`module.web.aws_instance.z_old` **destroyed**") > listed
    assert "its block was removed from the configuration" in comment
    assert "| 🔴 | **DESTROY** | `aws_instance.z_old` |" in comment
    assert "| ♻️ | **REPLACE** | `aws_instance.this` |" in comment


def test_table_cells_are_escaped(tmp_path: Path) -> None:
    plan = fixture("update")
    rc = rc_of(plan, "aws_ssm_parameter.release")
    rc["address"] = 'aws_ssm_parameter.release["a|b`c"]'
    rc["change"]["after"]["tags"]["Note"] = "x|y `z`"
    rc["change"]["before"]["tags"]["Note"] = "line1\nline2"
    comment, _ = render(tmp_path, f"env={write_plan(tmp_path, 'esc', plan)}")
    row = next(line for line in comment.splitlines() if "release[" in line)
    cells = re.split(r"(?<!\\)\|", row)
    assert len(cells) == 6, row  # four cells between the outer pipes
    assert "\\|" in row
    assert "`` aws_ssm_parameter" not in row  # address needs a double-backtick span
    assert "``" in row


# --- size -----------------------------------------------------------------------------------


def synthetic_plan(count: int, modules: int) -> dict[str, Any]:
    """A plan of count changes spread over modules, cloned from the real replace fixture."""
    plan = fixture("replace")
    templates = [
        rc_of(plan, "module.web.aws_instance.this"),  # replace
        rc_of(fixture("update"), "module.network.aws_vpc.this"),  # update
        rc_of(fixture("destroy"), "module.network.aws_subnet.public"),  # delete
        rc_of(fixture("create"), "aws_ssm_parameter.db_password"),  # create (sensitive)
    ]
    changes = []
    for i in range(count):
        template = templates[i % len(templates)]
        module = f"module.svc_{i % modules:05d}"
        changes.append(
            dict(template, address=f"{module}.{template['type']}.n{i}", module_address=module)
        )
    plan["resource_changes"] = changes
    return plan


def _balanced(text: str) -> None:
    assert text.count("<details>") == text.count("</details>")
    fences = [line for line in text.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0


@pytest.mark.parametrize(("count", "modules"), [(4000, 25), (3000, 3000)])
def test_comment_stays_under_githubs_limit(tmp_path: Path, count: int, modules: int) -> None:
    big = write_plan(tmp_path, "big", synthetic_plan(count, modules))
    comment, summary = render(
        tmp_path,
        f"big={big}",
        f"small={FIXTURES / 'replace.json'}",
        "--failed", f"broken={FIXTURES / 'failed.stderr.txt'}",
        "--full-url", "https://github.com/o/r/actions/runs/1",
    )  # fmt: skip
    assert len(comment) < GITHUB_LIMIT
    assert len(comment.encode()) < GITHUB_LIMIT
    assert comment.startswith(MARKER)
    assert (
        "The full version is in [this run's job summary](https://github.com/o/r/actions/runs/1)"
        in comment
    )
    # The overview of every environment survives whatever is cut.
    assert summary_row(comment, "big")[2:] == [str(count // 4)] * 4
    assert summary_row(comment, "broken")[1] == "❌ plan failed"
    _balanced(comment)
    for secret in SECRETS:
        assert secret not in comment + summary
    if modules == 3000:  # even the compact form is too long: cut, with the line saying where
        assert "✂️ **Cut here to stay under GitHub's 65,536-character limit.**" in comment
    else:  # compact form fits: per-module counts instead of the tables
        assert "| `module.svc_00000` | 40 | 40 | 40 | 40 | 0 |" in comment
        assert env_section(comment, "broken")  # later environments still shown
    assert len(summary.encode()) <= SUMMARY_BUDGET + 1000
    _balanced(summary)


def test_summary_is_the_long_form(tmp_path: Path) -> None:
    big = write_plan(tmp_path, "big", synthetic_plan(400, 4))
    comment, summary = render(tmp_path, f"big={big}")
    assert "aws_ssm_parameter.n399" not in comment  # compacted in the comment
    assert "`aws_ssm_parameter.n399`" in summary  # every change in the summary
    assert "<details>" not in summary.split("### `big`")[1].split("#### Outputs")[0]


def test_summary_is_appended_to_githubs_step_summary(tmp_path: Path) -> None:
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step output\n")
    env = {"GITHUB_STEP_SUMMARY": str(step_summary), "PATH": "/usr/bin:/bin"}
    proc = run(f"env={FIXTURES / 'create.json'}", "--summary", str(step_summary), env=env)
    assert proc.returncode == 0, proc.stderr
    text = step_summary.read_text()
    assert text.startswith("earlier step output\n")
    assert "## Terraform plan preview (full)" in text


# --- command line errors --------------------------------------------------------------------


def test_bad_env_file_syntax_exits_2(tmp_path: Path) -> None:
    proc = run(str(FIXTURES / "create.json"))
    assert proc.returncode == 2
    assert "expected ENV=VALUE" in proc.stderr and "create.json" in proc.stderr
    assert run("--failed", "seoul").returncode == 2
    assert run("bad name=x.json").returncode == 2
    assert run().returncode == 2
    dup = run(f"a={FIXTURES / 'create.json'}", "--skipped", "a=why")
    assert dup.returncode == 2 and "more than once: a" in dup.stderr


def test_unreadable_or_invalid_input_exits_1_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    proc = run(f"seoul={missing}")
    assert proc.returncode == 1
    assert str(missing) in proc.stderr and proc.stdout == ""

    broken = tmp_path / "broken.json"
    broken.write_text('{"format_version": ')
    proc = run(f"seoul={broken}")
    assert proc.returncode == 1
    assert "broken.json is not valid JSON" in proc.stderr

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format_version": "1.0", "values": {}}))
    proc = run(f"seoul={state}")
    assert proc.returncode == 1 and "looks like Terraform state" in proc.stderr

    proc = run("--failed", f"seoul={tmp_path / 'missing.stderr.txt'}")
    assert proc.returncode == 1 and "missing.stderr.txt" in proc.stderr


# --- units ----------------------------------------------------------------------------------


def test_errored_plan_is_flagged(tmp_path: Path) -> None:
    plan = fixture("update")
    plan["errored"] = True
    comment, _ = render(tmp_path, f"env={write_plan(tmp_path, 'err', plan)}")
    assert "plan errored: incomplete" in comment
    assert "**errored**" in comment


@pytest.mark.parametrize(
    ("rtype", "path", "words"),
    [
        ("aws_instance", ["user_data"], "user_data_replace_on_change = true"),
        ("aws_instance", ["ami"], "cannot switch to another image"),
        ("aws_subnet", ["cidr_block"], "address range"),
        ("aws_db_instance", ["identifier"], "cannot rename it"),
        ("aws_security_group", ["ingress", 0, "cidr_blocks"], "`ingress[0].cidr_blocks`"),
    ],
)
def test_replace_paths_in_words(rtype: str, path: list[object], words: str) -> None:
    assert words in explain_replace_path(rtype, path)


def test_cut_closes_open_blocks() -> None:
    lines = ["<details>", "<summary>x</summary>", "", "```text", *(["y" * 50] * 100), "```", ""]
    text, cut = cut_to_budget(lines, 1500, "CUT")
    assert cut and len(text.encode()) <= 1500
    assert text.rstrip().endswith("CUT")
    _balanced(text)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("DeployToken", True),
        ("secret_string", True),
        ("private_key_pem", True),
        ("api_key", True),
        ("secret_id", False),  # points at a secret
        ("secret_arn", False),
        ("password_length", False),
        ("http_tokens", False),  # IMDSv2 "optional"/"required": a reviewer must see it
        ("key_name", False),
        ("instance_type", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_switches_and_imds_setting_stay_visible(tmp_path: Path) -> None:
    plan = fixture("update")
    rc = rc_of(plan, "module.web.aws_instance.this")
    change = rc["change"]
    change["before"]["metadata_options"][0]["http_tokens"] = "optional"
    change["after"]["metadata_options"][0]["http_tokens"] = "required"
    change["before"]["manage_password"] = False  # secret-sounding name, but a switch
    change["after"]["manage_password"] = True
    comment, _ = render(tmp_path, f"env={write_plan(tmp_path, 'imds', plan)}")
    row = next(line for line in comment.splitlines() if "`aws_instance.this`" in line)
    assert '`metadata_options[0].http_tokens`: `"optional"` → `"required"`' in row
    assert "`manage_password`: `false` → `true`" in row
