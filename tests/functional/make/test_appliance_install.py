"""An appliance installs awsfailover without extras: no moto, no werkzeug. The hook, the
agent's modules and every command but `demo` work without them, and `demo` says what to
install (one line, exit 2) instead of failing inside the endpoint."""

from __future__ import annotations

import subprocess
import sys

# moto and werkzeug unimportable, as on a `pip install awsfailover` machine (a None entry in
# sys.modules is how Python spells "not installed" to import and to find_spec alike).
NO_SIM = "import sys\nsys.modules.update(moto=None, werkzeug=None, flask=None)\n"
MAIN = "from awsfailover.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_SIM + MAIN, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_runtime_modules_import_without_moto() -> None:
    code = (
        NO_SIM + "import pkgutil, importlib, awsfailover\n"
        "for m in pkgutil.walk_packages(awsfailover.__path__, 'awsfailover.'):\n"
        "    if not m.name.startswith('awsfailover.sim') and not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_commands_work_and_demo_says_what_to_install() -> None:
    r = run("iam-policy", "--region", "eu-north-1", "--account", "123456789012")
    assert r.returncode == 0, r.stderr
    assert '"ObserveNetworkState"' in r.stdout
    r = run("demo")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        "awsfailover: error: demo needs the local endpoint: pip install 'awsfailover[sim]'"
    )
