"""Tests of the reference cluster, all against real processes on loopback."""
