"""pytest-trinity: a performance validation plan, run as pytest test cases.

Folders, one part of the architecture each:
  plan/      the plan as typed data, loaded and validated from profiles.toml
  targets/   what to test against: the local reference cluster or a TOML-defined target
  plugin/    the pytest hooks: options, markers, parametrization, fixtures, summaries
  runner/    running the plan: checklist, one level end to end, restore
  telemetry/ the service's own telemetry: admin client, snapshots, poller
  verdict/   judging a level: criteria, red flags, degradation, reconciliation
  results/   results.json, summaries, comparisons, JUnit properties, the HTML report
  services/  real Debian daemons (nginx, redis, PostgreSQL, moto) started on loopback
  drivers/   load generation: HTTP/1.1 and UDP, closed and open models, HdrHistograms
  reference/ the bundled reference cluster that implements the target contract
"""

__version__ = "0.1.0"
