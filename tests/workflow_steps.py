"""Run a workflow's `gitops` step in-process, the way the runner would run it.

A step's `env:` values are evaluated over the contexts a test gives (`inputs`, `vars`,
`github`, `matrix`, `needs`, ...), its `run:` line is split as bash splits it (every expansion in
our workflows is quoted, `"${NAME}"`), and the verb's `main(argv, environ)` is called with that
environment. So a test asserts what a step *does* with given repository variables, not the
text of the step.

The expression evaluator knows what our `env:` and `with:` values use: property access
(`inputs.plan-role`, `github.event.schedule`), indexing (`vars[inputs.role]`), string literals,
`==`, `!=`, `!`, `&&`, `||`, `format()`, `toJSON()` and the status functions (`always()`,
`cancelled()`, ... for a run whose jobs so far succeeded). A property nobody gave is null, as
in GitHub, and renders as an empty string.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from gitops.cli import COMMANDS

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_HYPHENATED = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+)")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NOT = re.compile(r"!(?!=)")


class Context:
    """A context object: `a.b` and `a['b']` both read key b; a missing key is null."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return self[name]

    def __getitem__(self, key: object) -> Any:
        value = self._data.get(str(key)) if isinstance(self._data, Mapping) else None
        return Context(value) if isinstance(value, Mapping) else value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Context):
        return json.dumps(value._data)
    return str(value)


def _format(template: str, *values: Any) -> str:
    return str(template).format(*(_text(v) for v in values))


def _to_json(value: Any) -> str:
    return json.dumps(value._data if isinstance(value, Context) else value)


def evaluate(text: Any, contexts: Mapping[str, Mapping[str, Any]]) -> Any:
    """A `${{ }}` value as GitHub evaluates it: the expression's own value when the text is
    one expression, else the text with every expression replaced by its string form."""
    if not isinstance(text, str):
        return text
    names: dict[str, Any] = {name: Context(data) for name, data in contexts.items()}
    names.update(format=_format, toJSON=_to_json, null=None, true=True, false=False)
    names.update(always=lambda: True, success=lambda: True, cancelled=lambda: False,
                 failure=lambda: False)  # fmt: skip

    def value(code: str) -> Any:
        code = _HYPHENATED.sub(r"['\1']", code)
        code = code.replace("&&", " and ").replace("||", " or ")
        code = _NOT.sub(" not ", code)
        return eval(code, {"__builtins__": {}}, names)  # noqa: S307

    whole = _EXPRESSION.fullmatch(text.strip())
    if whole:
        return value(whole.group(1))
    return _EXPRESSION.sub(lambda m: _text(value(m.group(1))), text)


def evaluate_all(values: Mapping[str, Any], contexts: Mapping[str, Mapping[str, Any]]) -> dict:
    """Every value of a `with:` or `env:` mapping, evaluated."""
    return {key: evaluate(value, contexts) for key, value in (values or {}).items()}


def argv_of(step: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """The `run:` line as bash would pass it: split, then each `${NAME}` expanded."""
    tokens = shlex.split(str(step["run"]))
    tokens = tokens[1:] if tokens[:1] == ["exec"] else tokens
    return [_VARIABLE.sub(lambda m: environ.get(m.group(1), ""), token) for token in tokens]


def run_gitops_step(
    step: Mapping[str, Any],
    contexts: Mapping[str, Mapping[str, Any]],
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Run a `gitops <verb>` step in-process; its exit code."""
    environ = {k: _text(v) for k, v in evaluate_all(step.get("env") or {}, contexts).items()}
    environ.update(extra_env or {})
    argv = argv_of(step, environ)
    assert argv[:1] == ["gitops"], f"not a gitops step: {step.get('run')}"
    module = importlib.import_module(COMMANDS[argv[1]][0])
    return int(module.main(argv[2:], environ) or 0)
