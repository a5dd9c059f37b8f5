"""Find a filesystem mirror of the hashicorp/aws provider and write the project's Terraform CLI
config, so every `terraform init` the project runs works without the registry.

Order: the TF_PROVIDER_MIRROR environment variable, then the usual plugin directories, then a
shallow search of the places machines keep such mirrors. No mirror (as on GitHub's runners):
the config leaves the registry in charge. Either way the config adds a shared plugin cache so
each root does not copy the provider again.

    gitops mirror [--config PATH] [--print-mirror]
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
from pathlib import Path

from gitops.paths import ENVS_DIR, TERRAFORM_CACHE_DIR, TF_CLI_CONFIG

PLUGIN_CACHE = TERRAFORM_CACHE_DIR / "plugin-cache"
PROVIDER = "registry.terraform.io/hashicorp/aws"
ENV_VAR = "TF_PROVIDER_MIRROR"


def platform_dir() -> str:
    """Terraform's name for this machine's platform, e.g. linux_amd64."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{platform.system().lower()}_{arch}"


def required_version(root: Path = ENVS_DIR / "localstack") -> str | None:
    """The exact aws provider version the environment roots pin."""
    text = (root / "providers.tf").read_text(encoding="utf-8")
    match = re.search(r'source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*"=?\s*([0-9.]+)"', text)
    return match.group(1) if match else None


def mirror_has_provider(mirror: Path, version: str | None) -> bool:
    """True when the mirror holds the aws provider (that version, if given) for this platform."""
    base = mirror / PROVIDER
    versions = [version] if version else [p.name for p in base.glob("*")]
    for v in versions:
        unpacked = base / v / platform_dir()
        if unpacked.is_dir() and any(unpacked.glob("terraform-provider-aws*")):
            return True
        if any(base.glob(f"terraform-provider-aws_{v}_{platform_dir()}.zip")):
            return True
    return False


def candidate_dirs() -> list[Path]:
    """Usual homes of provider mirrors, most specific first."""
    home = Path.home()
    xdg = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share"))
    fixed = [
        home / ".terraform.d" / "plugins",
        xdg / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
    ]
    # Mirrors laid out anywhere one or two levels below these folders, e.g. <dir>/plugins.
    patterns = ["/opt/*", "/opt/*/*", "/usr/local/*", "/srv/*", str(home / "*")]
    found = [Path(p).parents[2] for pat in patterns for p in glob.glob(f"{pat}/{PROVIDER}")]
    return fixed + sorted(set(found))


def find_mirror(version: str | None = None) -> tuple[Path | None, str]:
    """Return (mirror, how it was found); (None, reason) when there is none."""
    explicit = os.environ.get(ENV_VAR, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not mirror_has_provider(path, version):
            raise SystemExit(
                f"{ENV_VAR}={explicit} holds no {PROVIDER} {version or ''} for {platform_dir()}. "
                f"Point it at a folder containing {PROVIDER}/<version>/{platform_dir()}/, "
                f"or unset it to search the usual places."
            )
        return path, f"from {ENV_VAR}"
    for path in candidate_dirs():
        if mirror_has_provider(path, version):
            return path, "found by search"
    return None, "no local mirror found: terraform init will use the registry"


def render_config(mirror: Path | None, plugin_cache: Path = PLUGIN_CACHE) -> str:
    lines = [
        "# Written by `make setup` (gitops mirror). Machine-specific: not committed.",
        f'plugin_cache_dir = "{plugin_cache}"',
    ]
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror}"',
            f'    include = ["{PROVIDER}"]',
            "  }",
            "  direct {",
            f'    exclude = ["{PROVIDER}"]',
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def write_config(config: Path = TF_CLI_CONFIG) -> tuple[Path | None, str]:
    mirror, how = find_mirror(required_version())
    PLUGIN_CACHE.mkdir(parents=True, exist_ok=True)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(render_config(mirror), encoding="utf-8")
    return mirror, how


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=TF_CLI_CONFIG)
    args = parser.parse_args(argv)
    mirror, how = write_config(args.config)
    where = f"{mirror} ({how})" if mirror else how
    print(f"terraform provider source: {where}; CLI config: {args.config}")
    return 0
