"""Reliability tests: the daemon killed with SIGKILL at random points, then restarted."""
