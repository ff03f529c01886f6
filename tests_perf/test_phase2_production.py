"""Phase 2 of the plan: production topology — 3 nodes, distributed AZs, governor enabled.

Traffic goes through the load balancer (ALB for TCP with TLS, NLB for UDP). Each test below
runs once per ramp level (`pytest tests_perf -k 2b`).
"""

import pytest


@pytest.mark.trinity("2a")
def test_2a_tcp_alb_public(trinity_level, trinity_runner):
    """Production TCP throughput for public subscribers: TLS at the ALB, rate limits on.

    The number for the marketing page. rate_limit_hits should be 0 with the stress-tier key.
    """
    trinity_runner.run().check()


@pytest.mark.trinity("2b")
def test_2b_udp_nlb_partner(trinity_level, trinity_runner):
    """Production UDP throughput for partners: no rate limit, no caps, no billing checks.

    The fastest path through the service; rate_limit_hits must be exactly 0.
    """
    trinity_runner.run().check()


@pytest.mark.trinity("2c")
def test_2c_udp_nlb_public(trinity_level, trinity_runner):
    """Production UDP throughput for public subscribers: rate limiting on every packet.

    Compared with 2b level by level: the gap is the per-packet cost of the rate limiter.
    """
    trinity_runner.run().check()


@pytest.mark.trinity("2d")
def test_2d_tcp_alb_combined(trinity_level, trinity_runner):
    """Resource contention: /price (LPO) and /reports/usage (LRS) hammered at the same time.

    Compared with 2a: the gap is what LRS costs under load. Watch db_in_use against
    db_max_open and batch_flush_errors.
    """
    trinity_runner.run().check()


@pytest.mark.trinity("2e")
def test_2e_tcp_alb_endurance(trinity_level, trinity_runner):
    """Endurance: 30 minutes at 80% of the ceiling 2a measured.

    Memory must stay flat, db_wait_count at 0, and errors_5xx at 0 for the whole run.
    """
    trinity_runner.run().check()
