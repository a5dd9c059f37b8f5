"""The `gitops` command: parses the verb and hands over to its module's `main`.

Each verb lives in the subpackage of its concern; this module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help). Modules expose main(argv) -> int.
COMMANDS: dict[str, tuple[str, str]] = {}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="gitops", description=__doc__)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_module, help_text) in COMMANDS.items():
        sub.add_parser(verb, help=help_text, add_help=False)
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb not in COMMANDS:
        parser.error(f"unknown command {verb!r}; known: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[verb][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
