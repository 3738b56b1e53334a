"""`awsfailover doctor`: probes, then pure checks on what they found."""
