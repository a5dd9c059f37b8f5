from gitops.cli import main

raise SystemExit(main())
