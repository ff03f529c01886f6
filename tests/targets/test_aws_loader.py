"""`[targets.X.aws]` and `[targets.X.usage_logs]` as a targets file gives them: query overrides,
opt-ins, and each mistake refused with a message naming the file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_trinity.targets import CLOUD_QUERIES, TargetError, load_target

REMOTE = """[targets.t]
[targets.t.direct]
api = "http://127.0.0.1:1"
admin = "http://127.0.0.1:2"
[targets.t.balanced]
api = "http://127.0.0.1:3"
admin = "http://127.0.0.1:4"
[targets.t.secrets]
public_key = "env:T_PUBLIC"
partner_key = "env:T_PARTNER"
admin_token = "env:T_ADMIN"
"""


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("T_PUBLIC", "T_PARTNER", "T_ADMIN", "T_DSN"):
        monkeypatch.setenv(var, f"value-of-{var}")


def _load(tmp_path: Path, text: str):
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return load_target("t", path)


def test_an_override_replaces_only_the_fields_it_gives(tmp_path):
    target = _load(tmp_path, REMOTE + """[targets.t.aws]
region = "us-east-2"
cache_cluster = "c1"
console_url = "https://console.example/{region}/"
[targets.t.aws.metrics."container-insights".cpu_pct]
namespace = "Beast/Containers"
metric = ["user_cpu", "system_cpu"]
dimensions = { Service = "{service}" }
[targets.t.aws.stress_client]
instance_ids = ["i-0123456789abcdef0"]
tag = "Role=trinity-stress"
terminate = true
""")
    aws = target.aws
    cpu = aws.queries["container-insights"]["cpu_pct"]
    assert (cpu.namespace, cpu.metrics, cpu.dimensions) == ("Beast/Containers", ("user_cpu", "system_cpu"), (("Service", "{service}"),))
    assert cpu.per == CLOUD_QUERIES["container-insights"]["cpu_pct"].per and cpu.stat == "Average"  # the rest is the default
    assert aws.queries["elasticache"] == CLOUD_QUERIES["elasticache"]
    assert aws.stress_client.terminate and (aws.stress_client.tag_key, aws.stress_client.tag_value) == ("Role", "trinity-stress")
    assert aws.cloud_on


@pytest.mark.parametrize(("aws", "message"), [
    ('region = "us-east-2"\n[targets.t.aws.metrics.containers.cpu_pct]\nstat = "Maximum"',
     "[targets.t.aws.metrics].containers is not a query set (known: container-insights, load-balancer:alb"),
    ('region = "us-east-2"\n[targets.t.aws.metrics.elasticache.cpu]\nstat = "Maximum"',
     "[targets.t.aws.metrics.elasticache].cpu is not a metric of elasticache (known: engine_cpu_pct"),
    ('region = "us-east-2"\n[targets.t.aws.metrics.aurora.acu]\ndimensions = { DB = "{db}" }',
     "[targets.t.aws.metrics.aurora.acu].dimensions name {db}, which is not an id"),
    ('region = "us-east-2"\n[targets.t.aws.metrics.aurora.acu]\nreduce = "median"', "reduce"),
    ('cache_cluster = "c1"', "[targets.t.aws].region is missing"),
    ('region = "us-east-2"\nstress_client = { instance_ids = ["i-1"], tag = "trinity" }', "[targets.t.aws.stress_client].tag"),
])
def test_a_bad_aws_table_names_what_to_fix(tmp_path, aws, message):
    with pytest.raises(TargetError) as info:
        _load(tmp_path, REMOTE + "[targets.t.aws]\n" + aws + "\n")
    assert message in str(info.value)


def test_a_remote_usage_logs_table_must_name_the_stress_keys(tmp_path):
    with pytest.raises(TargetError, match=r"\[targets.t.usage_logs\].stress_key_ids is missing"):
        _load(tmp_path, REMOTE + '[targets.t.usage_logs]\ndsn = "env:T_DSN"\n')
    target = _load(tmp_path, REMOTE + '[targets.t.usage_logs]\ndsn = "env:T_DSN"\nstress_key_ids = ["s1"]\ntable = "app.usage_logs"\n')
    assert target.usage_logs.stress_key_ids == ("s1",) and target.usage_logs.table == "app.usage_logs"
    assert "value-of-T_DSN" in target.secrets()  # redacted from every report
    with pytest.raises(TargetError, match=r"\[targets.t.usage_logs\].table must be an SQL identifier"):
        _load(tmp_path, REMOTE + '[targets.t.usage_logs]\ndsn = "env:T_DSN"\nstress_key_ids = ["s1"]\ntable = "x; DROP TABLE y"\n')


def test_a_local_cluster_publishes_only_to_loopback(tmp_path):
    with pytest.raises(TargetError, match=r"\[targets.t.aws\].endpoint_url must be a loopback URL"):
        _load(tmp_path, '[targets.t]\nlocal = true\n[targets.t.aws]\nregion = "us-east-2"\nalb = "app/x/1"\n')
    target = _load(tmp_path, '[targets.t]\nlocal = true\nfaults = true\n[targets.t.aws]\nregion = "us-east-2"\nalb = "app/x/1"\n'
                             'endpoint_url = "http://127.0.0.1:5000"\n')
    assert target.local and target.faults and target.aws.alb == "app/x/1"
