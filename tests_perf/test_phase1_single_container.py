"""Phase 1 of the plan: the single-container ceiling, direct to one node, no load balancer.

Governor disabled, AZs consolidated, no TLS: this is the baseline phase 2 builds on. Each
test below runs once per ramp level (`pytest tests_perf -k 1a`).
"""

import pytest


@pytest.mark.trinity("1a")
def test_1a_tcp_direct(trinity_level, trinity_runner):
    """Absolute single-container TCP ceiling: HTTP straight to the node's API port.

    Compared with the v5 result (132K RPS at 3,000 concurrent, p50 4.9 ms). Watch tcp_rps,
    syncmap_hit_pct (99%+), db_in_use (well below db_max_open), batch_flush_errors (0).
    """
    trinity_runner.run().check()


@pytest.mark.trinity("1b")
def test_1b_udp_direct(trinity_level, trinity_runner):
    """Absolute single-container UDP ceiling of the v6 engine (target 80K+ RPS, v5 44K).

    Watch udp_rps, udp_drop_pct (above 1% the workers can't keep up), bg_drop_pct, CPU%.
    """
    trinity_runner.run().check()
