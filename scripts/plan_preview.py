"""Kept for the command line the docs show: `python3 scripts/plan_preview.py ENV=FILE ...`.

The code is gitops.preview.cli; `gitops plan-preview` is the same command.
"""

from gitops.preview.cli import main

raise SystemExit(main())
