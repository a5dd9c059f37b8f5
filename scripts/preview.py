"""Kept for the command line the docs show: `python3 scripts/preview.py --plans DIR ...`.

The code is gitops.preview.plans_dir; `gitops preview` is the same command.
"""

from gitops.preview.plans_dir import main

raise SystemExit(main())
