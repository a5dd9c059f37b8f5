"""gitops.environments: the descriptions in envs/*/environment.toml, their validation, the
job matrices the workflows take from them, and the scripts that accept any described name."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from gitops import environments
from gitops.environments import DescriptionError
from gitops.github import keep_alive
from gitops.paths import REPO_ROOT
from gitops.terraform import runner as tf

AWS_DESCRIPTION = """\
region = "eu-central-1"
gate = "{name}"
drift = true

[roles]
plan = "AWS_PLAN_ROLE_ARN"
apply = "AWS_APPLY_ROLE_ARN"
destroy = "AWS_APPLY_ROLE_ARN"

[nightly_destroy]
at = "23:07"
time_zone = "Europe/Berlin"
environment = "{name}-nightly"
keep_alive = "KEEP_{upper}_UNTIL"
"""


def make_root(envs: Path, name: str, description: str | None, region: str = "eu-central-1") -> Path:
    """A Terraform root with every file the loader requires, and the description given."""
    root = envs / name
    root.mkdir(parents=True)
    for required in ("backend.tf", "providers.tf", ".terraform.lock.hcl"):
        (root / required).write_text("# test root\n", encoding="utf-8")
    (root / "terraform.tfvars").write_text(f'aws_region = "{region}"\n', encoding="utf-8")
    if description is not None:
        text = description.format(name=name, upper=name.upper().replace("-", "_"))
        (root / "environment.toml").write_text(text, encoding="utf-8")
    return root


def problems_of(envs: Path) -> list[str]:
    with pytest.raises(DescriptionError) as exc:
        environments.load(envs)
    return exc.value.problems


# --- The repository's own descriptions -------------------------------------------------------


def test_the_repository_describes_localstack_and_seoul() -> None:
    envs = environments.load()
    assert {"localstack", "seoul"} <= set(envs)  # and any other folder with a description
    local, seoul = envs["localstack"], envs["seoul"]
    assert local.emulated and local.state_key is None and local.gate is None
    assert not local.drift and local.nightly is None and local.roles is None
    assert not seoul.emulated
    assert (seoul.region, seoul.state_key, seoul.gate) == (
        "ap-northeast-2", "seoul/terraform.tfstate", "seoul",
    )  # fmt: skip
    assert seoul.roles == environments.Roles(
        "AWS_PLAN_ROLE_ARN", "AWS_APPLY_ROLE_ARN", "AWS_DESTROY_ROLE_ARN"
    )
    assert seoul.nightly == environments.Nightly(
        "23:07", "Asia/Seoul", "seoul-nightly", "KEEP_SEOUL_UNTIL"
    )
    assert seoul.drift


def test_every_root_takes_its_provider_region_from_terraform_tfvars() -> None:
    """The loader compares `region` with terraform.tfvars; that is the provider's region only
    while every root's provider reads aws_region (through the validated inputs)."""
    for env in environments.load().values():
        providers = (env.root / "providers.tf").read_text(encoding="utf-8")
        regions = re.findall(r"^\s*region\s*=\s*(\S+)", providers, re.MULTILINE)
        assert regions == ["local.validated_inputs.aws_region"], env.name


def test_the_region_rule_is_the_one_terraform_applies() -> None:
    variables = (REPO_ROOT / "envs" / "common" / "variables.tf").read_text(encoding="utf-8")
    block = variables[variables.index('variable "aws_region"') :]
    assert f'regex("{environments._REGION.pattern}", var.aws_region)' in block


def test_the_seoul_cron_is_23_07_kst() -> None:
    seoul = {"seoul": environments.load()["seoul"]}
    assert environments.nightly_crons(seoul, 2026) == ["7 14 * * *"]


