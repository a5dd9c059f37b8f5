"""Instances boot only once their way out exists: the web instance after its subnet's route to
the internet gateway (in ec2 db mode nothing else makes it wait: the database's address is
fixed), the ec2-mode database after its route to the NAT gateway. Read from Terraform's own
graph of envs/localstack (ec2 db mode), in a throwaway copy, offline."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tests.tf_sandbox import init, make_sandbox, terraform, tf_environ

NODE = r'"\[root\] (?P<{}>[^"]+?)(?: \(expand\))?"'
EDGE = re.compile(rf"^\s*{NODE.format('node')} -> {NODE.format('needs')}$", re.M)


@pytest.fixture(scope="module")
def needs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Each node of the plan graph -> what it waits for, directly."""
    root = make_sandbox(tmp_path_factory.mktemp("graph"))
    env = tf_environ()
    init(root, env)
    graph = terraform(root, "graph", "-type=plan", env=env, check=True).stdout
    edges: dict[str, set[str]] = defaultdict(set)
    for match in EDGE.finditer(graph):
        edges[match["node"]].add(match["needs"])
    assert edges, "terraform graph printed no edges"
    return edges


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
    ("instance", "routes"),
    [
        ("module.web.aws_instance.this",
         {"module.vpc.aws_route.public_internet", "module.vpc.aws_route_table_association.public"}),
        ("module.db.aws_instance.db",
         {"module.vpc.aws_route.private_nat", "module.vpc.aws_route_table_association.private"}),
    ],
)  # fmt: skip
def test_an_instance_boots_after_its_route_out_exists(
    needs: dict[str, set[str]], instance: str, routes: set[str]
) -> None:
    assert instance in needs, f"{instance} is not in the graph"
    missing = routes - waits_for(needs, instance)
    assert not missing, f"{instance} may boot before {sorted(missing)} exist"
