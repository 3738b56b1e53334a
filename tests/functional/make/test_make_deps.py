"""`make test` sets up its own machine: `make deps` installs keepalived and iproute2 as root
with apt-get, and otherwise stops with the one command to run (issue 12, item 4). Both paths
run against a fake PATH, so the test changes nothing on the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from helpers.paths import ROOT


def fake_bin(tmp: Path, uid: int, with_apt: bool, present: tuple[str, ...]) -> Path:
    b = tmp / "bin"
    b.mkdir()
    scripts = {"id": f'#!/bin/sh\n[ "$1" = -u ] && echo {uid}\n'}
    if with_apt:
        scripts["apt-get"] = f'#!/bin/sh\necho "$@" >> {tmp}/apt.log\n'
    for cmd in present:
        scripts[cmd] = "#!/bin/sh\nexit 0\n"
    for name, text in scripts.items():
        (b / name).write_text(text)
        (b / name).chmod(0o755)
    for tool in ("sh", "make", "echo", "env"):  # what make itself needs, nothing else
        real = shutil.which(tool)
        if real and not (b / tool).exists():
            (b / tool).symlink_to(real)
    return b


def deps(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "deps"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": str(path), "HOME": os.environ.get("HOME", "/")},
    )


def test_root_with_apt_installs_what_is_missing(tmp_path: Path) -> None:
    r = deps(fake_bin(tmp_path, 0, with_apt=True, present=("ip",)))
    assert r.returncode == 0, r.stdout + r.stderr
    log = (tmp_path / "apt.log").read_text().splitlines()
    assert log[0] == "update -qq"
    assert log[1].split()[-1] == "keepalived" and "iproute2" not in log[1]


def test_without_root_it_stops_with_the_one_command(tmp_path: Path) -> None:
    r = deps(fake_bin(tmp_path, 1000, with_apt=True, present=()))
    assert r.returncode != 0
    assert "run: sudo apt-get install -y keepalived iproute2" in r.stderr
    assert not (tmp_path / "apt.log").exists()


def test_nothing_missing_nothing_done(tmp_path: Path) -> None:
    r = deps(fake_bin(tmp_path, 0, with_apt=True, present=("keepalived", "ip")))
    assert r.returncode == 0
    assert not (tmp_path / "apt.log").exists()


def test_make_test_depends_on_deps() -> None:
    out = subprocess.run(
        ["make", "-C", str(ROOT), "-n", "test"], capture_output=True, text=True, check=False
    ).stdout
    assert "make deps: installing" in out or "missing" in out  # deps' recipe is part of test
