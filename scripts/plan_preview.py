"""Kept for the command line the docs show: `python3 scripts/plan_preview.py ENV=FILE ...`.

The code is gitops.preview.plan_preview; `gitops plan-preview` is the same command.
"""

from gitops.preview.plan_preview import main

raise SystemExit(main())
