"""This node: its Region and its ENIs, from the config, else the environment, else IMDSv2.

One NodeFacts per command, so one metadata session (one token) and one lookup per interface,
however many parts of the command ask.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from awsfailover.config.compact import FailoverConfig
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import MetadataError

if TYPE_CHECKING:
    from awsfailover.aws.imds import Imds

__all__ = ["Node", "NodeFacts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Node:
    region: str
    eni_id: str


@contextmanager
def _discovery(key: str) -> Iterator[None]:
    """Metadata asked for something the config could say instead: say so (only here, where
    it is true: a node that sets both still uses metadata to confirm, and may lack it)."""
    try:
        yield
    except MetadataError as exc:
        raise MetadataError(f"{exc}; or set {key} in the config") from None


class NodeFacts:
    """This node's Region and ENIs: from the config, else the environment, else IMDSv2, with
    one metadata session (one token) and one lookup per interface however many ask."""

    def __init__(self, settings: FailoverConfig) -> None:
        self.settings = settings
        self._imds: Imds | None = None
        self._by_interface: dict[str, str] = {}

    def metadata(self) -> Imds:
        """The command's one instance-metadata session, opened on first use."""
        if self._imds is None:
            from awsfailover.aws.imds import Imds

            self._imds = Imds()
        return self._imds

    def region(self) -> str:
        s = self.settings
        region = s.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            return region
        with _discovery("region"):
            return self.metadata().region()

    def eni_of(self, interface: str, key: str) -> str:
        if interface not in self._by_interface:
            from awsfailover.aws.imds import interface_mac

            with _discovery(key.replace("interface", "eni_id")):
                eni_id = self.metadata().eni_for_mac(interface_mac(interface))
            log.info("%s %s is %s (from instance metadata)", key, interface, eni_id)
            self._by_interface[interface] = eni_id
        return self._by_interface[interface]

    def node(self) -> Node:
        return Node(self.region(), self.node_eni())

    def node_eni(self) -> str:
        """node.eni_id, else the ENI of node.interface."""
        return self.settings.node.eni_id or self.eni_of(
            self.settings.node.interface, "node.interface"
        )

    def instance_enis(self, instances: list[InstanceSpec]) -> dict[str, str]:
        """The ENI of each instance that names its own (a multi-NIC node): eni_id, else the
        ENI of its interface by MAC."""
        out: dict[str, str] = {}
        for inst in instances:
            if inst.eni_id:
                out[inst.name] = inst.eni_id
            elif inst.interface:
                out[inst.name] = self.eni_of(inst.interface, f"instances.{inst.name}.interface")
        return out
