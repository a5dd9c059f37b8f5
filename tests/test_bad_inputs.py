"""Bad root inputs are refused by variable validation, naming the variable and the rule, before
any API call; good ones pass validation and go on to the API.

The corpus is tests/fixtures/bad_inputs.json. Two layers:

- every case against the root's own variable declarations (envs/common/variables.tf and
  envs/localstack/variables.tf, linked into a root with no provider): fast, so the whole corpus
  runs on every `make test-unit`;
- one case per variable against a full copy of envs/localstack whose every AWS endpoint is a
  local HTTP server that records each request: Terraform must fail with the rule's message and
  the server must have seen nothing. The good inputs, through the same server, are seen: proof
  that the recorder would notice an API call. A full plan per case costs seconds of CPU, so
  this layer is marked slow (it needs no emulator) and runs in `make test`, not `make test-unit`.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gitops import environments

from tests.fake_github import Fake, FakeServer, Reply, Request
from tests.tf_sandbox import REPO_ROOT, init, make_sandbox, terraform, tf_environ

CORPUS = json.loads((REPO_ROOT / "tests" / "fixtures" / "bad_inputs.json").read_text())
CASES: list[dict[str, Any]] = CORPUS["cases"]
GOOD: list[dict[str, Any]] = CORPUS["good"]
WORKERS = 4


def squash(text: str) -> str:
    """Terraform wraps long messages; compare with whitespace collapsed."""
    return re.sub(r"\s+", " ", text)


class Recorder(Fake):
    """A local HTTP endpoint that answers 500 to everything and remembers each request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server = FakeServer(self)

    def before(self, request: Request) -> Reply:
        body = request.raw[:120].decode("utf-8", "replace")
        self.requests.append(f"{request.method} {request.target} {body}")
        return Reply(500)

    @property
    def url(self) -> str:
        return self.base

    def close(self) -> None:
        self.server.close()


@dataclass
class Outcome:
    returncode: int
    stderr: str
    requests: list[str] = field(default_factory=list)
    seconds: float = 0.0


def write_vars(directory: Path, case: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{case['name']}.tfvars.json"
    path.write_text(json.dumps(case["vars"]), encoding="utf-8")
    return path


PLAN = ("plan", "-input=false", "-no-color", "-lock=false", "-refresh=false")


# --- Layer 1: every case against the variable declarations alone -----------------------------


@pytest.fixture(scope="session")
def rules_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding only the localstack root's variables (linked, not copied) and its tfvars."""
    root = tmp_path_factory.mktemp("rules-root")
    envs = REPO_ROOT / "envs"
    (root / "common_variables.tf").symlink_to(envs / "common" / "variables.tf")
    (root / "variables.tf").symlink_to(envs / "localstack" / "variables.tf")
    (root / "terraform.tfvars").symlink_to(envs / "localstack" / "terraform.tfvars")
    init(root, tf_environ())
    return root


@pytest.fixture(scope="session")
def rule_outcomes(rules_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    var_dir = tmp_path_factory.mktemp("rule-vars")
    env = tf_environ()

    def run(case: dict[str, Any]) -> Outcome:
        started = time.monotonic()
        proc = terraform(rules_root, *PLAN, f"-var-file={write_vars(var_dir, case)}", env=env)
        return Outcome(proc.returncode, proc.stderr, seconds=time.monotonic() - started)

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, CASES + GOOD))
    return {case["name"]: out for case, out in zip(CASES + GOOD, results, strict=True)}


def test_the_corpus_covers_every_root_variable_with_a_rule() -> None:
    declared = set(
        re.findall(
            r'^variable "(\w+)"',
            (REPO_ROOT / "envs/common/variables.tf").read_text()
            + (REPO_ROOT / "envs/localstack/variables.tf").read_text(),
            re.M,
        )
    )
    unvalidated = {"key_name", "detailed_monitoring"}  # free text / a bool: nothing to refuse
    covered = {case["variable"] for case in CASES}
    assert declared - unvalidated <= covered, declared - unvalidated - covered
    names = [case["name"] for case in CASES + GOOD]
    assert len(names) == len(set(names)), "case names must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input_is_refused_with_the_variable_and_the_rule(
    case: dict[str, Any], rule_outcomes: dict[str, Outcome]
) -> None:
    out = rule_outcomes[case["name"]]
    assert out.returncode == 1, f"{case['vars']} was accepted"
    message = squash(out.stderr)
    assert case["expect"] in message, out.stderr
    variable = case["variable"]
    assert f'variable "{variable}"' in message or f"var.{variable}" in message, out.stderr


