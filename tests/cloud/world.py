"""A small AWS world in moto (server mode) shaped like the production deployment, and the target ids that name it.

`build_world(endpoint_url)` creates, with boto3: a VPC with one subnet in each of
us-east-2a/b/c (and a security group), the ECS cluster `trinity` with the three Fargate
services (`beast-main`, `beast-mirror`, `beast-lrs`, all placed in the 2a subnet), the ALB
and the NLB with their target groups, the Aurora PostgreSQL cluster and its instance, the
ElastiCache cluster, and two EC2 instances: the stress client (tagged `Role=trinity-stress`)
and a bystander without that tag. `World.aws_ids()` is the `AwsIds` a targets file would give
for it, and `World.targets_toml()` is that targets file's text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import boto3

from pytest_trinity.targets import AwsIds
from pytest_trinity.targets.aws import StressClient

REGION = "us-east-2"
CLUSTER = "trinity"
SERVICES = (("main", "beast-main"), ("mirror", "beast-mirror"), ("lrs", "beast-lrs"))
AZS = ("2a", "2b", "2c")
ALB_NAME = "Trinity-Beast-TCP-ALB"
NLB_NAME = "Trinity-Beast-UDP-NLB"
DB_CLUSTER = "trinity-aurora"
DB_INSTANCE = "trinity-aurora-1"
CACHE_CLUSTER = "trinity-valkey"
STRESS_TAG = ("Role", "trinity-stress")


@dataclass(frozen=True)
class World:
    """Every id `build_world` created."""

    endpoint_url: str
    region: str
    vpc_id: str
    subnets: tuple[tuple[str, str], ...]          # "2a" -> subnet id
    security_group: str
    ecs_cluster: str
    services: tuple[tuple[str, str], ...]         # role -> ECS service name
    task_definition: str                          # ARN
    alb_arn: str
    alb_target_group_arn: str
    nlb_arn: str
    nlb_target_group_arn: str
    db_cluster: str
    db_instance: str
    db_resource_id: str
    cache_cluster: str
    stress_instance: str
    bystander_instance: str
    stress_tag: tuple[str, str] = STRESS_TAG

    @property
    def alb(self) -> str:
        """The ALB as CloudWatch's `LoadBalancer` dimension: `app/<name>/<id>`."""
        return _lb_dimension(self.alb_arn, "app")

    @property
    def alb_target_group(self) -> str:
        return _resource(self.alb_target_group_arn)

    @property
    def nlb(self) -> str:
        return _lb_dimension(self.nlb_arn, "net")

    @property
    def nlb_target_group(self) -> str:
        return _resource(self.nlb_target_group_arn)

    def subnet(self, az: str) -> str:
        return dict(self.subnets)[az]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def stress_client(self, terminate: bool = True, instance_ids: tuple[str, ...] | None = None) -> StressClient:
        ids = (self.stress_instance,) if instance_ids is None else instance_ids
        return StressClient(ids, self.stress_tag[0], self.stress_tag[1], terminate)

    def aws_ids(self, **overrides: Any) -> AwsIds:
        """The target's `AwsIds` for this world; `overrides` replace any field."""
        aws = AwsIds(
            region=self.region, endpoint_url=self.endpoint_url, ecs_cluster=self.ecs_cluster, services=self.services,
            alb=self.alb, alb_target_group=self.alb_target_group, nlb=self.nlb, nlb_target_group=self.nlb_target_group,
            db_cluster=self.db_cluster, db_instance=self.db_instance, db_resource_id=self.db_resource_id,
            cache_cluster=self.cache_cluster, subnets=tuple((az, (subnet,)) for az, subnet in self.subnets),
            stress_client=self.stress_client(terminate=False),
        )
        return dataclasses.replace(aws, **overrides)

    def targets_toml(self, name: str, **extra: Any) -> str:
        """A targets file defining `[targets.NAME]`: the local cluster (`local = true`) with this world as its
        `[targets.NAME.aws]`. `extra` adds or replaces `[aws]` keys (`publish_namespace="Trinity"`,
        `stable_timeout_s=30`, `stress_client={"terminate": True}` merges into the stress client table, …)."""
        aws: dict[str, Any] = {
            "region": self.region, "endpoint_url": self.endpoint_url, "ecs_cluster": self.ecs_cluster,
            "alb": self.alb, "alb_target_group": self.alb_target_group, "nlb": self.nlb,
            "nlb_target_group": self.nlb_target_group, "db_cluster": self.db_cluster, "db_instance": self.db_instance,
            "db_resource_id": self.db_resource_id, "cache_cluster": self.cache_cluster,
        }
        tables: dict[str, dict[str, Any]] = {
            "services": dict(self.services),
            "subnets": {az: [subnet] for az, subnet in self.subnets},
            "stress_client": {"instance_ids": [self.stress_instance], "tag": "=".join(self.stress_tag), "terminate": False},
        }
        for key, value in extra.items():
            if key in tables and isinstance(value, dict):
                tables[key] = {**tables[key], **value}
            elif isinstance(value, dict):
                tables[key] = value
            else:
                aws[key] = value
        lines = [f"[targets.{_key(name)}]", "local = true", "", f"[targets.{_key(name)}.aws]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in aws.items() if v is not None]
        for table, values in tables.items():
            lines += ["", f"[targets.{_key(name)}.aws.{_key(table)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"


def build_world(endpoint_url: str, region: str = REGION) -> World:
    """Create the world in the moto server at `endpoint_url`. The names are fixed, so call it on a fresh
    (or reset: `conftest.reset_moto`) server; credentials come from the environment (the `aws_env` fixture)."""
    def make(service: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=endpoint_url)

    ec2, ecs, elb, rds, cache = make("ec2"), make("ecs"), make("elbv2"), make("rds"), make("elasticache")

    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = tuple(
        (az, ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{az[-1]}")["Subnet"]["SubnetId"])
        for i, az in enumerate(AZS, start=1)
    )
    subnet = dict(subnets)
    sg = ec2.create_security_group(GroupName="trinity-beast", Description="trinity beast tasks", VpcId=vpc_id)["GroupId"]

    ecs.create_cluster(clusterName=CLUSTER)
    task_definition = ecs.register_task_definition(
        family="beast", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="1024", memory="2048",
        containerDefinitions=[{"name": "beast", "image": "trinity/beast:latest", "essential": True,
                               "portMappings": [{"containerPort": 8080, "protocol": "tcp"}, {"containerPort": 2679, "protocol": "udp"}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    for _, service in SERVICES:
        ecs.create_service(
            cluster=CLUSTER, serviceName=service, taskDefinition=task_definition, desiredCount=1, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["2a"]], "securityGroups": [sg], "assignPublicIp": "DISABLED"}},
        )

    all_subnets = [s for _, s in subnets]
    alb_arn = elb.create_load_balancer(Name=ALB_NAME, Subnets=all_subnets, SecurityGroups=[sg], Type="application",
                                       Scheme="internet-facing")["LoadBalancers"][0]["LoadBalancerArn"]
    alb_tg = elb.create_target_group(Name="trinity-beast-tcp", Protocol="HTTP", Port=8080, VpcId=vpc_id,
                                     TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=alb_arn, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": alb_tg}])
    nlb_arn = elb.create_load_balancer(Name=NLB_NAME, Subnets=all_subnets, Type="network",
                                       Scheme="internet-facing")["LoadBalancers"][0]["LoadBalancerArn"]
    nlb_tg = elb.create_target_group(Name="trinity-beast-udp", Protocol="UDP", Port=2679, VpcId=vpc_id, TargetType="ip",
                                     HealthCheckProtocol="TCP", HealthCheckPort="8080")["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=nlb_arn, Protocol="UDP", Port=2679, DefaultActions=[{"Type": "forward", "TargetGroupArn": nlb_tg}])

    rds.create_db_cluster(DBClusterIdentifier=DB_CLUSTER, Engine="aurora-postgresql", MasterUsername="trinity",
                          MasterUserPassword="not-a-secret-moto-only", DatabaseName="trinity")
    rds.create_db_instance(DBInstanceIdentifier=DB_INSTANCE, DBClusterIdentifier=DB_CLUSTER, Engine="aurora-postgresql",
                           DBInstanceClass="db.serverless", EnablePerformanceInsights=True)
    db_resource_id = rds.describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)["DBInstances"][0]["DbiResourceId"]

    cache.create_cache_cluster(CacheClusterId=CACHE_CLUSTER, Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)

    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def instance(tags: list[dict[str, str]]) -> str:
        spec = [{"ResourceType": "instance", "Tags": tags}]
        reservation = ec2.run_instances(ImageId=image, InstanceType="c6i.large", MinCount=1, MaxCount=1,
                                        SubnetId=subnet["2a"], TagSpecifications=spec)
        return str(reservation["Instances"][0]["InstanceId"])

    stress = instance([{"Key": STRESS_TAG[0], "Value": STRESS_TAG[1]}, {"Key": "Name", "Value": "trinity-stress-client"}])
    bystander = instance([{"Key": "Name", "Value": "someone-elses-box"}])

    return World(
        endpoint_url=endpoint_url, region=region, vpc_id=vpc_id, subnets=subnets, security_group=sg,
        ecs_cluster=CLUSTER, services=SERVICES, task_definition=task_definition,
        alb_arn=alb_arn, alb_target_group_arn=alb_tg, nlb_arn=nlb_arn, nlb_target_group_arn=nlb_tg,
        db_cluster=DB_CLUSTER, db_instance=DB_INSTANCE, db_resource_id=db_resource_id, cache_cluster=CACHE_CLUSTER,
        stress_instance=stress, bystander_instance=bystander,
    )


def _resource(arn: str) -> str:
    """An ARN's resource part: `targetgroup/<name>/<id>` for a target group (CloudWatch's `TargetGroup`)."""
    return arn.split(":", 5)[5]


def _lb_dimension(arn: str, kind: str) -> str:
    """CloudWatch's `LoadBalancer` dimension for an ELBv2 ARN: `app/<name>/<id>` or `net/<name>/<id>`.
    The kind is given, not read from the ARN: moto 5.2.5 writes `loadbalancer/app/…` for an NLB too."""
    _, _, name, lb_id = _resource(arn).split("/")
    return f"{kind}/{name}/{lb_id}"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")
