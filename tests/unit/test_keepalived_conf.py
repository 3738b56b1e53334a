"""keepalived.conf as text: what `keepalived-config` renders for a node (keepalived's own
config test runs on it in tests/functional/keepalived)."""

from __future__ import annotations

from pathlib import Path

import pytest

from awsfailover.config.schema import Settings
from awsfailover.keepalived.conf import NodeVrrp, render

CMD = ["/usr/local/bin/awsfailover"]
CFG = Path("/etc/awsfailover/config.toml")


def settings(**agent: object) -> Settings:
    return Settings(
        region="eu-north-1",
        node={"eni_id": "eni-0bbbbbbbbbbbbbbbb", "interface": "eth0"},
        agent=agent,
        instances=[
            {"name": "VI_1", "vips": ["10.0.1.100", "2001:db8:1::100"]},
            {"name": "PUB", "vips": ["10.0.2.100"], "interface": "eth1"},
        ],
    )


def test_hook_only_node() -> None:
    text = render(settings(), NodeVrrp("10.0.1.10", ("10.0.1.11",), priority=150), CMD, CFG)
    assert "vrrp_notify_fifo" not in text and "awsfailover_agent" not in text
    assert text.count("vrrp_instance ") == 2
    assert "    virtual_router_id 51\n" in text and "    virtual_router_id 52\n" in text
    assert "    priority 150\n" in text
    assert (
        '    notify "/usr/local/bin/awsfailover --config /etc/awsfailover/config.toml notify"\n'
        in text
    )
    # VRRP speaks IPv4 here: the IPv6 VIP is added but not advertised
    assert "    virtual_ipaddress {\n        10.0.1.100/32 dev eth0\n    }\n" in text
    assert "    virtual_ipaddress_excluded {\n        2001:db8:1::100/128 dev eth0\n" in text
    # a second NIC's instance: VRRP on the node's interface, its VIPs on its own
    assert "        10.0.2.100/32 dev eth1\n" in text
    assert "    unicast_src_ip 10.0.1.10\n    unicast_peer {\n        10.0.1.11\n    }\n" in text


def test_agent_node_gets_the_fifo_and_keepalived_s_own_trackers() -> None:
    """Issue 19: nothing started per second; keepalived watches two files and a process."""
    node = NodeVrrp("10.0.1.10", ("10.0.1.11",), use_agent=True, advert_int=0.2)
    text = render(settings(fifo="/run/awsfailover/notify.fifo"), node, CMD, CFG)
    assert "    vrrp_notify_fifo /run/awsfailover/notify.fifo\n" in text
    assert "vrrp_script" not in text and "keepalived-check" not in text
    assert (
        "track_file awsfailover_maintenance {\n"
        '    file "/run/awsfailover/maintenance"\n    weight 0\n    init_file 0\n}\n'
    ) in text
    assert (
        "track_file awsfailover_agent_health {\n"
        '    file "/run/awsfailover/agent-health"\n    weight -50\n    init_file 0\n}\n'
    ) in text
    assert (
        "vrrp_track_process awsfailover_agent {\n    process awsfailoverd\n    weight -50\n"
    ) in text
    for inst_block in text.split("vrrp_instance ")[1:]:
        assert (
            "    track_file {\n        awsfailover_maintenance\n        awsfailover_agent_health\n"
            "    }\n    track_process {\n        awsfailover_agent\n    }\n"
        ) in inst_block
    assert "    advert_int 0.2\n    version 3" in text


def test_hook_only_node_tracks_the_maintenance_file_only() -> None:
    text = render(settings(), NodeVrrp("10.0.1.10", ("10.0.1.11",)), CMD, CFG)
    assert "    track_file {\n        awsfailover_maintenance\n    }\n" in text
    assert "agent_health" not in text and "track_process" not in text


def test_the_trackers_follow_the_configured_state_dir() -> None:
    s = settings()
    s = s.model_copy(
        update={"failover": s.failover.model_copy(update={"state_dir": Path("/var/lib/af-state")})}
    )
    text = render(s, NodeVrrp("10.0.1.10", ("10.0.1.11",), use_agent=True), CMD, CFG)
    assert 'file "/var/lib/af-state/maintenance"' in text
    assert 'file "/var/lib/af-state/agent-health"' in text


def test_script_checks_keep_the_vrrp_script_wiring() -> None:
    """--script-checks: for keepalived builds without track_file or vrrp_track_process."""
    node = NodeVrrp("10.0.1.10", ("10.0.1.11",), use_agent=True, script_checks=True)
    text = render(settings(), node, CMD, CFG)
    assert "track_file" not in text and "track_process" not in text
    assert "vrrp_script awsfailover_agent {" in text and "    weight -50\n" in text
    assert "keepalived-check maintenance" in text
    assert (
        "    track_script {\n        awsfailover_maintenance\n        awsfailover_agent\n" in text
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"self_ip": "10.0.1.10", "peers": ()}, "at least one --peer"),
        ({"self_ip": "10.0.1.10", "peers": ("10.0.1.10",)}, "must not be one of the peers"),
        ({"self_ip": "10.0.1.10", "peers": ("10.0.1.11",), "priority": 255}, "1..254"),
        ({"self_ip": "x", "peers": ("10.0.1.11",)}, "not an IP address"),
    ],
)
def test_node_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NodeVrrp(**kwargs)  # type: ignore[arg-type]


def test_a_word_keepalived_would_split_is_refused() -> None:
    with pytest.raises(ValueError, match="keepalived cannot use it"):
        render(settings(), NodeVrrp("10.0.1.10", ("10.0.1.11",)), ["/opt/my tools/af"], CFG)


def test_a_lease_ttl_above_the_master_down_interval_is_refused() -> None:
    """Issue 21: a dead master's lease must be stale by the time keepalived promotes the
    peer; 3 adverts plus the backup's skew ((256 - priority) / 256 of an advert)."""
    base = settings().model_dump(exclude={"group", "arbiter"})
    arb = Settings(**base, group={"name": "edge"}, arbiter={"table": "leases", "lease_ttl": 3.0})
    node = NodeVrrp("10.0.1.10", ("10.0.1.11",), priority=100, advert_int=1.0)
    assert "vrrp_instance VI_1" in render(arb, node, CMD, CFG)  # 3.0 <= 3.61
    fast = NodeVrrp("10.0.1.10", ("10.0.1.11",), priority=100, advert_int=0.2)
    with pytest.raises(
        ValueError, match=r"lease_ttl 3s is above .* \(0\.722s for --advert-int 0\.2"
    ):
        render(arb, fast, CMD, CFG)
    short = Settings(**base, group={"name": "edge"}, arbiter={"table": "leases", "lease_ttl": 0.6})
    assert "advert_int 0.2" in render(short, fast, CMD, CFG)
