"""Instances boot only once their way out exists, in both db modes, read from Terraform's own
graph of envs/localstack (in a throwaway copy, offline):

- the web instance after its subnet's route to the internet gateway (in ec2 db mode nothing
  else makes it wait: the database's address is fixed);
- the ec2-mode database after its route to the NAT gateway, and after the NAT gateway's own way
  out: the public subnet it sits in routes to the internet gateway, or the NAT drops everything.

Terraform records these dependencies in the state, so a destroy takes them down in the reverse
order (tests/test_pipeline.py reads them from a real apply's state)."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable

import pytest

from tests.tf_sandbox import init, make_sandbox, terraform, tf_environ

pytestmark = pytest.mark.slow  # every test reads the graph of a full plan of the root

NODE = r'"\[root\] (?P<{}>[^"]+?)(?: \(expand\))?"'
EDGE = re.compile(rf"^\s*{NODE.format('node')} -> {NODE.format('needs')}$", re.M)

PUBLIC_WAY_OUT = {
    "module.vpc.aws_route.public_internet", "module.vpc.aws_route_table_association.public"
}  # fmt: skip
PRIVATE_WAY_OUT = {
    "module.vpc.aws_route.private_nat", "module.vpc.aws_route_table_association.private"
}  # fmt: skip
# What an instance needs before it boots: every download and AWS call of its user data goes out
# through these routes (the web instance directly, the ec2-mode database through the NAT).
WAYS_OUT = {
    "module.web.aws_instance.this": PUBLIC_WAY_OUT,
    "module.db.aws_instance.db": PRIVATE_WAY_OUT | PUBLIC_WAY_OUT,
}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, set[str]]]:
    """db mode -> each node of that mode's plan graph -> what it waits for, directly."""

    @functools.cache
    def graph(mode: str) -> dict[str, set[str]]:
        root = make_sandbox(tmp_path_factory.mktemp(f"graph-{mode}"))
        tfvars = root / "terraform.tfvars"
        tfvars.write_text(re.sub(r"(?m)^db_mode\s*=.*$", f'db_mode = "{mode}"', tfvars.read_text()))
        env = tf_environ()
        init(root, env)
        shown = terraform(root, "graph", "-type=plan", env=env, check=True).stdout
        edges: dict[str, set[str]] = defaultdict(set)
        for match in EDGE.finditer(shown):
            edges[match["node"]].add(match["needs"])
        assert edges, "terraform graph printed no edges"
        return edges

    return graph


def waits_for(edges: dict[str, set[str]], node: str) -> set[str]:
    """Everything node waits for, directly or through others."""
    seen: set[str] = set()
    todo = [node]
    while todo:
        for needed in edges.get(todo.pop(), ()):
            if needed not in seen:
                seen.add(needed)
                todo.append(needed)
    return seen


@pytest.mark.parametrize(
    ("mode", "instance"),
    [("ec2", "module.web.aws_instance.this"), ("ec2", "module.db.aws_instance.db"),
     ("rds", "module.web.aws_instance.this")],  # rds mode: RDS runs no user data
)  # fmt: skip
def test_an_instance_boots_after_its_way_out_exists(
    graphs: Callable[[str], dict[str, set[str]]], mode: str, instance: str
) -> None:
    edges = graphs(mode)
    assert instance in edges, f"{instance} is not in the {mode} mode graph"
    missing = WAYS_OUT[instance] - waits_for(edges, instance)
    assert not missing, f"{mode} mode: {instance} may boot before {sorted(missing)} exist"
