"""gitops.terraform.mirror: finding a provider mirror and writing the CLI config."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitops.terraform import mirror as tfmirror


def make_mirror(root: Path, version: str = "5.100.0") -> Path:
    target = root / tfmirror.PROVIDER / version / tfmirror.platform_dir()
    target.mkdir(parents=True)
    (target / f"terraform-provider-aws_v{version}_x5").write_bytes(b"")
    return root


def test_env_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = make_mirror(tmp_path / "mirror")
    monkeypatch.setenv(tfmirror.ENV_VAR, str(mirror))
    assert tfmirror.find_mirror("5.100.0") == (mirror, f"from {tfmirror.ENV_VAR}")


def test_env_variable_without_the_provider_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_mirror(tmp_path / "old", version="5.1.0")
    monkeypatch.setenv(tfmirror.ENV_VAR, str(tmp_path / "old"))
    with pytest.raises(SystemExit, match="holds no registry.terraform.io/hashicorp/aws 5.100.0"):
        tfmirror.find_mirror("5.100.0")


def test_search_finds_a_mirror_in_a_usual_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tfmirror.ENV_VAR, raising=False)
    monkeypatch.setattr(tfmirror, "candidate_dirs", lambda: [tmp_path / "none", tmp_path / "m"])
    make_mirror(tmp_path / "m")
    assert tfmirror.find_mirror("5.100.0") == (tmp_path / "m", "found by search")
    assert tfmirror.find_mirror("6.0.0") == (
        None,
        "no local mirror found: terraform init will use the registry",
    )


def test_config_uses_the_mirror_only_for_aws(tmp_path: Path) -> None:
    text = tfmirror.render_config(tmp_path)
    assert f'path    = "{tmp_path}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert "plugin_cache_dir" in text
    registry_only = tfmirror.render_config(None)
    assert "provider_installation" not in registry_only


def test_required_version_is_read_from_the_root() -> None:
    assert tfmirror.required_version() == "5.100.0"
