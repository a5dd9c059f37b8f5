"""The one GitHub REST API client: urllib and $GITHUB_TOKEN, stdlib only.

Every command that talks to GitHub (comments and issues, the environment gate, the plan
digest's comparison, the apply report, the nightly watchdog) builds its client here and catches
GitHubError. The token goes to the API's own host only: a next-page link elsewhere is refused,
and an artifact download follows GitHub's redirect to the storage host without it.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

DEFAULT_API = "https://api.github.com"
USER_AGENT = "tf-3tier-gitops-pipeline"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class _KeepRedirect(urllib.request.HTTPRedirectHandler):
    """Hands a redirect back as an HTTPError instead of following it with the token."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECT = urllib.request.build_opener(_KeepRedirect)


def _read_at_most(resp: Any, max_bytes: int, what: str) -> bytes:
    data = resp.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise GitHubError(f"GET {what}: larger than {max_bytes:,} bytes, not read")
    return data


class GitHubError(RuntimeError):
    """The API answered with an error status, or could not be reached."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status, None when the API was not reached


class GitHub:
    """A minimal client for the handful of REST calls this pipeline makes."""

    def __init__(self, token: str, repo: str, api_url: str = DEFAULT_API, timeout: float = 30):
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo or ""):
            raise GitHubError(f"repository must be OWNER/NAME, got {repo!r}")
        self.token = token
        self.repo = repo
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def _url(self, path: str, params: dict[str, str] | None = None) -> str:
        url = path if path.startswith(self.api_url + "/") else f"{self.api_url}{path}"
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        return url

    def _api_request(
        self, method: str, path: str, body: dict[str, Any] | None, params: dict[str, str] | None
    ) -> urllib.request.Request:
        url = self._url(path, params)
        if not url.startswith(self.api_url + "/"):
            raise GitHubError(f"refusing to send the token outside {self.api_url}: {url}")
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        req.add_header("User-Agent", USER_AGENT)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        return req

    @staticmethod
    def _error(method: str, path: str, err: urllib.error.HTTPError) -> GitHubError:
        detail = err.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message", detail)
        hint = ""
        if err.code in (401, 403):
            hint = (
                " (the token may lack the permission this job grants, or be the read-only"
                " token of a pull request from a fork)"
            )
        return GitHubError(f"{method} {path}: HTTP {err.code}: {detail}{hint}", err.code)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[Any, dict[str, str]]:
        req = self._api_request(method, path, body, params)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as err:
            raise self._error(method, path, err) from err
        except urllib.error.URLError as err:
            raise GitHubError(f"{method} {path}: {err.reason}") from err
        return (json.loads(raw) if raw else None), headers

    def download(self, path: str, max_bytes: int) -> bytes:
        """The file an endpoint redirects to (an artifact's zip), at most `max_bytes`.

        The API answers 302 with a short-lived URL on a storage host; that URL carries its own
        signature, so it is fetched without the token (urllib would forward the Authorization
        header to wherever the redirect points).
        """
        req = self._api_request("GET", path, None, None)
        location = None
        try:
            with _NO_REDIRECT.open(req, timeout=self.timeout) as resp:
                return _read_at_most(resp, max_bytes, path)
        except urllib.error.HTTPError as err:
            if err.code not in (301, 302, 303, 307, 308):
                raise self._error("GET", path, err) from err
            location = err.headers.get("Location", "")
        except urllib.error.URLError as err:
            raise GitHubError(f"GET {path}: {err.reason}") from err
        if urllib.parse.urlsplit(location).scheme not in ("https", "http"):
            raise GitHubError(f"GET {path}: redirected to {location!r}, not a download URL")
        blob = urllib.request.Request(location, method="GET")
        blob.add_header("User-Agent", USER_AGENT)
        try:
            with urllib.request.urlopen(blob, timeout=self.timeout) as resp:
                return _read_at_most(resp, max_bytes, path)
        except urllib.error.HTTPError as err:
            raise GitHubError(f"GET {path} (download): HTTP {err.code}", err.code) from err
        except urllib.error.URLError as err:
            raise GitHubError(f"GET {path} (download): {err.reason}") from err

    def paginate(
        self, path: str, params: dict[str, str] | None = None, key: str | None = None
    ) -> Iterator[Any]:
        """Every item of a paginated list, 100 a page, following the `Link: rel="next"` header
        GitHub sends while there are more. `key` names the list in an endpoint that wraps it in
        an object (`{"total_count": ..., "branch_policies": [...]}`)."""
        url: str | None = self._url(path, {"per_page": "100", **(params or {})})
        while url:
            body, headers = self.request("GET", url)
            yield from ((body or {}).get(key) if key else body) or []
            match = _NEXT.search(headers.get("link", ""))
            url = match.group(1) if match else None


# --- Repository set-up (gitops github-setup): environments, rulesets, variables -------------


def get_repository(gh: GitHub) -> dict[str, Any]:
    repo, _ = gh.request("GET", f"/repos/{gh.repo}")
    return repo


def get_user(gh: GitHub, login: str | None = None) -> dict[str, Any]:
    """The token's own user, or the named one."""
    user, _ = gh.request("GET", f"/users/{login}" if login else "/user")
    return user


def get_environment(gh: GitHub, name: str) -> dict[str, Any] | None:
    """An environment with its protection rules, or None when it does not exist."""
    try:
        env, _ = gh.request("GET", f"/repos/{gh.repo}/environments/{name}")
    except GitHubError as err:
        if err.status == 404:
            return None
        raise
    return env


def put_environment(gh: GitHub, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Create or update an environment (PUT is idempotent)."""
    env, _ = gh.request("PUT", f"/repos/{gh.repo}/environments/{name}", payload)
    return env


def ensure_branch_policy(
    gh: GitHub, environment: str, branch: str
) -> tuple[str, list[dict[str, Any]]]:
    """Make `branch` a deployment branch of the environment: (created | unchanged, the other
    branch and tag rules the environment has)."""
    path = f"/repos/{gh.repo}/environments/{environment}/deployment-branch-policies"
    policies = list(gh.paginate(path, key="branch_policies"))
    ours = [p for p in policies if p.get("name") == branch and p.get("type", "branch") == "branch"]
    others = [p for p in policies if p not in ours]
    if ours:
        return "unchanged", others
    gh.request("POST", path, {"name": branch, "type": "branch"})
    return "created", others


def delete_branch_policy(gh: GitHub, environment: str, policy_id: int) -> None:
    path = f"/repos/{gh.repo}/environments/{environment}/deployment-branch-policies/{policy_id}"
    gh.request("DELETE", path)


def is_collaborator(gh: GitHub, login: str) -> bool:
    """Whether `login` has access to the repository (directly, by a team or the organisation)."""
    try:
        gh.request("GET", f"/repos/{gh.repo}/collaborators/{login}")
    except GitHubError as err:
        if err.status == 404:
            return False
        raise
    return True


def get_permission(gh: GitHub, login: str) -> str:
    """A collaborator's permission on the repository: admin | write | read | none (maintain
    reads as write, triage as read)."""
    found, _ = gh.request("GET", f"/repos/{gh.repo}/collaborators/{login}/permission")
    return str((found or {}).get("permission") or "none")


def get_branch_protection(gh: GitHub, branch: str) -> dict[str, Any] | None:
    """The branch's classic protection rule (Settings → Branches), or None when it has none,
    or when the plan has no such rules (403 on a private repository without GitHub Pro)."""
    try:
        found, _ = gh.request("GET", f"/repos/{gh.repo}/branches/{branch}/protection")
    except GitHubError as err:
        if err.status in (403, 404):
            return None
        raise
    return found


def find_ruleset(gh: GitHub, name: str) -> dict[str, Any] | None:
    """The repository's own ruleset named `name`, in full (rules, bypass actors), or None. The
    list also shows rulesets the repository inherits from its organisation: those are not its
    own and cannot be changed here."""
    for item in gh.paginate(f"/repos/{gh.repo}/rulesets"):
        if item.get("name") == name and item.get("source_type", "Repository") == "Repository":
            ruleset, _ = gh.request("GET", f"/repos/{gh.repo}/rulesets/{item['id']}")
            return ruleset
    return None


def save_ruleset(gh: GitHub, ruleset_id: int | None, payload: dict[str, Any]) -> str:
    """Create the ruleset (no id), or update it: GitHub replaces each list sent (`rules`,
    `bypass_actors`) with what is sent, so send the whole merged ruleset; created | updated."""
    if ruleset_id is None:
        gh.request("POST", f"/repos/{gh.repo}/rulesets", payload)
        return "created"
    gh.request("PUT", f"/repos/{gh.repo}/rulesets/{ruleset_id}", payload)
    return "updated"


def set_variable(gh: GitHub, name: str, value: str) -> str:
    """Set an Actions repository variable; created | updated (was ...) | unchanged."""
    try:
        current, _ = gh.request("GET", f"/repos/{gh.repo}/actions/variables/{name}")
    except GitHubError as err:
        if err.status != 404:
            raise
        gh.request("POST", f"/repos/{gh.repo}/actions/variables", {"name": name, "value": value})
        return "created"
    if current and current.get("value") == value:
        return "unchanged"
    gh.request(
        "PATCH", f"/repos/{gh.repo}/actions/variables/{name}", {"name": name, "value": value}
    )
    return f"updated (was {(current or {}).get('value')!r})"


def parse_time(text: str) -> datetime:
    """A GitHub timestamp (ISO 8601, "Z" for UTC) as an aware datetime in UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def last_commit_time(gh: GitHub, branch: str) -> datetime | None:
    """When the newest commit on `branch` was committed (UTC), None when GitHub gives no date."""
    commit, _ = gh.request("GET", f"/repos/{gh.repo}/commits/{urllib.parse.quote(branch)}")
    date = (((commit or {}).get("commit") or {}).get("committer") or {}).get("date")
    if not date:
        return None
    return parse_time(str(date))


def get_file(gh: GitHub, path: str, ref: str) -> str | None:
    """Text of a file on a branch, or None when it does not exist."""
    import base64

    try:
        item, _ = gh.request("GET", f"/repos/{gh.repo}/contents/{path}", params={"ref": ref})
    except GitHubError as err:
        if err.status == 404:
            return None
        raise
    return base64.b64decode(item.get("content", "")).decode("utf-8", "replace")


# --- Actions: workflows, their runs, jobs and artifacts ---------------------------------------


def get_pull(gh: GitHub, number: int) -> dict[str, Any]:
    pull, _ = gh.request("GET", f"/repos/{gh.repo}/pulls/{number}")
    return pull


def pulls_from(gh: GitHub, label: str) -> list[dict[str, Any]]:
    """Every pull request (open, closed or merged) whose head is `label` (`owner:branch`)."""
    return list(gh.paginate(f"/repos/{gh.repo}/pulls", {"state": "all", "head": label}))


def get_workflow(gh: GitHub, workflow: str) -> dict[str, Any]:
    """A workflow by its file name (`destroy.yml`): its `state`, `created_at`, ..."""
    found, _ = gh.request("GET", f"/repos/{gh.repo}/actions/workflows/{workflow}")
    return found


def get_run(gh: GitHub, run_id: int | str) -> dict[str, Any]:
    run, _ = gh.request("GET", f"/repos/{gh.repo}/actions/runs/{run_id}")
    return run


def workflow_runs(
    gh: GitHub, workflow: str | int, limit: int = 100, **params: str
) -> list[dict[str, Any]]:
    """The newest `limit` runs of a workflow (file name or id), newest first, filtered by
    `params` as the API filters them (event, head_sha, branch, status, created)."""
    runs = []
    path = f"/repos/{gh.repo}/actions/workflows/{workflow}/runs"
    for run in gh.paginate(path, params, key="workflow_runs"):
        runs.append(run)
        if len(runs) >= limit:
            break
    return runs


def run_jobs(gh: GitHub, run_id: int | str) -> list[dict[str, Any]]:
    """The jobs of a run's latest attempt, with their names, conclusions and steps."""
    path = f"/repos/{gh.repo}/actions/runs/{run_id}/jobs"
    return list(gh.paginate(path, {"filter": "latest"}, key="jobs"))


def run_artifacts(gh: GitHub, run_id: int | str, name: str) -> list[dict[str, Any]]:
    """A run's artifacts named `name` that have not expired."""
    path = f"/repos/{gh.repo}/actions/runs/{run_id}/artifacts"
    found = gh.paginate(path, {"name": name}, key="artifacts")
    return [a for a in found if a.get("name") == name and not a.get("expired")]


def download_artifact(gh: GitHub, artifact_id: int, max_bytes: int) -> bytes:
    """An artifact's zip archive (GitHub zips every artifact)."""
    return gh.download(f"/repos/{gh.repo}/actions/artifacts/{artifact_id}/zip", max_bytes)
