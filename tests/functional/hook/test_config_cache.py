"""The cold MASTER hook without pydantic (issue 23): an unchanged config is read from the
validated cache in the state directory; a changed config, a changed AWSFAILOVER_* variable or
a cache anyone else could have written means a full validation, as if there were none."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from helpers.imports import hook_with_importtime, imported, log_lines
from helpers.nodes import Node, need

from awsfailover.config.cache import CACHE_NAME
from awsfailover.sim.world import VIP4, World, holder


def master(node: Node, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return hook_with_importtime(node.config, env=env)


def used_pydantic(res: subprocess.CompletedProcess[str]) -> bool:
    return "pydantic" in imported(res.stderr)


def log(res: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(log_lines(res.stderr))


def cache_of(node: Node) -> Path:
    return node.dir / "run" / CACHE_NAME


def test_an_unchanged_config_fails_over_without_pydantic(
    world: World, ec2: object, node_a: Node, node_b: Node
) -> None:
    first = master(node_b)
    assert first.returncode == 0, log(first)
    assert used_pydantic(first)  # nothing cached yet: validated, and kept
    assert cache_of(node_b).exists()
    assert oct(cache_of(node_b).stat().st_mode & 0o777) == "0o600"
    assert master(node_a).returncode == 0
    again = master(node_b)
    assert again.returncode == 0, log(again)
    assert not used_pydantic(again), sorted(m for m in imported(again.stderr) if "pydantic" in m)
    assert "converged on" in log(again)
    assert holder(ec2, VIP4) == [world.eni_b]


def test_a_changed_config_or_environment_is_validated_again(node_b: Node) -> None:
    assert master(node_b).returncode == 0
    assert not used_pydantic(master(node_b))
    node_b.config.write_text(node_b.config.read_text() + "\n# a comment changes the bytes\n")
    assert used_pydantic(master(node_b))
    assert not used_pydantic(master(node_b))  # rewritten by that validation
    env = {"AWSFAILOVER_FAILOVER__DEADLINE": "9"}
    assert used_pydantic(master(node_b, env))
    assert not used_pydantic(master(node_b, env))


def test_a_config_turned_bad_is_refused_not_read_from_the_cache(node_b: Node) -> None:
    assert master(node_b).returncode == 0
    node_b.config.write_text(node_b.config.read_text().replace("deadline = 10", "deadline = -1"))
    bad = master(node_b)
    assert bad.returncode == 2, log(bad)
    lines = log(bad).splitlines()
    assert len(lines) == 1 and "failover.deadline" in lines[0], lines


def test_a_cache_someone_else_could_write_is_ignored_loudly(node_b: Node) -> None:
    assert master(node_b).returncode == 0
    cache = cache_of(node_b)
    cache.chmod(0o620)
    res = master(node_b)
    assert res.returncode == 0, log(res)
    assert used_pydantic(res) and "IGNORED" in log(res) and "writable by group" in log(res)
    # the validation rewrote it as it should be: 0600, ours
    assert oct(cache.stat().st_mode & 0o777) == "0o600"
    assert not used_pydantic(master(node_b))


def test_a_cache_owned_by_another_user_is_ignored(node_b: Node) -> None:
    if os.geteuid() != 0:
        need("root, to give the cache to another user")
    assert master(node_b).returncode == 0
    cache = cache_of(node_b)
    # a forged cache (another user's), even one that names this config's key
    doc = json.loads(cache.read_text())
    doc["settings"]["failover"]["deadline"] = 1.0
    cache.write_text(json.dumps(doc))
    os.chown(cache, pwd.getpwnam("nobody").pw_uid, -1)
    res = master(node_b)
    assert used_pydantic(res) and "IGNORED" in log(res) and "owned by uid" in log(res)


def test_the_compact_form_is_what_the_validated_settings_say(node_b: Node) -> None:
    from awsfailover.config.compact import from_doc, to_doc
    from awsfailover.config.load import load_settings

    s = load_settings(str(node_b.config))
    c = from_doc(json.loads(json.dumps(to_doc(s))))
    assert c.specs == s.specs
    assert (c.region, c.endpoint_url) == (s.region, s.endpoint_url)
    assert (c.node.eni_id, c.node.interface) == (s.node.eni_id, s.node.interface)
    assert tuple(c.group.enis) == tuple(s.group.enis)
    for k in ("deadline", "connect_timeout", "read_timeout", "max_concurrency", "state_dir"):
        assert getattr(c.failover, k) == getattr(s.failover, k), k
    with pytest.raises(Exception, match="VI_9"):
        c.instance("VI_9")


def test_keepalived_config_leaves_the_cache_for_the_first_master_hook(node_b: Node) -> None:
    """A fresh node: the operator renders keepalived.conf (a full validation), so even the
    first MASTER hook, in keepalived's environment, imports no pydantic."""
    node_b.config.write_text(
        node_b.config.read_text().replace('interface = "lo"', 'interface = "eth0"')
    )
    r = node_b.run("keepalived-config", "--self", "10.0.1.11", "--peer", "10.0.1.10")
    assert r.code == 0, r.err
    assert cache_of(node_b).exists()
    first = master(node_b, {"AWSFAILOVER_CONFIG": str(node_b.config)})
    assert first.returncode == 0, log(first)
    assert not used_pydantic(first)
