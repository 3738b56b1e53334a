"""IMDSv2 discovery against a local fake: token, MAC -> ENI, region; clear failure modes."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.nodes import Node

from awsfailover.aws.imds import Imds, interface_mac
from awsfailover.errors import MetadataError
from awsfailover.sim.imds import FakeImds
from awsfailover.sim.world import VIP4, World, holder

LO_MAC = "00:00:00:00:00:00"  # the loopback interface's MAC: present on every Linux host


@pytest.fixture
def fake(world: World):
    f = FakeImds(
        "eu-north-1", {LO_MAC: {"interface-id": world.eni_b, "local-ipv4s": "10.0.1.11"}}
    ).start()
    yield f
    f.stop()


def test_token_then_lookups(fake: FakeImds, world: World):
    imds = Imds(fake.url)
    assert imds.region() == "eu-north-1"
    assert imds.eni_for_mac(interface_mac("lo")) == world.eni_b
    assert fake.requests[0] == "PUT /latest/api/token"
    assert all("GET" in r for r in fake.requests[1:])
    assert len([r for r in fake.requests if r.startswith("PUT")]) == 1  # token reused


def test_get_without_token_is_refused_by_fake(fake: FakeImds):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(fake.url + "latest/meta-data/placement/region", timeout=2)


def test_cli_discovers_eni_and_region_from_metadata(world: World, tmp_path: Path, ec2):
    """The instance owning ENI B, as the local endpoint's metadata view shows it: the ENI and
    the Region come from metadata, and the moved VIPs are confirmed there too."""
    node = Node(world, world.eni_b, tmp_path, "imds")
    text = node.config.read_text()
    text = text.replace(f'eni_id = "{world.eni_b}"\n', "").replace('region = "eu-north-1"\n', "")
    node.config.write_text(text)
    res = node.master(
        env={
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{world.endpoint_url}/_imds/{world.eni_b}/",
            "AWS_DEFAULT_REGION": "",
            "AWS_REGION": "",
        }
    )
    assert res.code == 0, res.err
    assert f"is {world.eni_b} (from instance metadata)" in res.err
    assert "confirming through the API only" not in res.err
    assert holder(ec2, VIP4) == [world.eni_b]


def test_unreachable_metadata_is_a_clear_error(world: World, tmp_path: Path):
    node = Node(world, world.eni_b, tmp_path, "noimds")
    node.config.write_text(node.config.read_text().replace(f'eni_id = "{world.eni_b}"\n', ""))
    res = node.master()  # conftest points metadata at a closed loopback port
    assert res.code == 2
    assert "instance metadata" in res.err and "hop limit" in res.err
    assert "Traceback" not in res.err


def test_hop_limit_timeout_is_reported(world: World):
    f = FakeImds("eu-north-1", {}, hop_limit_exceeded=True).start()
    try:
        with pytest.raises(MetadataError, match="hop limit"):
            Imds(f.url, timeout=0.5).region()
    finally:
        f.stop()


def test_unknown_mac_and_interface(fake: FakeImds):
    with pytest.raises(MetadataError, match="no interface with MAC"):
        Imds(fake.url).eni_for_mac("02:00:00:00:00:99")
    with pytest.raises(MetadataError, match="no such interface"):
        interface_mac("does-not-exist0")


def test_each_instance_finds_the_eni_of_its_own_interface(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A two-NIC node: eth0 and eth1 have their own MACs, and an instance naming `interface`
    gets that interface's ENI; the node's ENI is not even looked up when every instance names
    its own, and a MAC listing that is not MACs is never used in a path."""
    import awsfailover.aws.imds as imds_mod
    from awsfailover.config.schema import Settings
    from awsfailover.failover.engine import build_engine

    for name, mac in (("eth0", "0a:00:00:00:00:01"), ("eth1", "0a:00:00:00:00:02")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "address").write_text(mac + "\n")
    monkeypatch.setattr(imds_mod, "_SYSFS_NET", tmp_path)
    macs = {
        "0a:00:00:00:00:01": {"interface-id": world.eni_a},
        "0a:00:00:00:00:02": {"interface-id": world.eni_c},
    }
    fake = FakeImds("eu-north-1", macs).start()
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url)
    try:
        settings = Settings(
            region="eu-north-1",
            endpoint_url=world.endpoint_url,
            instances=[
                {"name": "PRIV", "vips": [VIP4], "interface": "eth0"},
                {"name": "PUB", "routes": ["10.9.0.0/16"], "interface": "eth1"},
            ],
        )
        engine = build_engine(settings)
        try:
            assert engine.eni_of(settings.instance("PRIV")) == world.eni_a
            assert engine.eni_of(settings.instance("PUB")) == world.eni_c
            assert engine.eni_id == world.eni_a  # node.interface (eth0) was never asked for
            asked = [r for r in fake.requests if r.startswith("GET") and "interface-id" in r]
            assert len(asked) == 2  # one lookup per interface
            assert Imds(fake.url).mac_for_eni(world.eni_c) == "0a:00:00:00:00:02"
            assert Imds(fake.url).mac_for_eni(world.eni_b) is None
        finally:
            engine.close()
    finally:
        fake.stop()
    assert imds_mod._mac_lines("../../x/\n0a:00:00:00:00:01/\n") == ["0a:00:00:00:00:01"]
