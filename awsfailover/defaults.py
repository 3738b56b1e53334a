"""Every default path and timeout that more than one code path reads. Standard library only.

The hook's hand-off, keepalived's checks, `keepalived-config`, the systemd unit and the agent
must agree on where the FIFO, the socket and the state live; one module keeps them agreeing
(a test renders keepalived.conf and starts the agent with no [agent] section to prove it).
"""

from __future__ import annotations

from pathlib import Path

CONFIG_PATH = Path("/etc/awsfailover/config.toml")
CONFIG_ENV = "AWSFAILOVER_CONFIG"

# tmpfs: a reboot forgets the sequence files and the maintenance flag, which is what we want.
STATE_DIR = Path("/run/awsfailover")
# Used, with a loud warning, when STATE_DIR cannot be written (read-only or full): failover
# must not stop because of a file. /dev/shm is a separate tmpfs on every systemd distribution.
FALLBACK_STATE_DIR = Path("/dev/shm/awsfailover")  # noqa: S108 - created 0700, files 0600

FIFO = STATE_DIR / "notify.fifo"
SOCKET = STATE_DIR / "agent.sock"
METRICS_ADDRESS = "127.0.0.1:9108"
# keepalived's own pid file (its -p option; this is its compiled-in default on Debian/Ubuntu)
KEEPALIVED_PIDFILE = Path("/run/keepalived.pid")

HANDOFF_TIMEOUT = 0.5
HANDOFF_TIMEOUT_MAX = 10.0

# keepalived's trackers (track_file, vrrp_track_process) read these; both files live in
# failover.state_dir (root's, 0700: no other user can change what keepalived reads there).
MAINTENANCE_FLAG = "maintenance"  # "1": this node steps down (FAULT); "0" or absent: eligible
AGENT_HEALTH_FILE = "agent-health"  # "0": the agent is healthy; "1": it is not (weight -50)
# The agent's process name (/proc/PID/comm, at most 15 bytes) once it is ready: keepalived's
# vrrp_track_process follows it through the kernel's process events.
AGENT_PROCESS_NAME = "awsfailoverd"

# The preflight commands' Describe calls race nothing: a slow API is waited out, not failed.
DOCTOR_DEADLINE = 60.0  # seconds for all of doctor's probes
CHECK_IAM_DEADLINE = 10.0  # seconds for check-iam's tag reads and dry runs

# The longest keepalived notify line we accept on the FIFO or the hand-off socket. Real lines
# are under 100 bytes (`INSTANCE "name" MASTER 100`); anything longer is junk or an attack.
MAX_LINE = 512
