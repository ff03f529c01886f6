"""The `local` target: start the bundled reference cluster and describe it as a `Target`."""

from __future__ import annotations

import contextlib
import dataclasses

from pytest_trinity.plan import Plan
from pytest_trinity.targets.model import Endpoints, Secret, Target


def start_local(plan: Plan, stack: contextlib.ExitStack, publish_s: float, given: Target | None = None) -> Target:
    """Start the reference cluster (stopped when `stack` closes) with the production profile.

    `given` is a targets file's `local = true` target: its `[aws]` ids make the cluster publish
    its metrics into that (loopback) CloudWatch, its `[usage_logs]` DSN is the cluster's
    PostgreSQL for usage_logs, and `faults = true` turns on the nodes' fault knobs (tests).

    `publish_s` is how often nodes publish their snapshot; a small-scale run asks for a
    faster cadence than the plan's so each short level still gets fresh telemetry.
    """
    from pytest_trinity.reference.cluster import Endpoints as ClusterEndpoints
    from pytest_trinity.reference.cluster import TelemetryTimings, run_cluster

    aws = given.aws if given is not None else None
    usage = given.usage_logs if given is not None else None
    if aws is not None and aws.db_resource_id and usage is not None and aws.endpoint_for("pi") == aws.endpoint_url:
        # moto has no Performance Insights: the cluster's PostgreSQL gets the reference's stand-in.
        from pytest_trinity.reference.insights import serve_insights

        url = stack.enter_context(serve_insights(usage.dsn.reveal(), aws.db_resource_id))
        aws = dataclasses.replace(aws, endpoint_urls=(*aws.endpoint_urls, ("pi", url)))
    info = stack.enter_context(run_cluster(plan.source, telemetry=TelemetryTimings(publish_s=publish_s), nginx_workers="auto",
                                           aws=aws, dsn=usage.dsn.reveal() if usage is not None else None,
                                           faults=given is not None and given.faults))

    def endpoints(e: ClusterEndpoints) -> Endpoints:
        return Endpoints(api=e.api_url, admin=e.admin_url, udp=e.udp)

    return Target(
        name=given.name if given is not None else "local",
        local=True,
        description=f"reference cluster in {info.cluster_dir}",
        aws=aws,
        usage_logs=usage,
        faults=given is not None and given.faults,
        workers=given.workers if given is not None else (),
        direct=endpoints(info.direct),
        balanced=endpoints(info.balanced),
        public_key=Secret("generated:public", info.public_key.value),
        partner_key=Secret("generated:partner", info.partner_key.value),
        admin_token=Secret("generated:admin", info.admin_token.value),
        redis_url=info.redis_url,
        ca_file=str(info.ca_file) if info.ca_file else None,
    )
