"""Issue 17, items 1 and 2: a state directory someone else controls, and a record that cannot
be read, neither steer nor stop a failover. Each case is a MASTER hook run through the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.nodes import Node, need

from awsfailover.sim.world import VIP4, World, holder

BOOT = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
# a BACKUP "recorded" far in the future: a MASTER that trusts it says "already overtaken"
NEWER_BACKUP = f"{BOOT} 999999999999999999 1 BACKUP\n"


def node_with(world: World, tmp: Path, state_dir: Path, fallback: Path | None = None) -> Node:
    extra = f'fallback_state_dir = "{fallback}"\n' if fallback is not None else ""
    node = Node(world, world.eni_b, tmp, "b")
    text = node.config.read_text().replace(
        f'state_dir = "{tmp / "b" / "run"}"', f'state_dir = "{state_dir}"\n{extra}'
    )
    assert text != node.config.read_text()
    node.config.write_text(text)
    return node


def unusable(tmp: Path) -> Path:
    """A state_dir nobody can create (its parent is a file), so the fallback is used."""
    (tmp / "a-file").write_text("")
    return tmp / "a-file" / "run"


def moved(world: World, ec2: object) -> bool:
    return holder(ec2, VIP4) == [world.eni_b]


@pytest.mark.parametrize("how", ["other-owner", "world-writable", "symlink"])
def test_an_untrusted_fallback_dir_is_not_used(
    world: World, ec2: object, tmp_path: Path, how: str
) -> None:
    fallback = tmp_path / "shm" / "awsfailover"
    if how == "symlink":
        real = tmp_path / "elsewhere"
        real.mkdir(mode=0o700)
        (real / "VI_1.seq").write_text(NEWER_BACKUP)
        fallback.parent.mkdir()
        fallback.symlink_to(real)
    else:
        fallback.mkdir(parents=True)
        (fallback / "VI_1.seq").write_text(NEWER_BACKUP)
        if how == "other-owner":
            if os.geteuid() != 0:
                need("chown to another user needs root")
            os.chown(fallback, 65534, 65534)
            fallback.chmod(0o755)
        else:
            fallback.chmod(0o777)
    node = node_with(world, tmp_path, unusable(tmp_path), fallback)
    r = node.master()
    assert r.code == 0, r.err
    assert "already overtaken" not in r.err
    assert "unusable" in r.err and "NO WRITABLE STATE DIR" in r.err  # said loudly
    assert moved(world, ec2)


def test_a_symlinked_lock_file_is_not_followed(world: World, ec2: object, tmp_path: Path) -> None:
    state = tmp_path / "run"
    state.mkdir(mode=0o700)
    target = tmp_path / "created-by-root"
    (state / "VI_1.seqlock").symlink_to(target)
    node = node_with(world, tmp_path, state)
    r = node.master()
    assert r.code == 0, r.err
    assert not target.exists() and not target.is_symlink()
    assert moved(world, ec2)


@pytest.mark.parametrize("record", [b"\xff\xfe\x00 garbage\n", b"caf\xe9 1 2 MASTER\n"])
def test_an_unreadable_record_is_no_record(
    world: World, ec2: object, tmp_path: Path, record: bytes
) -> None:
    state = tmp_path / "run"
    state.mkdir(mode=0o700)
    (state / "VI_1.seq").write_bytes(record)
    node = node_with(world, tmp_path, state)
    r = node.master()
    assert r.code == 0, r.err
    assert "internal error" not in r.err
    assert moved(world, ec2)
