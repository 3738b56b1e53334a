"""The local EC2 endpoint: moto's server made as strict as AWS where awsfailover relies on it,
with fault injection. For tests, the demo and benchmarks; the hook and the agent never import it.
"""

from awsfailover.sim.server import LocalEndpoint, SimClient

__all__ = ["LocalEndpoint", "SimClient"]
