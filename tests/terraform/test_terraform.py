"""The Terraform module: fmt, validate, checkov; then each example applied against the local
endpoint, failed over by awsfailover from the module's rendered config, re-planned (no diff)
and destroyed. Terraform and its AWS provider come from the machine (a local provider mirror);
nothing is downloaded."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers import tfdocs
from helpers.nodes import need
from helpers.paths import ROOT
from helpers.timings import TF_TIMINGS

from awsfailover.sim import SimClient
from awsfailover.sim.world import REGION, holder, route_targets

MODULE = ROOT / "terraform"
EXAMPLES = sorted(p.name for p in (MODULE / "examples").iterdir() if p.is_dir())
# Destroyed after the failover: the example with VIPs, routes and an Elastic IP reassociated at
# run time (none of it may block the destroy); the others add nothing a destroy would exercise.
DESTROYED = ("public-gateway-pair",)
PLUGIN_DIRS = ("/opt/tf-plugins", "/usr/share/terraform/plugins", "~/.terraform.d/plugins")


@pytest.fixture(scope="module")
def tf() -> dict[str, str]:
    """terraform binary, provider mirror, and an environment that cannot reach a registry."""
    binary = shutil.which("terraform")
    if binary is None:
        need("terraform is not installed")
    plugin_dir = os.environ.get("TF_PLUGIN_DIR") or next(
        (
            str(Path(d).expanduser())
            for d in PLUGIN_DIRS
            if (Path(d).expanduser() / "registry.terraform.io" / "hashicorp" / "aws").is_dir()
        ),
        "",
    )
    if not plugin_dir:
        need(f"no AWS provider mirror in TF_PLUGIN_DIR or {', '.join(PLUGIN_DIRS)}")
    assert binary is not None
    return {"binary": binary, "plugin_dir": plugin_dir}


def run_tf(
    tf: dict[str, str], cwd: Path, *args: str, ok: tuple[int, ...] = (0,), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",  # no version check against checkpoint.hashicorp.com
        "TF_CLI_CONFIG_FILE": "/dev/null",
        "TF_DATA_DIR": str(cwd / ".terraform"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [tf["binary"], *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=timeout,
    )
    key = args[0]
    TF_TIMINGS[key] = TF_TIMINGS.get(key, 0.0) + time.monotonic() - started
    assert proc.returncode in ok, (
        f"terraform {' '.join(args)} -> {proc.returncode}\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def init(tf: dict[str, str], cwd: Path) -> None:
    run_tf(tf, cwd, "init", "-backend=false", f"-plugin-dir={tf['plugin_dir']}", "-no-color")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of terraform/ (examples keep `source = "../../"`); the repo stays clean."""
    dst = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(MODULE, dst, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return dst


def test_fmt(tf: dict[str, str]) -> None:
    run_tf(tf, MODULE, "fmt", "-check", "-recursive", "-diff", "-no-color")


def test_validate(tf: dict[str, str], tree: Path) -> None:
    """The module alone; each example is validated by its apply below (apply validates)."""
    init(tf, tree)
    run_tf(tf, tree, "validate", "-no-color")


def test_readme_tables_are_generated_from_the_module() -> None:

    readme = (MODULE / "README.md").read_text()
    assert tfdocs.updated(readme) == readme, "run: python tests/helpers/tfdocs.py"


def test_examples_are_the_documented_four() -> None:
    assert EXAMPLES == [
        "connector-pair",
        "cross-az-routes-only",
        "dual-stack-pair",
        "public-gateway-pair",
    ]


def test_checkov_passes() -> None:
    checkov = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    if not Path(checkov).exists():
        need(f"checkov not installed at {checkov} (make checkov)")
    # In a fresh network namespace when possible: checkov must not phone home.
    prefix = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []
    proc = subprocess.run(
        [
            *prefix,
            checkov,
            "-d",
            str(MODULE),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.stdout, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and summary["failed"] == 0, failed
    assert summary["passed"] > 0
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    readme = (MODULE / "README.md").read_text()
    assert all(s in readme for s in skipped), (
        f"skipped checks without a reason in the README: {skipped}"
    )


# --- apply, fail over, plan, destroy against the local endpoint ------------------------------


def _clients(url: str) -> tuple[Any, Any]:
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": REGION}
    return boto3.client("ec2", **kw), boto3.client("iam", **kw)


def prerequisites(ec2: Any, example: str) -> dict[str, Any]:
    """The existing VPC and subnets the examples take as inputs."""
    dual = example == "dual-stack-pair"
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", AmazonProvidedIpv6CidrBlock=dual)["Vpc"]
    vpc_id = vpc["VpcId"]

    def subnet(cidr: str, az: str, v6: str | None = None) -> str:
        kw = {"Ipv6CidrBlock": v6} if v6 else {}
        return str(
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{REGION}{az}", **kw)[
                "Subnet"
            ]["SubnetId"]
        )

    v6 = None
    if dual:
        v6 = str(
            next(
                ipaddress.ip_network(
                    vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
                ).subnets(new_prefix=64)
            )
        )
    app = subnet("10.20.1.0/24", "a", v6)
    clients = [subnet("10.20.2.0/24", "a"), subnet("10.20.3.0/24", "b")]
    if example == "public-gateway-pair":
        return {
            "vpc_id": vpc_id,
            "public_subnet_id": app,
            "member_ips": ["10.20.1.10", "10.20.1.11"],
            "vip": "10.20.1.100",
            "protected_cidrs": ["10.99.0.0/16"],
            "private_subnet_id": clients[0],
        }
    if example == "connector-pair":
        return {
            "vpc_id": vpc_id,
            "appliance_subnet_id": app,
            "member_ips": ["10.20.1.10", "10.20.1.11"],
            "vip": "10.20.1.100",
            "protected_cidrs": ["192.168.50.0/24", "192.168.60.0/24"],
            "client_subnet_ids": clients,
        }
    if example == "dual-stack-pair":
        assert v6 is not None
        pl = ec2.create_managed_prefix_list(
            PrefixListName="protected",
            MaxEntries=5,
            AddressFamily="IPv4",
            Entries=[{"Cidr": "172.16.0.0/16"}],
        )["PrefixList"]["PrefixListId"]
        return {
            "vpc_id": vpc_id,
            "appliance_subnet_id": app,
            "member_ips": ["10.20.1.10", "10.20.1.11"],
            "vips": ["10.20.1.100", str(ipaddress.ip_network(v6)[0x100])],
            "routes": ["192.168.50.0/24", "2001:db8:ff::/64", pl],
            "client_subnet_ids": clients,
        }
    other = subnet("10.20.9.0/24", "b")
    return {
        "vpc_id": vpc_id,
        "member_subnet_ids": [app, other],
        "member_ips": ["10.20.1.10", "10.20.9.10"],
        "overlay_cidrs": ["100.64.10.10/32", "192.168.70.0/24"],
        "client_subnet_ids": clients,
    }


def sim_override(url: str) -> str:
    return f"""
provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  endpoints {{
    dynamodb = "{url}"
    ec2      = "{url}"
    iam      = "{url}"
    sns      = "{url}"
    sts      = "{url}"
  }}
}}
"""


def _policy_set(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Statements by Sid, with Action/Resource as sets (the JSON spelling may differ)."""

    def s(v: Any) -> tuple[str, ...]:
        return tuple(sorted([v] if isinstance(v, str) else v))

    return {
        st["Sid"]: (
            st["Effect"],
            s(st["Action"]),
            s(st["Resource"]),
            json.dumps(st.get("Condition"), sort_keys=True),
        )
        for st in doc["Statement"]
    }


@pytest.fixture
def fresh_sim(endpoint: str) -> Iterator[SimClient]:
    sim = SimClient(endpoint)
    sim.reset()
    yield sim


def awsfailover(
    config: Path, *args: str, url: str, state: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWSFAILOVER_ENDPOINT_URL": url,
        "AWSFAILOVER_FAILOVER__STATE_DIR": str(state),
        "AWS_ENDPOINT_URL": url,  # every other service (doctor's SNS and EventBridge looks)
    }
    return subprocess.run(
        [sys.executable, "-m", "awsfailover", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_apply_failover_plan_destroy(
    tf: dict[str, str], tree: Path, fresh_sim: SimClient, example: str, tmp_path: Path
) -> None:
    url = fresh_sim.url
    ec2, iam = _clients(url)
    where = tree / "examples" / example
    (where / "zz_sim_override.tf").write_text(sim_override(url))
    (where / "terraform.tfvars.json").write_text(json.dumps(prerequisites(ec2, example)))
    init(tf, where)
    run_tf(tf, where, "apply", "-auto-approve", "-no-color")
    out = {
        k: v["value"] for k, v in json.loads(run_tf(tf, where, "output", "-json").stdout).items()
    }
    enis, tables = out["eni_ids"], sorted(out["route_table_ids"].values())

    # VPC side as the module promises
    for eni in enis.values():
        raw = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
        assert raw["SourceDestCheck"] is False
    for rtb in tables:
        assoc = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Associations"]
        assert any(a.get("SubnetId") and not a.get("Main") for a in assoc)
    assert out["keepalived_unicast"]["a"]["unicast_peer"] == [
        out["keepalived_unicast"]["b"]["unicast_src_ip"]
    ]

    # awsfailover, configured from the rendered output, fails the group over A -> B
    configs = {}
    for member, text in out["node_configs"].items():
        configs[member] = tmp_path / f"{member}.toml"
        configs[member].write_text(text)
    for member in ("a", "b"):
        r = awsfailover(
            configs[member],
            "notify",
            "INSTANCE",
            "VI_1",
            "MASTER",
            "100",
            url=url,
            state=tmp_path / member,
        )
        assert r.returncode == 0, r.stderr
        vips = json.loads(out["node_configs"][member].split("vips = ", 1)[1].split("\n", 1)[0])
        for vip in vips:
            assert holder(ec2, vip) == [enis[member]]
        for rtb in tables:
            targets = route_targets(ec2, rtb)
            routes = json.loads(
                out["node_configs"][member].split("routes = ", 1)[1].split("\n", 1)[0]
            )
            assert {targets[d] for d in routes} == {enis[member]}, (rtb, targets)

    # the Elastic IP follows the MASTER, and back (its first move maps it to the VIP)
    for allocation in [e["allocation_id"] for e in out.get("eips", {}).values()]:
        addr = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]
        assert (addr["NetworkInterfaceId"], addr["PrivateIpAddress"]) == (enis["b"], "10.20.1.100")
        r = awsfailover(
            configs["a"],
            "notify",
            "INSTANCE",
            "VI_1",
            "MASTER",
            "100",
            url=url,
            state=tmp_path / "a",
        )
        assert r.returncode == 0, r.stderr
        addr = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]
        assert (addr["NetworkInterfaceId"], addr["PrivateIpAddress"]) == (enis["a"], "10.20.1.100")

    # doctor on the rendered config: nothing fails (ENIs are not attached: ip-room only warns)
    r = awsfailover(configs["b"], "doctor", url=url, state=tmp_path / "b")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout

    # the role's policy is what `awsfailover iam-policy` prints for this group
    role = iam.get_role(RoleName=out["role_arn"].rsplit("/", 1)[1])["Role"]
    attached = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="awsfailover")[
        "PolicyDocument"
    ]
    attached = json.loads(attached) if isinstance(attached, str) else attached
    role_path_name = role["Path"] + role["RoleName"]
    printed = awsfailover(
        configs["a"], "iam-policy", "--role", role_path_name, url=url, state=tmp_path / "a"
    )
    assert printed.returncode == 0, printed.stderr
    assert _policy_set(json.loads(printed.stdout)) == _policy_set(attached)
    assert _policy_set(json.loads(out["iam_policy_json"])) == _policy_set(attached)

    # after a failover, Terraform sees nothing to change
    run_tf(tf, where, "plan", "-detailed-exitcode", "-no-color")
    if example not in DESTROYED:
        return  # the endpoint is reset for the next test; destroy costs ~30 s an example
    run_tf(tf, where, "destroy", "-auto-approve", "-no-color")
    gone = ec2.describe_route_tables(Filters=[{"Name": "route-table-id", "Values": tables}])
    assert gone["RouteTables"] == []
    left = ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": list(enis.values())}]
    )
    assert left["NetworkInterfaces"] == []


BAD_INPUTS = [
    ("one-member", {"member_ips": ["10.20.1.10"]}, "at least two members"),
    ("vip-outside-subnet", {"vip": "10.20.2.100"}, "VIP must lie in the members' subnet"),
    ("route-not-a-cidr", {"protected_cidrs": ["192.168.50.1/24"]}, "network address"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_wrong_inputs_fail_at_plan(
    tf: dict[str, str],
    tree: Path,
    fresh_sim: SimClient,
    case: str,
    change: dict[str, Any],
    message: str,
) -> None:
    url = fresh_sim.url
    ec2, _iam = _clients(url)
    where = tree / "examples" / "connector-pair"
    (where / "zz_sim_override.tf").write_text(sim_override(url))
    inputs = {**prerequisites(ec2, "connector-pair"), **change}
    if case == "one-member":
        main = (where / "main.tf").read_text()
        (where / "main.tf").write_text(
            main.replace(
                '    { name = "b", subnet_id = var.appliance_subnet_id, '
                "private_ip = var.member_ips[1] },\n",
                "",
            )
        )
    try:
        (where / "terraform.tfvars.json").write_text(json.dumps(inputs))
        init(tf, where)
        proc = run_tf(tf, where, "plan", "-no-color", ok=(1,))
        assert message in " ".join(proc.stderr.split()), proc.stderr
    finally:
        if case == "one-member":
            (where / "main.tf").write_text(main)