@pytest.mark.parametrize("case", GOOD, ids=[c["name"] for c in GOOD])
def test_good_input_passes_every_rule(
    case: dict[str, Any], rule_outcomes: dict[str, Outcome]
) -> None:
    out = rule_outcomes[case["name"]]
    assert out.returncode == 0, out.stderr


# --- Layer 2: the real root, with every AWS endpoint recorded ---------------------------------


def one_case_per_variable() -> list[dict[str, Any]]:
    chosen: dict[str, dict[str, Any]] = {}
    for case in CASES:
        chosen.setdefault(case["variable"], case)
    return list(chosen.values())


API_CASES = one_case_per_variable()


@pytest.fixture(scope="session")
def stack_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_sandbox(tmp_path_factory.mktemp("stack"))
    init(root, tf_environ())  # init needs no AWS API: providers come from the mirror
    return root


def plan_against_recorder(
    root: Path, var_file: Path, *, stop_at_first_request: bool = False
) -> Outcome:
    """Plan the full root with every AWS endpoint at a fresh recorder."""
    recorder = Recorder()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            ["terraform", *PLAN, f"-var-file={var_file}"],
            cwd=root,
            env=tf_environ(recorder.url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = started + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if recorder.requests and stop_at_first_request:
                break
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()  # a plan that reached the API retries the 500s for minutes
        _, stderr = proc.communicate(timeout=30)
        return Outcome(proc.returncode, stderr, list(recorder.requests), time.monotonic() - started)
    finally:
        recorder.close()


@pytest.fixture(scope="session")
def api_outcomes(stack_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    var_dir = tmp_path_factory.mktemp("api-vars")

    def run(case: dict[str, Any]) -> Outcome:
        good = case in GOOD
        return plan_against_recorder(
            stack_root, write_vars(var_dir, case), stop_at_first_request=good
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, API_CASES + GOOD[:1]))
    return {case["name"]: out for case, out in zip(API_CASES + GOOD[:1], results, strict=True)}


@pytest.mark.slow  # no service, but a full plan per case: about a minute on two cores
@pytest.mark.parametrize("case", API_CASES, ids=[c["variable"] for c in API_CASES])
def test_bad_input_makes_no_api_call(
    case: dict[str, Any], api_outcomes: dict[str, Outcome], stack_root: Path
) -> None:
    out = api_outcomes[case["name"]]
    assert out.returncode == 1, out.stderr
    assert case["expect"] in squash(out.stderr), out.stderr
    assert out.requests == [], f"{len(out.requests)} API calls, first: {out.requests[:3]}"
    assert not (stack_root / "terraform.tfstate").exists(), "nothing is created, not even state"


@pytest.mark.slow
def test_good_input_reaches_the_recorder(api_outcomes: dict[str, Outcome]) -> None:
    """The control: the same set-up with valid inputs does call the API, and it is seen."""
    out = api_outcomes[GOOD[0]["name"]]
    assert out.requests, f"no request recorded; terraform said: {out.stderr[-2000:]}"
    assert "Invalid value for variable" not in out.stderr


def test_every_root_input_gates_the_provider() -> None:
    """Why no call is made: each root's provider waits for every validated input."""
    common = (REPO_ROOT / "envs/common/variables.tf").read_text()
    gate = re.search(r"validated_inputs = \{(.*?)\n  \}", common, re.S)
    assert gate, "envs/common/variables.tf lost local.validated_inputs"
    gated = set(re.findall(r"= var\.(\w+)", gate.group(1)))
    assert gated == set(re.findall(r'^variable "(\w+)"', common, re.M))
    for env in environments.names():
        providers = (REPO_ROOT / "envs" / env / "providers.tf").read_text()
        assert re.search(r"region\s*=\s*local\.validated_inputs\.aws_region", providers), env
