"""Target definitions: the TOML format, env: secrets, and errors that name what to fix."""

from __future__ import annotations

import textwrap

import pytest

from pytest_trinity.reference.lb import make_certificates
from pytest_trinity.targets import LOCAL, TargetError, load_target

GOOD = """
[targets.loop]
description = "a target on loopback"
ca_file = "ca.pem"
redis_url = "redis://127.0.0.1:6390/0"
[targets.loop.direct]
api = "http://127.0.0.1:18080"
admin = "http://127.0.0.1:19090"
udp = "127.0.0.1:12679"
[targets.loop.balanced]
api = "https://127.0.0.1:18443/"
admin = "https://127.0.0.1:19443"
udp = "127.0.0.1:12680"
[targets.loop.secrets]
public_key = "env:T_PUBLIC"
partner_key = "env:T_PARTNER"
admin_token = "env:T_ADMIN"
[targets.loop.aws]
region = "us-east-2"
endpoint_url = "http://127.0.0.1:15000"
ecs_cluster = "trinity"
services = { main = "beast-main", mirror = "beast-mirror", lrs = "beast-lrs" }
alb = "app/Trinity-Beast-TCP-ALB/1"
nlb = "net/Trinity-Beast-UDP-NLB/2"
db_cluster = "aurora"
cache_cluster = "valkey"
"""

SECRETS = {"T_PUBLIC": "pub-Zq81-secret", "T_PARTNER": "part-Kx22-secret", "T_ADMIN": "adm-Wv93-secret"}


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory) -> str:
    return make_certificates(tmp_path_factory.mktemp("tls")).ca_file.read_text()


@pytest.fixture
def targets_file(tmp_path, monkeypatch, ca_pem):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "ca.pem").write_text(ca_pem)
    path = tmp_path / "targets.toml"
    path.write_text(GOOD)
    return path


def test_local_needs_no_file():
    target = load_target(LOCAL, None)
    assert target.local and target.direct is None


def test_full_definition(targets_file):
    target = load_target("loop", targets_file)
    assert target.direct.api == "http://127.0.0.1:18080" and target.direct.udp == ("127.0.0.1", 12679)
    assert target.balanced.api == "https://127.0.0.1:18443"  # trailing slash dropped
    assert target.public_key.reveal() == SECRETS["T_PUBLIC"]
    assert target.ca_file == str(targets_file.parent / "ca.pem")
    assert dict(target.aws.services) == {"main": "beast-main", "mirror": "beast-mirror", "lrs": "beast-lrs"}
    assert sorted(target.secrets()) == sorted(SECRETS.values())


def test_minimal_definition_takes_the_contract_defaults(targets_file):
    _edit(targets_file, 'description = "a target on loopback"\n', "")
    _edit(targets_file, 'ca_file = "ca.pem"\n', "")
    target = load_target("loop", targets_file)
    assert target.description == "" and target.ca_file is None
    assert target.path("lpo") == "/price?symbol=BTC-USD" and target.path("lrs") == "/reports/usage"
    assert target.udp_symbol == "BTC-USD"


def test_worker_groups_map_streams_to_dask_resources(targets_file):
    _edit(targets_file, "[targets.loop.direct]\n", '[targets.loop.workers]\nlpo = "client-a"\nlrs = "client-b"\n[targets.loop.direct]\n')
    assert load_target("loop", targets_file).workers == (("lpo", "client-a"), ("lrs", "client-b"))


