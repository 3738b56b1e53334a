"""Issue 17 item 11 and issue 22 item 4: a bad AWSFAILOVER_* value is one line, exit 2, naming
the variable (not the config file), never an internal error."""

from __future__ import annotations

import pytest
from helpers.nodes import Node


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"AWSFAILOVER_INSTANCES": ""}, "AWSFAILOVER_INSTANCES: not valid JSON"),
        ({"AWSFAILOVER_INSTANCES": "{junk"}, "AWSFAILOVER_INSTANCES: not valid JSON"),
        ({"AWSFAILOVER_NODE": "[1"}, "AWSFAILOVER_NODE: not valid JSON"),
        (
            {"AWSFAILOVER_GROUP__ENIS": "eni-0aaaaaaaaaaaaaaaa,eni-0bbbbbbbbbbbbbbbb"},
            "AWSFAILOVER_GROUP__ENIS: not valid JSON",
        ),
        ({"AWSFAILOVER_FAILOVER__DEADLINE": "abc"}, "AWSFAILOVER_FAILOVER__DEADLINE: Input should"),
        ({"AWSFAILOVER_ENDPOINT_URL": "not a url"}, "'not a url' is not an http(s) URL"),
    ],
)
def test_a_bad_environment_value_names_its_variable(
    node_b: Node, env: dict[str, str], said: str
) -> None:
    r = node_b.run("status", env=env)
    assert r.code == 2, r.err
    lines = [x for x in r.err.splitlines() if x.startswith("awsfailover: ")]
    assert len(lines) == 1 and "internal error" not in lines[0], r.err
    assert lines[0].startswith("awsfailover: error: environment: ") and said in lines[0], lines


def test_a_bad_file_value_still_names_the_file(node_b: Node) -> None:
    node_b.config.write_text(node_b.config.read_text().replace("deadline = 10", 'deadline = "x"'))
    r = node_b.run("status")
    assert r.code == 2 and f"config file {node_b.config}: failover.deadline:" in r.err, r.err
