"""AWS discovery core: API answers -> resources, facts, edges and discovery observations."""

from ems.collectors.aws_discovery import (
    ec2_resources,
    elb_resources,
    key_of,
    lb_dimension,
    observation,
    rds_resources,
    services,
)
from ems.schemas.identity import asset_id_for

LB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
TG_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067"


def instance(iid: str, state: str = "running", **extra) -> dict:
    return {
        "InstanceId": iid,
        "InstanceType": "m5.large",
        "State": {"Code": 16, "Name": state},
        "Placement": {"AvailabilityZone": "eu-west-1b"},
        "SubnetId": "subnet-1",
        "VpcId": "vpc-1",
        "PrivateIpAddress": "10.0.1.5",
        "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web"}],
        "Tags": [{"Key": "Name", "Value": f"web-{iid}"}, {"Key": "business_service", "Value": "Shop"}],
        **extra,
    }


def test_instances_carry_their_facts_and_depend_on_subnet_in_vpc_and_belong_to_their_service():
    statuses = [
        {"InstanceId": "i-1", "SystemStatus": {"Status": "ok"}, "InstanceStatus": {"Status": "impaired"}}
    ]
    found = ec2_resources("eu-west-1", [{"OwnerId": "1234", "Instances": [instance("i-1")]}], statuses)
    by_kind = {r.kind: r for r in found}
    assert set(by_kind) == {"ec2", "subnet", "vpc"}
    vm = by_kind["ec2"]
    assert vm.natural_key == "aws:ec2:i-1" and vm.asset_id == asset_id_for("aws:ec2:i-1")
    assert vm.facts["type"] == "vm" and vm.facts["name"] == "web-i-1" and vm.facts["model"] == "m5.large"
    attrs = vm.facts["attributes"]
    assert attrs["availability_zone"] == "eu-west-1b" and attrs["security_groups"] == ["sg-1"]
    assert attrs["state"] == "running" and attrs["tags"]["business_service"] == "Shop"
    assert vm.facts["addresses"] == ["10.0.1.5"]
    assert {(e["type"], e["target"]) for e in vm.edges} == {
        ("member_of", asset_id_for("service:shop")),
        ("depends_on", asset_id_for("aws:ec2:subnet-1")),
    }
    assert by_kind["subnet"].edges == [{"type": "depends_on", "target": asset_id_for("aws:ec2:vpc-1")}]
    assert vm.checks == {"system": "ok", "instance": "impaired"}
    assert [s.natural_key for s in services(found)] == ["service:shop"]


def test_a_subnet_shared_by_instances_is_one_resource():
    reservations = [{"Instances": [instance("i-1"), instance("i-2")]}, {"Instances": [instance("i-3")]}]
    kinds = [r.kind for r in ec2_resources("eu-west-1", reservations, [])]
    assert kinds.count("ec2") == 3 and kinds.count("subnet") == 1 and kinds.count("vpc") == 1


def test_databases_have_engine_class_status_multi_az_and_storage():
    db = {
        "DBInstanceIdentifier": "orders",
        "DBInstanceArn": "arn:aws:rds:eu-west-1:123456789012:db:orders",
        "Engine": "postgres",
        "DBInstanceClass": "db.r6g.large",
        "DBInstanceStatus": "storage-full",
        "MultiAZ": True,
        "AllocatedStorage": 100,
        "DBSubnetGroup": {"VpcId": "vpc-1"},
        "Endpoint": {"Address": "orders.abc.eu-west-1.rds.amazonaws.com"},
    }
    (r,) = rds_resources("eu-west-1", [db])
    assert r.natural_key == "aws:arn:aws:rds:eu-west-1:123456789012:db:orders" and r.ident == "orders"
    assert r.state == "storage-full" and r.facts["type"] == "database"
    a = r.facts["attributes"]
    assert (a["engine"], a["class"], a["multi_az"], a["allocated_storage_gb"]) == (
        "postgres",
        "db.r6g.large",
        True,
        100,
    )
    assert r.edges == [{"type": "depends_on", "target": asset_id_for("aws:ec2:vpc-1")}]


def test_load_balancers_depend_on_their_instance_targets_with_each_targets_health():
    lb = {
        "LoadBalancerArn": LB_ARN,
        "LoadBalancerName": "web",
        "Type": "application",
        "State": {"Code": "active"},
    }
    groups = [{"TargetGroupArn": TG_ARN, "TargetGroupName": "web-tg", "LoadBalancerArns": [LB_ARN]}]
    health = {
        TG_ARN: [
            {"Target": {"Id": "i-1", "Port": 80}, "TargetHealth": {"State": "healthy"}},
            {
                "Target": {"Id": "i-2", "Port": 80},
                "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"},
            },
            {"Target": {"Id": "10.0.0.9", "Port": 80}, "TargetHealth": {"State": "healthy"}},
        ]
    }
    (r,) = elb_resources("eu-west-1", [lb], groups, health)
    assert r.ident == "app/web/50dc6c495c0c9188" == lb_dimension(LB_ARN)
    assert r.targets == {
        "i-1:80": "healthy",
        "i-2:80": "unhealthy (Target.Timeout)",
        "10.0.0.9:80": "healthy",
    }
    assert [e["target"] for e in r.edges] == [asset_id_for(key_of("i-1")), asset_id_for(key_of("i-2"))]
    assert r.edges[0]["target_group"] == "web-tg"


def test_the_observation_is_a_cloud_discovery_of_the_resources_asset():
    (vm, *_) = ec2_resources("eu-west-1", [{"Instances": [instance("i-9")]}], [])
    obs = observation(vm)
    assert obs.source == "cloud" and obs.asset_id == vm.asset_id and obs.body.kind == "discovery"
    assert obs.body.facts["natural_key"] == "aws:ec2:i-9"