def test_secrets_never_print(targets_file):
    target = load_target("loop", targets_file)
    shown = repr(target) + str(target) + str(target.admin_token)
    for value in SECRETS.values():
        assert value not in shown
    assert "env:T_ADMIN" in shown


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(("old", "new", "message"), [
    ('admin_token = "env:T_ADMIN"', 'admin_token = "adm-literal-secret"',
     "[targets.loop.secrets].admin_token must be env:VAR_NAME (secrets are read from the environment), got a literal value"),
    ('api = "http://127.0.0.1:18080"', 'api = "127.0.0.1:18080"', '[targets.loop.direct].api must be an http:// or https:// URL with a host, got "127.0.0.1:18080"'),
    ('udp = "127.0.0.1:12680"', 'udp = "127.0.0.1"', '[targets.loop.balanced].udp must be HOST:PORT, got "127.0.0.1"'),
    ('ca_file = "ca.pem"', 'ca_file = "missing.pem"', "[targets.loop].ca_file must be an existing file"),
    ('redis_url = "redis://127.0.0.1:6390/0"', 'redis_url = "redis://:hunter2@127.0.0.1:6390/0"', "[targets.loop].redis_url must be a redis:// or rediss:// URL without a password, or env:VAR_NAME"),
    ('admin = "https://127.0.0.1:19443"', 'admin = "https://ops:hunter2@127.0.0.1:19443"',
     "[targets.loop.balanced].admin must not carry credentials (user:password@)"),
    ("[targets.loop.balanced]\n", "[targets.loop.balance]\n", "[targets.loop] is missing the key 'balanced' (is 'balance' a misspelling of it?)"),
    ('description = "a target on loopback"', 'description = "a target on loopback"\ncolour = "red"',
     "[targets.loop] has unknown key 'colour' (known keys: aws, balanced, ca_file, contract, description, direct, "
     "local, paths, redis_url, secrets, udp_symbol, usage_logs, workers)"),
    ('endpoint_url = "http://127.0.0.1:15000"', 'zone = "a"',
     "[targets.loop.aws] has unknown key 'zone' (known keys: alb, alb_target_group, cache_cluster, console_url, db_cluster, "
     "db_instance, db_resource_id, ecs_cluster, endpoint_url, endpoint_urls, force_new_deployment, metrics, nlb, "
     "nlb_target_group, period_s, publish_namespace, region, services, stable_timeout_s, stress_client, subnets)"),
    ("[targets.loop.direct]\n", '[targets.loop.workers]\nprice = "client-a"\n[targets.loop.direct]\n',
     "[targets.loop.workers] names the stream 'price'; the plan's streams are lpo, lrs"),
    ("[targets.loop.direct]\n", '[targets.loop.workers]\nlrs = "client b"\n[targets.loop.direct]\n',
     '[targets.loop.workers].lrs must be a Dask worker resource name (letters, digits, _ . : -), got "client b"'),
])
def test_bad_definition_names_the_key(targets_file, old, new, message):
    _edit(targets_file, old, new)
    with pytest.raises(TargetError) as info:
        load_target("loop", targets_file)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value) and "adm-literal-secret" not in str(info.value)


@pytest.mark.parametrize("content", ["not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ""])
def test_a_ca_file_that_is_not_pem_is_refused_when_the_targets_file_is_read(targets_file, content):
    (targets_file.parent / "ca.pem").write_text(content)
    with pytest.raises(TargetError, match=r"targets.toml: \[targets.loop\].ca_file must be a PEM file of CA certificates; .*ca.pem is not"):
        load_target("loop", targets_file)


def test_missing_environment_variable_is_named(targets_file, monkeypatch):
    monkeypatch.delenv("T_PARTNER")
    with pytest.raises(TargetError, match=r"\[targets.loop.secrets\].partner_key reads the environment variable T_PARTNER, which is not set"):
        load_target("loop", targets_file)
    assert load_target("loop", targets_file, resolve_secrets=False).partner_key.reveal() == ""


def test_unknown_target_lists_the_defined_ones(targets_file):
    with pytest.raises(TargetError, match=r"no target named 'stagin' \(defined: local, loop\)"):
        load_target("stagin", targets_file)
    with pytest.raises(TargetError, match="needs a targets file: give --trinity-targets FILE"):
        load_target("loop", None)


def test_target_errors_are_usage_errors_in_a_session(plan_project, monkeypatch):
    plan_project.path.joinpath("targets.toml").write_text(textwrap.dedent(GOOD).replace('ca_file = "ca.pem"\n', ""))
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    result = plan_project.runpytest("tests_perf", "--trinity-targets", "targets.toml", "--trinity-target", "loop", "-k", "1a")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "targets.toml: [targets.loop.secrets].public_key reads the environment variable T_PUBLIC, which is not set" in result.stderr.str()
    # Listing the plan needs no secrets.
    listed = plan_project.runpytest("tests_perf", "--trinity-targets", "targets.toml", "--trinity-target", "loop", "--trinity-plan", "-k", "1a")
    assert listed.ret == 0
    listed.stdout.fnmatch_lines(["*target loop*"])
