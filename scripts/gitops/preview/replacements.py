"""Why Terraform destroys, replaces or reads a resource, in words a reviewer reads.

Terraform says why in `action_reason` and `replace_paths`; this module turns that into sentences,
adds what a reviewer should know before approving (what data is lost, the order of destroy and
create, a new public IP) and explains each attribute that forces a replacement.
"""

from __future__ import annotations

from typing import Any

from gitops.preview.values import fmt_path

# Types whose destruction loses data, not only a running thing.
HOLDS_DATA = {
    "aws_db_instance": "the database and its data (unless a final snapshot is taken)",
    "aws_rds_cluster": "the cluster and its data (unless a final snapshot is taken)",
    "aws_s3_bucket": "the bucket and every object in it",
    "aws_dynamodb_table": "the table and its items",
    "aws_ebs_volume": "the volume and its data",
    "aws_efs_file_system": "the file system and its files",
    "aws_secretsmanager_secret": "the secret (after its recovery window)",
    "aws_ssm_parameter": "the parameter and its value",
    "aws_kms_key": "the key (data encrypted with it becomes unreadable after the waiting period)",
}
REPLACE_BECAUSE = {
    "replace_because_tainted": "it is tainted (an earlier apply failed part-way, or it was "
    "marked with `terraform taint`)",
    "replace_by_request": "someone asked for it (`terraform plan -replace`)",
    "replace_by_triggers": "`replace_triggered_by` fired: something it depends on changed",
}
DELETE_BECAUSE = {
    "delete_because_no_resource_config": "its block was removed from the configuration",
    "delete_because_no_module": "its module was removed from the configuration",
    "delete_because_wrong_repetition": "`count`/`for_each` changed shape",
    "delete_because_count_index": "`count` went down and this index is gone",
    "delete_because_each_key": "its `for_each` key is gone",
    "delete_because_no_move_target": "its `moved` block points nowhere",
}
READ_BECAUSE = {
    "read_because_config_unknown": "its arguments are only known during apply",
    "read_because_dependency_pending": "it depends on changes that are still to happen",
    "read_because_check_nested": "a `check` block reads it",
}


def replace_reasons(rc: dict[str, Any], change: dict[str, Any], ip: str) -> list[str]:
    """Why a resource is replaced, in what order, and what that costs; ip: its public IP now."""
    rtype = str(rc.get("type") or "")
    reasons: list[str] = []
    why = REPLACE_BECAUSE.get(str(rc.get("action_reason")))
    if why:
        reasons.append(why)
    for path in change.get("replace_paths") or []:
        reasons.append(explain_replace_path(rtype, path))
    if not reasons:
        reasons.append("the provider cannot change it in place")
    if change.get("actions") == ["create", "delete"]:
        reasons.append(
            "order: the new one is created first, then the old one destroyed "
            "(`create_before_destroy`)"
        )
    else:
        reasons.append(
            "order: the old one is destroyed first, then the new one created (a short gap)"
        )
    if rtype == "aws_instance":
        reasons.append(
            "it comes back with a new instance ID and a new public IP"
            + (f" (now {ip})" if ip else "")
            + ": update anything that points at the old address"
        )
    loses = HOLDS_DATA.get(rtype)
    if loses:
        reasons.append(f"replacing it deletes {loses}")
    return reasons


def delete_reasons(rtype: str, action_reason: object, ip: str) -> list[str]:
    """Why a resource is destroyed and what goes with it; ip: its public IP, if it has one."""
    why = DELETE_BECAUSE.get(str(action_reason), "")
    reasons = [why] if why else []
    loses = HOLDS_DATA.get(rtype)
    if loses:
        reasons.append(f"destroying it deletes {loses}")
    if ip:
        reasons.append(f"its public IP {ip} is released")
    return reasons


def read_reasons(action_reason: object) -> list[str]:
    """Why a data source is read during apply rather than during plan."""
    why = READ_BECAUSE.get(str(action_reason), "")
    return [f"read during apply: {why}"] if why else []


def explain_replace_path(rtype: str, path: list[object]) -> str:
    """Why changing this attribute path replaces the resource, in words a reviewer reads."""
    text = fmt_path(tuple(path))
    attr = str(path[0]) if path else ""
    if rtype == "aws_instance" and attr in ("user_data", "user_data_base64"):
        return (
            f"`{text}` (its boot script) changed, and `user_data_replace_on_change = true` "
            "replaces the instance so the new script runs on a fresh boot: expected when "
            "the script changes"
        )
    if attr == "ami":
        return f"`{text}` changed: an instance cannot switch to another image in place"
    if attr in ("subnet_id", "availability_zone"):
        return f"`{text}` changed: it moves to another subnet or availability zone"
    if attr == "vpc_id":
        return f"`{text}` changed: it moves to another VPC"
    if attr in ("cidr_block", "ipv6_cidr_block"):
        return f"`{text}` changed: AWS cannot change its address range in place"
    if attr in ("name", "name_prefix", "bucket", "identifier", "family"):
        return f"`{text}` changed: AWS cannot rename it, so it is re-created under the new name"
    if attr in ("key_name", "private_ip", "associate_public_ip_address"):
        return f"`{text}` changed: it is only set when the instance is launched"
    if attr in ("kms_key_id", "encrypted", "storage_encrypted"):
        return f"`{text}` changed: encryption is chosen at creation only"
    return f"`{text}` changed, and it cannot be changed in place"
