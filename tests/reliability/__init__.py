"""Reliability (issue 8): crash safety, faults and hostile peers, each bounded."""
