"""Helpers shared by the tests: worlds, agents, nodes, listeners. No test module imports
another; they import from here."""
