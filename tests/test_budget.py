"""The account's AWS Budgets alarm (bootstrap/account): LocalStack's free edition has no
Budgets, so the rehearsal leaves it out (create_budget = false) and this file covers it:
Terraform plans the real root offline (dummy credentials, no API call) and every argument it
would send is checked against the Budgets API's own constraints, read from botocore's service
model (AWS's API definition) and the Budgets documentation (10 e-mail subscribers per
notification); bad inputs are refused at plan time, and the settings survive a second run."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from gitops.terraform import bootstrap
from gitops.terraform.iam_render import OFFLINE_PROVIDER

from tests.tf_sandbox import init, terraform, tf_environ

EMAIL_SUBSCRIBERS_MAX = 10  # Budgets docs: one SNS and up to 10 e-mail subscribers a notification


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("account") / "account"
    left_out = shutil.ignore_patterns(".terraform", "*.tfstate*", "*.json")
    shutil.copytree(bootstrap.BOOTSTRAP_DIR / bootstrap.ACCOUNT_ROOT, path, ignore=left_out)
    (path / "offline_override.tf").write_text(OFFLINE_PROVIDER, encoding="utf-8")
    init(path, tf_environ())
    return path


def plan(root: Path, **variables: Any) -> tuple[int, str, dict[str, Any]]:
    variables.setdefault("budget_name", bootstrap.BUDGET_NAME)  # make bootstrap always sends it
    args = [f"-var={k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in variables.items()]
    proc = terraform(root, "plan", "-input=false", "-no-color", "-refresh=false", "-out=b.tfplan",
                     *args, env=tf_environ())  # fmt: skip
    if proc.returncode != 0:
        return proc.returncode, proc.stderr + proc.stdout, {}
    shown = terraform(root, "show", "-json", "b.tfplan", env=tf_environ(), check=True)
    return 0, "", json.loads(shown.stdout)


def budgets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    resources = doc["planned_values"]["root_module"].get("resources", [])
    return [r["values"] for r in resources if r["type"] == "aws_budgets_budget"]


def api_shape(name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("budgets").shape_for(name)


def _pattern(shape: Any) -> re.Pattern[str]:
    # Python wants an inline flag at the start; the API's pattern scopes it inside a group.
    text = shape.metadata["pattern"].replace(
        "(?i).*<script>.*</script>.*", "(?i:.*<script>.*</script>.*)"
    )
    return re.compile(text)


def conforms(shape_name: str, value: str) -> bool:
    shape = api_shape(shape_name)
    meta = shape.metadata
    if "enum" in meta:
        return value in meta["enum"]
    length_ok = meta.get("min", 0) <= len(value) <= meta.get("max", 2**31)
    return length_ok and (
        _pattern(shape).fullmatch(value) is not None if "pattern" in meta else True
    )


@pytest.mark.slow  # Terraform plans the account root
def test_the_budget_sends_only_what_the_budgets_api_accepts(root: Path) -> None:
    code, err, doc = plan(root, budget_monthly_usd=20, budget_emails=["ops@example.com"])
    assert code == 0, err
    (budget,) = budgets(doc)
    assert conforms("BudgetName", budget["name"])
    assert conforms("NumericValue", budget["limit_amount"]) and budget["limit_amount"] == "20.00"
    assert conforms("UnitValue", budget["limit_unit"]) and budget["limit_unit"] == "USD"
    assert conforms("TimeUnit", budget["time_unit"]) and budget["time_unit"] == "MONTHLY"
    assert conforms("BudgetType", budget["budget_type"]) and budget["budget_type"] == "COST"
    threshold = api_shape("NotificationThreshold").metadata
    notifications = budget["notification"]
    assert {n["notification_type"] for n in notifications} == {"ACTUAL", "FORECASTED"}
    for n in notifications:
        assert threshold["min"] <= n["threshold"] <= threshold["max"]
        assert n["threshold_type"] == "PERCENTAGE" and 0 < n["threshold"] <= 100
        for field, shape in (("threshold_type", "ThresholdType"),
                             ("comparison_operator", "ComparisonOperator"),
                             ("notification_type", "NotificationType")):  # fmt: skip
            assert conforms(shape, n[field]), (field, n[field])
        emails = n["subscriber_email_addresses"]
        assert (
            1 <= len(emails) <= min(EMAIL_SUBSCRIBERS_MAX, api_shape("Subscribers").metadata["max"])
        )
        assert all(conforms("SubscriberAddress", e) for e in emails)
        assert not n["subscriber_sns_topic_arns"]


@pytest.mark.slow  # Terraform plans the account root
def test_bad_budget_inputs_are_refused_at_plan() -> None:
    """bootstrap/account/tests/budget.tftest.hcl: each bad input (0 USD, no or 11 addresses,
    a bad or repeated address, a name the API refuses) fails its variable's validation, with
    AWS mocked; a valid one plans. One `terraform test` run, every case in it."""
    root = bootstrap.BOOTSTRAP_DIR / bootstrap.ACCOUNT_ROOT
    env = {**tf_environ(), "TF_DATA_DIR": str(Path(tempfile.mkdtemp()) / "tf")}
    init(root, env, "-backend=false", "-lockfile=readonly")
    proc = terraform(root, "test", "-no-color", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = re.findall(r"^\s*run \"(\w+)\"\.\.\. pass", proc.stdout, re.MULTILINE)
    assert len(passed) == 9 and "eleven_addresses_are_refused" in passed, proc.stdout


def test_what_the_api_refuses_the_variables_refuse_too() -> None:
    """The variables' rules are no looser than the API's for the values they let through."""
    assert not conforms("BudgetName", "a:b") and not conforms("BudgetName", "x" * 101)
    assert not conforms("NumericValue", "-1") and conforms("NumericValue", "1000000.00")
    assert api_shape("Subscribers").metadata["max"] == EMAIL_SUBSCRIBERS_MAX + 1  # + one SNS


@pytest.mark.slow  # Terraform plans the account root
def test_the_budget_settings_are_asked_once_and_kept(tmp_path: Path) -> None:
    with pytest.raises(bootstrap.BootstrapError, match="BUDGET_USD=20 BUDGET_EMAIL="):
        bootstrap.budget_settings(tmp_path, None, None)
    assert not (tmp_path / bootstrap.ACCOUNT_VARS_FILE).exists()  # nothing half-written
    bootstrap.budget_settings(tmp_path, 30, ["ops@example.com"])
    path = tmp_path / bootstrap.ACCOUNT_VARS_FILE
    saved = json.loads(path.read_text())
    saved["budget_name"] = "our-own-name"  # the operator's own change in between
    path.write_text(json.dumps(saved))
    again = bootstrap.budget_settings(tmp_path, None, None)
    assert again == {"budget_monthly_usd": 30, "budget_emails": ["ops@example.com"],
                     "budget_name": "our-own-name"}  # fmt: skip
    bootstrap.budget_settings(tmp_path, 45, None)
    assert json.loads(path.read_text())["budget_name"] == "our-own-name"
    assert json.loads(path.read_text())["budget_monthly_usd"] == 45
    path.write_text("{not json")
    with pytest.raises(bootstrap.BootstrapError, match="not valid JSON"):
        bootstrap.budget_settings(tmp_path, None, None)
