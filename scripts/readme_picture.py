"""Remake docs/img/plan-preview.png, the README's picture of a plan-preview comment.

    make readme-picture

The comment is rendered by the real preview code (gitops.preview) from the fixture
plans in tests/fixtures/plans (a replacement, an update and a failed plan), converted to HTML
with the `markdown` package (installed by the make target into the git-ignored .venv-docs, not
into the project's virtualenv) and photographed by headless Chromium (Debian: `apt-get install
chromium`). The picture is committed; this script is how it is made.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gitops.paths import REPO_ROOT  # run as a file: Python puts scripts/ on the path
from gitops.preview.model import build
from gitops.preview.render import build_comment

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "plans"
OUTPUT = REPO_ROOT / "docs" / "img" / "plan-preview.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH = 900

STYLE = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; font-size: 14px;
       line-height: 1.5; color: #1f2328; margin: 0; background: #fff; }
.comment { border: 1px solid #d1d9e0; border-radius: 6px; margin: 16px; }
.header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px;
          color: #59636e; border-radius: 6px 6px 0 0; }
.header b { color: #1f2328; }
.body { padding: 8px 16px 16px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d1d9e0; padding: 4px 10px; }
th { background: #f6f8fa; }
code { background: #eff1f3; border-radius: 4px; padding: 1px 4px; font-size: 12.5px;
       font-family: "DejaVu Sans Mono", monospace; }
pre { background: #f6f8fa; padding: 8px; border-radius: 6px; overflow: hidden; }
details > summary { cursor: pointer; }
h2, h3 { margin: 12px 0 6px; }
blockquote { margin: 8px 0; padding: 2px 12px; border-left: 4px solid #9a6700; }
.alert-title { color: #9a6700; font-weight: 600; }
"""


def comment_markdown() -> str:
    """The comment for the fixture plans, exactly as a pull request would show it."""
    envs = build(
        plans=[("localstack", FIXTURES / "create.json"), ("seoul", FIXTURES / "replace.json")],
        failed=[],
        skipped=[],
    )
    return build_comment(envs, "the job summary of the run")


def to_html(markdown_text: str) -> str:
    import markdown  # from .venv-docs (make readme-picture)

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code", "md_in_html"])
    # GitHub shows `> [!WARNING]` as a titled alert; plain Markdown leaves the marker as text.
    body = body.replace("[!WARNING]", "<span class='alert-title'>⚠ Warning</span><br>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
        "<div class='comment'><div class='header'><b>github-actions</b> bot commented</div>"
        f"<div class='body'>{body}</div></div></body></html>"
    )


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("readme-picture: no Chromium on PATH; on Debian: apt-get install chromium")


def screenshot(html: str, output: Path, height: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "comment.html"
        page.write_text(html, encoding="utf-8")
        output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp}/profile", f"--window-size={WIDTH},{height}",
             f"--screenshot={output}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--height", type=int, default=1470, help="pixels of the page to keep")
    args = parser.parse_args(argv)
    screenshot(to_html(comment_markdown()), args.output, args.height)
    print(f"readme-picture: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