# --- Validation: every broken description is refused, naming the environment and the field ---


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: 'colour = "red"\n' + t, "envs/prod: colour: unknown field"),
        (
            lambda t: t.replace('"eu-central-1"', '"Frankfurt"'),
            "envs/prod: region: 'Frankfurt' is not an AWS region name such as ap-northeast-2",
        ),
        (
            lambda t: t.replace('"eu-central-1"', '"eu-west-1"'),
            "envs/prod: region: 'eu-west-1' but envs/prod/terraform.tfvars has aws_region = "
            "'eu-central-1'",
        ),
        (lambda t: t.replace('region = "eu-central-1"\n', ""), "envs/prod: region: missing"),
        (lambda t: t.replace('"23:07"', '"24:00"'), "envs/prod: nightly_destroy.at: '24:00'"),
        (lambda t: t.replace('"23:07"', '"11pm"'), "envs/prod: nightly_destroy.at: '11pm'"),
        (
            lambda t: t.replace('"Europe/Berlin"', '"Mars/Olympus"'),
            "envs/prod: nightly_destroy.time_zone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            lambda t: t.replace('"Europe/Berlin"', '"+09:00"'),
            "envs/prod: nightly_destroy.time_zone: '+09:00'",
        ),
        (lambda t: t.replace('gate = "prod"\n', ""), "envs/prod: gate: missing"),
        (lambda t: t.replace('gate = "prod"', 'gate = ""'), "envs/prod: gate: ''"),
        (
            lambda t: t.replace('"prod-nightly"', '"prod"'),
            "envs/prod: nightly_destroy.environment: 'prod' is the gate itself",
        ),
        (
            lambda t: t.replace('"KEEP_PROD_UNTIL"', '"keep-prod"'),
            "envs/prod: nightly_destroy.keep_alive: 'keep-prod'",
        ),
        (
            lambda t: t.replace('keep_alive = "KEEP_PROD_UNTIL"\n', ""),
            "envs/prod: nightly_destroy.keep_alive: missing",
        ),
        (lambda t: t + "[nightly_destroy.extra]\n", "envs/prod: nightly_destroy.extra: unknown"),
        (
            lambda t: t.replace('plan = "AWS_PLAN_ROLE_ARN"', 'plan = "arn:aws:iam::1:role/x"'),
            "envs/prod: roles.plan: 'arn:aws:iam::1:role/x'",
        ),
        (
            lambda t: t.replace('destroy = "AWS_APPLY_ROLE_ARN"\n', ""),
            "envs/prod: roles.destroy: missing",
        ),
        (lambda t: t.replace("[roles]", "[roles]\nread = 'X'"), "envs/prod: roles.read: unknown"),
        (lambda t: t[: t.index("[roles]")], "envs/prod: roles: missing"),
        (lambda t: t.replace("drift = true", 'drift = "yes"'), "envs/prod: drift: 'yes'"),
        (lambda t: t.replace("drift = true", ""), "envs/prod: drift: missing (true or false)"),
        (
            lambda t: 'state_key = "prod/state.json"\n' + t,
            "envs/prod: state_key: 'prod/state.json'",
        ),
        (lambda t: "emulated = 1\n" + t, "envs/prod: emulated: 1 is not true or false"),
        (lambda t: "emulated = true\n" + t, "envs/prod: gate: only for AWS environments"),
        (
            lambda t: 'priced_as = "eu-central-1"\n' + t,
            "envs/prod: priced_as: only for emulated environments (an AWS one is priced in its "
            "own region, 'eu-central-1')",
        ),
        (lambda t: "region = 'x'\n" + t, "envs/prod: environment.toml: not valid TOML"),
    ],
)
def test_a_broken_description_is_refused(tmp_path: Path, edit, expected: str) -> None:
    envs = tmp_path / "envs"
    root = make_root(envs, "prod", AWS_DESCRIPTION)
    description = root / "environment.toml"
    description.write_text(edit(description.read_text(encoding="utf-8")), encoding="utf-8")
    problems = problems_of(envs)
    assert any(p.startswith(expected) for p in problems), problems


def test_the_sample_description_itself_loads(tmp_path: Path) -> None:
    """The base of the cases above is valid: each case fails for its own edit alone."""
    make_root(tmp_path / "envs", "prod", AWS_DESCRIPTION)
    prod = environments.load(tmp_path / "envs")["prod"]
    assert prod.state_key == "prod/terraform.tfstate"  # the default, derived from the name
    assert prod.nightly is not None and prod.nightly.environment == "prod-nightly"


@pytest.mark.parametrize("missing", ["backend.tf", "providers.tf", "terraform.tfvars",
                                     ".terraform.lock.hcl"])  # fmt: skip
def test_a_root_missing_a_file_is_refused(tmp_path: Path, missing: str) -> None:
    root = make_root(tmp_path / "envs", "prod", AWS_DESCRIPTION)
    (root / missing).unlink()
    assert f"envs/prod: {missing}: missing" in problems_of(tmp_path / "envs")


