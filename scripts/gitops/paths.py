"""The repository's own paths, defined once: every module that needs one imports it from here."""

from __future__ import annotations

from pathlib import Path

# scripts/gitops/paths.py -> the repository root (the package is installed editable from it).
REPO_ROOT = Path(__file__).resolve().parents[2]
ENVS_DIR = REPO_ROOT / "envs"
APP_DIR = REPO_ROOT / "app"
# The Terraform version every root and workflow uses (setup-terraform reads it too).
TERRAFORM_VERSION_FILE = REPO_ROOT / ".terraform-version"
ARTIFACTS_DIR = REPO_ROOT / ".artifacts"
PLANS_DIR = ARTIFACTS_DIR / "plans"
E2E_DIR = ARTIFACTS_DIR / "e2e"
CACHE_DIR = REPO_ROOT / ".cache"
# Terraform's CLI config (`make setup` writes it: provider mirror, plugin cache) and its caches.
TERRAFORM_CACHE_DIR = CACHE_DIR / "terraform"
TF_CLI_CONFIG = TERRAFORM_CACHE_DIR / "cli.tfrc"


def shown(path: Path) -> Path:
    """A path as a message shows it: relative to the checkout where it is inside it."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
