"""The hand-off's plain reading of [agent] socket and handoff_timeout (issue 18, item 3) agrees
with tomllib wherever it answers, and declines (None) wherever the file is anything else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from awsfailover.keepalived.handoff import _agent_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

AGREES = [
    "",
    '[node]\ninterface = "eth0"\n',
    '[agent]\nsocket = "/run/x/agent.sock"\n',
    '[agent]\nsocket = "/run/a#b.sock"   # a comment\nhandoff_timeout = 0.25\n',
    "[agent] # the agent\nhandoff_timeout = 1_0\n[failover]\ndeadline = 3\n",
    '[[instances]]\nname = "VI_1"\n[agent]\nsocket = "/s"\n',
    '# socket = "/not/this"\n[agent]\nfifo = "/run/f"\n',
]
DECLINES = [
    'agent.socket = "/run/x.sock"\n',
    'agent = { socket = "/run/x.sock" }\n',
    "[agent]\nsocket = '/run/literal.sock'\n",
    '[agent]\n"socket" = "/run/quoted.sock"\n',
    '[agent]\nsocket = """/run/multi.sock"""\n',
    '[agent]\nsocket = "/run/esc\\u0061.sock"\n',
    "[agent]\nhandoff_timeout = 0x10\n",
    '[agent.sub]\nsocket = "/x"\n',
    '[node]\ninterface = "socket0"\n',
]


def wanted(text: str) -> dict[str, object]:
    agent = tomllib.loads(text).get("agent", {})
    return {
        k: float(v) if k == "handoff_timeout" else v
        for k, v in agent.items()
        if k in ("socket", "handoff_timeout")
    }


@pytest.mark.parametrize("text", AGREES)
def test_agrees_with_tomllib(tmp_path: Path, text: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    assert _agent_keys(str(p)) == wanted(text)


@pytest.mark.parametrize("text", DECLINES)
def test_declines_what_it_cannot_read_for_sure(tmp_path: Path, text: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    assert _agent_keys(str(p)) is None