def test_a_root_without_a_description_is_refused(tmp_path: Path) -> None:
    make_root(tmp_path / "envs", "prod", AWS_DESCRIPTION)
    make_root(tmp_path / "envs", "forgotten", None)
    (tmp_path / "envs" / "common").mkdir()  # the shared files' folder is no environment
    (tmp_path / "envs" / "common" / "stack.tf").write_text("# shared\n", encoding="utf-8")
    problems = problems_of(tmp_path / "envs")
    assert problems == [
        "envs/forgotten: environment.toml: missing (a Terraform root without one is in no "
        "pipeline; see docs/PIPELINE.md)"
    ]


def test_no_environment_at_all_is_refused(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    assert problems_of(tmp_path / "envs") == ["envs: no environment described "
                                              "(no envs/*/environment.toml)"]  # fmt: skip
    assert problems_of(tmp_path / "nowhere")[0].endswith("nowhere: no such folder")


def test_a_bad_folder_name_is_refused(tmp_path: Path) -> None:
    make_root(tmp_path / "envs", "Prod_1", AWS_DESCRIPTION)
    assert any(p.startswith("envs/Prod_1: name: 'Prod_1'") for p in problems_of(tmp_path / "envs"))


def test_two_environments_may_not_share_a_state_key_or_a_github_environment(
    tmp_path: Path,
) -> None:
    envs = tmp_path / "envs"
    make_root(envs, "prod", AWS_DESCRIPTION)
    copied = AWS_DESCRIPTION.replace('gate = "{name}"', 'gate = "prod"').replace(
        "{name}-nightly", "prod-nightly"
    )
    make_root(envs, "stage", 'state_key = "prod/terraform.tfstate"\n' + copied)
    assert problems_of(envs) == [
        "envs/stage: state_key: 'prod/terraform.tfstate' is also the state key of envs/prod",
        "envs/stage: gate: GitHub environment 'prod' is already used by envs/prod",
        "envs/stage: nightly_destroy.environment: GitHub environment 'prod-nightly' is already "
        "used by envs/prod",
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    make_root(envs, "prod", AWS_DESCRIPTION.replace("23:07", "9pm").replace("drift = true", ""))
    make_root(envs, "lab", "emulated = true\nregion = 'eu-central-1'\ndrift = true\n")
    assert problems_of(envs) == [
        "envs/lab: drift: only for AWS environments (an emulated one keeps local state, uses "
        "LocalStack's dummy credentials and is never gated)",
        "envs/prod: drift: missing (true or false)",
        "envs/prod: nightly_destroy.at: '9pm' is not a 24-hour local time HH:MM such as 23:07",
    ]


def test_an_emulated_environment_names_the_region_it_is_priced_as(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    make_root(envs, "lab", "emulated = true\nregion = 'eu-central-1'\npriced_as = 'eu-west-1'\n")
    make_root(envs, "bare", "emulated = true\nregion = 'eu-central-1'\n")
    loaded = environments.load(envs)
    assert (loaded["lab"].priced_as, loaded["bare"].priced_as) == ("eu-west-1", None)
    make_root(envs, "odd", "emulated = true\nregion = 'eu-central-1'\npriced_as = 'Tokyo'\n")
    assert problems_of(envs) == [
        "envs/odd: priced_as: 'Tokyo' is not an AWS region name such as ap-northeast-2"
    ]


def test_check_prints_the_problems_and_fails(tmp_path: Path, capsys) -> None:
    envs = tmp_path / "envs"
    make_root(envs, "prod", AWS_DESCRIPTION.replace('"eu-central-1"', '"eu-west-1"'))
    assert environments.main(["check"], envs_dir=envs) == 1
    assert "ERROR: envs/prod: region: 'eu-west-1' but" in capsys.readouterr().err
    assert environments.main(["matrix", "plan"], envs_dir=envs) == 1


# --- Nightly times: UTC crons, daylight saving time -----------------------------------------


def test_a_zone_with_daylight_saving_needs_a_cron_per_offset() -> None:
    berlin = environments.Nightly("23:07", "Europe/Berlin", "x-nightly", "KEEP_X_UNTIL")
    assert berlin.crons(2026) == ("7 21 * * *", "7 22 * * *")
    # Each day exactly one of the two firings is 23:07 in Berlin.
    assert berlin.due("7 21 * * *", date(2026, 7, 1))
    assert not berlin.due("7 22 * * *", date(2026, 7, 1))
    assert berlin.due("7 22 * * *", date(2026, 1, 15))
    assert not berlin.due("7 21 * * *", date(2026, 1, 15))


def test_a_half_hour_zone_and_a_local_time_on_the_previous_utc_day() -> None:
    assert environments.Nightly("23:07", "Asia/Kolkata", "n", "K").crons(2026) == ("37 17 * * *",)
    early = environments.Nightly("06:00", "Asia/Tokyo", "n", "K")
    assert early.crons(2026) == ("0 21 * * *",)
    assert early.due("0 21 * * *", date(2026, 3, 1))
    assert not early.due("7 14 * * *", date(2026, 3, 1))


# --- Matrices ---------------------------------------------------------------------------------


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """lab (emulated), prod (AWS, nightly destroy in Berlin, drift), stage (AWS, neither)."""
    envs = tmp_path / "envs"
    make_root(envs, "lab", "emulated = true\nregion = 'eu-central-1'\n")
    make_root(envs, "prod", AWS_DESCRIPTION)
    stage = AWS_DESCRIPTION[: AWS_DESCRIPTION.index("[nightly_destroy]")]
    make_root(envs, "stage", stage.replace("drift = true", "drift = false"))
    return envs


def run_main(capsys, envs: Path, *argv: str) -> dict:
    assert environments.main(list(argv), envs_dir=envs) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line: `echo "name=$(...)" >> "$GITHUB_OUTPUT"` takes it
    return json.loads(out)


def test_each_matrix_holds_the_environments_that_ask_for_it(three: Path, capsys) -> None:
    names = {
        kind: [e["name"] for e in run_main(capsys, three, "matrix", kind)["include"]]
        for kind in environments.MATRICES
    }
    assert names == {
        "plan": ["lab", "prod", "stage"],
        "deploy": ["prod", "stage"],
        "nightly-destroy": ["prod"],
        "drift": ["prod"],
    }


def test_matrix_entries_carry_everything_a_job_needs(three: Path, capsys) -> None:
    plan = run_main(capsys, three, "matrix", "plan")["include"]
    assert len({tuple(entry) for entry in plan}) == 1  # the same keys in every entry
    lab, prod, stage = plan
    assert lab["emulated"] is True and lab["state_key"] is None and lab["plan_role"] is None
    assert prod == {
        "name": "prod",
        "emulated": False,
        "region": "eu-central-1",
        "state_key": "prod/terraform.tfstate",
        "gate": "prod",
        "plan_role": "AWS_PLAN_ROLE_ARN",
        "apply_role": "AWS_APPLY_ROLE_ARN",
        "destroy_role": "AWS_APPLY_ROLE_ARN",
        "drift": True,
        "nightly_environment": "prod-nightly",
        "nightly_at": "23:07",
        "nightly_time_zone": "Europe/Berlin",
        "nightly_crons": list(environments.load(three)["prod"].nightly.crons()),
        "keep_alive": "KEEP_PROD_UNTIL",
    }
    assert stage["nightly_environment"] is None and stage["nightly_crons"] == []


def test_a_scheduled_firing_selects_the_environments_due_then(three: Path, capsys) -> None:
    summer = ["matrix", "nightly-destroy", "--schedule", "7 21 * * *", "--date", "2026-07-01"]
    assert [e["name"] for e in run_main(capsys, three, *summer)["include"]] == ["prod"]
    winter = ["matrix", "nightly-destroy", "--schedule", "7 21 * * *", "--date", "2026-01-15"]
    assert run_main(capsys, three, *winter) == {"include": []}


def test_a_late_run_is_judged_by_its_firing_not_by_the_day_it_started(three: Path) -> None:
    """GitHub may start a scheduled run late, past midnight UTC: the run belongs to the latest
    firing of its cron at or before now (as scripts/keep_alive.py judges it), not to the
    firing on the UTC date it started."""
    envs = environments.load(three)
    # 22:07 UTC on 28 March 2026 is 23:07 in Berlin (CET). The run starts at 00:40 UTC, on the
    # day Berlin moves to CEST, when that day's 22:07 UTC would be 00:07 local.
    late = datetime(2026, 3, 29, 0, 40, tzinfo=UTC)
    due = environments.matrix("nightly-destroy", envs, schedule="7 22 * * *", now=late)
    assert [e["name"] for e in due["include"]] == ["prod"]
    # the other cron's firing that night (21:07 UTC, 22:07 CET) is not the destroy's
    other = environments.matrix("nightly-destroy", envs, schedule="7 21 * * *", now=late)
    assert other == {"include": []}
    assert environments.scheduled_firing("7 22 * * *", late) == datetime(
        2026, 3, 28, 22, 7, tzinfo=UTC
    )
    on_time = datetime(2026, 3, 28, 22, 7, tzinfo=UTC)
    assert environments.scheduled_firing("7 22 * * *", on_time) == on_time


def test_a_matrix_narrows_to_aws_emulated_or_one_environment(three: Path, capsys) -> None:
    def names(*argv: str) -> list[str]:
        return [e["name"] for e in run_main(capsys, three, "matrix", *argv)["include"]]

    assert names("plan", "--aws") == ["prod", "stage"]
    assert names("plan", "--emulated") == ["lab"]
    assert names("drift", "--emulated") == []
    assert names("deploy", "--only", "stage") == ["stage"]
    # A name nothing describes, or one the matrix leaves out, is an error naming the known ones.
    assert environments.main(["matrix", "deploy", "--only", "kyoto"], envs_dir=three) == 1
    assert "unknown environment 'kyoto'; known: lab, prod, stage" in capsys.readouterr().err
    assert environments.main(["matrix", "deploy", "--only", "lab"], envs_dir=three) == 1
    assert "'lab' is not in the deploy matrix" in capsys.readouterr().err


def test_a_matrix_is_also_a_step_output(three: Path, capsys, tmp_path, monkeypatch) -> None:
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    printed = run_main(capsys, three, "matrix", "drift", "--github-output", "drift")
    name, _, value = output.read_text(encoding="utf-8").rstrip("\n").partition("=")
    assert name == "drift" and json.loads(value) == printed
    assert [e["name"] for e in printed["include"]] == ["prod"]


def test_crons_lists_what_the_nightly_schedule_must_carry(three: Path, capsys) -> None:
    assert environments.main(["crons"], envs_dir=three) == 0
    assert capsys.readouterr().out.split("\n")[:-1] == ["7 21 * * *", "7 22 * * *"]


@pytest.mark.parametrize(
    "argv",
    [
        ["matrix", "apply"],
        ["matrix", "drift", "--schedule", "7 21 * * *"],
        ["matrix", "nightly-destroy", "--schedule", "*/5 * * * *"],
        ["matrix", "nightly-destroy", "--date", "yesterday"],
    ],
)
def test_bad_matrix_arguments_are_usage_errors(three: Path, argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        environments.main(argv, envs_dir=three)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


# --- The scripts accept exactly the described names ----------------------------------------


def test_tf_refuses_an_unknown_name_with_the_known_ones(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        tf.main(["plan", "prod"])
    assert exc.value.code == 2
    known = environments.names()
    choices = ", ".join(repr(name) for name in known)
    assert f"invalid choice: 'prod' (choose from {choices})" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tf.describe("prod")
    assert f"use one of: {', '.join(known)}" in capsys.readouterr().err


def test_the_state_key_comes_from_the_description(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TF_STATE_BUCKET", "my-state")
    monkeypatch.setenv("TF_STATE_KEY", "")
    assert tf.backend_args("seoul")[1] == "-backend-config=key=seoul/terraform.tfstate"
    monkeypatch.setenv("TF_STATE_KEY", "elsewhere/terraform.tfstate")
    assert tf.backend_args("seoul")[1] == "-backend-config=key=elsewhere/terraform.tfstate"
    assert "from TF_STATE_KEY (envs/seoul describes seoul/terraform.tfstate)" in (
        capsys.readouterr().out
    )


def test_the_runner_knows_the_described_environments() -> None:
    folders = sorted(p.parent.name for p in environments.ENVS_DIR.glob("*/environment.toml"))
    assert tf.known() == environments.names() == tuple(folders)
    assert {"localstack", "seoul"} <= set(folders)
    with pytest.raises(AttributeError):
        _ = tf.NO_SUCH_NAME


def test_the_nightly_destroy_is_scheduled_at_every_environments_cron() -> None:
    """The workflow that destroys (itself, or through the per-environment workflow it calls)
    fires at exactly the UTC times `environments.py crons` prints: none missing, none stale."""
    workflows = {}
    for path in (REPO_ROOT / ".github" / "workflows").glob("*.yml"):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        workflow["on"] = workflow.get(True) or workflow.get("on") or {}  # YAML 1.1: `on` is True
        workflows[f"./.github/workflows/{path.name}"] = workflow

    def destroys(workflow: dict) -> bool:
        for job in (workflow.get("jobs") or {}).values():
            if (job.get("with") or {}).get("command") == "destroy":
                return True
            called = workflows.get(job.get("uses", ""))
            if called is not None and called is not workflow and destroys(called):
                return True
        return False

    scheduled = [
        sorted(entry["cron"] for entry in workflow["on"].get("schedule") or [])
        for workflow in workflows.values()
        if isinstance(workflow["on"], dict) and destroys(workflow)
    ]
    scheduled = [crons for crons in scheduled if crons]
    assert len(scheduled) == 1, "one scheduled workflow runs the nightly destroys"
    assert scheduled[0] == sorted(environments.nightly_crons(environments.load())), (
        "the nightly destroy's schedule: lines must be exactly `gitops envs crons`"
    )


def test_the_keep_alive_script_takes_the_variable_and_zone_from_the_description(
    capsys,
) -> None:
    """The nightly destroy passes `--env NAME`: the variable it names and the local date it
    judges by are the environment's own."""
    nightly = environments.load()["seoul"].nightly
    assert nightly is not None
    argv = ["--env", "seoul", "--until", "2026-07-02", "--schedule", "7 14 * * *"]
    # 14:07 UTC on 1 July is 23:07 on 1 July in Seoul: the keep-alive date is tomorrow there.
    assert keep_alive.main(argv, environ={}, now=datetime(2026, 7, 1, 14, 9, tzinfo=UTC)) == 0
    out = capsys.readouterr().out
    assert f"skip: {nightly.keep_alive}=2026-07-02 is 1 day(s) after today (2026-07-01 " in out
    assert nightly.time_zone in out
    with pytest.raises(SystemExit) as exc:  # an environment without a nightly destroy
        keep_alive.main(["--env", "localstack"], environ={})
    assert exc.value.code == 2
    assert "envs/localstack has no [nightly_destroy]" in capsys.readouterr().err


def test_the_check_refuses_a_nightly_time_no_cron_line_fires_at(three: Path, capsys) -> None:
    """A zone with daylight saving time needs a line per UTC offset: the check names the one
    missing (summer's, here), and has nothing to say once the workflow has both."""
    workflow = three.parent / environments.DESTROY_WORKFLOW
    workflow.parent.mkdir(parents=True)
    workflow.write_text('on:\n  schedule:\n    - cron: "7 22 * * *" # 23:07 CET\n')
    assert environments.main(["check"], envs_dir=three) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if str(environments.DESTROY_WORKFLOW) in line] == [
        f"ERROR: {environments.DESTROY_WORKFLOW}: no schedule fires at 21:07 UTC, when "
        'envs/prod\'s nightly destroy is due (23:07 Europe/Berlin): add `- cron: "7 21 * * *"` '
        "under on.schedule (`gitops envs crons` lists every line the schedule needs)"
    ]
    workflow.write_text("on:\n  schedule:\n    - cron: \"7 22 * * *\"\n    - cron: '7 21 * * *'\n")
    assert environments.schedule_problems(environments.load(three), workflow) == []


@pytest.mark.parametrize(
    "schedule",
    [
        "on:\n  schedule:\n    - cron: 7 21 * * *\n    - cron: '07 22 * * *'\n",  # unquoted, 07
        'on:\n  schedule: [{cron: "7  21 * * *"}, {cron: "7 22 * * *"}]\n',  # flow style, spaces
    ],
    ids=["unquoted-leading-zero", "flow-style"],
)
def test_the_check_reads_the_schedule_as_github_does(three: Path, schedule: str) -> None:
    workflow = three.parent / "destroy.yml"
    workflow.write_text(schedule)
    assert environments.schedule_problems(environments.load(three), workflow) == []


def test_a_cron_line_outside_the_schedule_does_not_count(three: Path) -> None:
    """Text that looks like a schedule inside a step's script is not one; a schedule that is
    not daily is refused as the nightly-destroy matrix would; a missing workflow is named."""
    workflow = three.parent / "destroy.yml"
    workflow.write_text(
        'on:\n  schedule:\n    - cron: "7 22 * * *"\n    - cron: "*/5 * * * *"\n'
        "jobs:\n  x:\n    steps:\n      - run: |\n          - cron: '7 21 * * *'\n"
    )
    problems = environments.schedule_problems(environments.load(three), workflow)
    assert len(problems) == 2
    assert "'*/5 * * * *' is not a daily `M H * * *` cron line" in problems[0]
    assert "no schedule fires at 21:07 UTC" in problems[1]
    missing = three.parent / "gone.yml"
    assert environments.schedule_problems(environments.load(three), missing) == [
        f"{environments.DESTROY_WORKFLOW}: not found: it holds the nightly destroy's schedule"
    ]
