"""The long-running agent."""
