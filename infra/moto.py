"""A local AWS endpoint for tests and benchmarks: moto in server mode (`ThreadedMotoServer`) on loopback,
plus helpers that create EC2 instances, RDS instances and load balancers in it (boto3, synchronous).

The collector is pointed at it through the standard variables only (`env()`: AWS_ENDPOINT_URL and
dummy credentials), exactly as it would be pointed at any AWS-compatible endpoint. moto and boto3 are
dev dependencies (`moto[server]`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from ems.infra.process import free_port, port_open

ACCESS_KEY = "AKIAEMSTESTEXAMPLE01"
SECRET_KEY = "ems-test-secret-Zq8vX1kP0wR4tY7uI9oP"
IMAGE = "ami-0e5a1c2b3d4f60718"
# moto loads thousands of public AMIs into every region it touches (seconds per region): one is enough.
AMIS = [
    {
        "ami_id": IMAGE,
        "name": "ems-test",
        "owner_id": "123456789012",
        "public": True,
        "architecture": "x86_64",
    }
]


def _few_amis() -> None:
    """Point moto at a one-image catalogue (read when moto's EC2 models are first imported)."""
    if "MOTO_AMIS_PATH" not in os.environ:
        path = os.path.join(tempfile.gettempdir(), "ems-moto-amis.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(AMIS, f)
        os.environ["MOTO_AMIS_PATH"] = path


class MotoServer:
    """`with MotoServer() as moto:` an AWS endpoint on 127.0.0.1:<free port>; state is per server.

    In this process (`ThreadedMotoServer`) by default; `process=True` runs `python -m moto.server` as a
    child instead (the benchmark: its CPU is then not the collector's)."""

    def __init__(self, process: bool = False) -> None:
        self.port = free_port()
        self.process = process
        self.server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, region: str = "us-east-1", url: str | None = None) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": url or self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> MotoServer:
        _few_amis()
        if self.process:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
            self.server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while not port_open(self.port):
                if self.server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto.server did not start on port {self.port}")
                time.sleep(0.1)
            return self
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        if self.process:
            self.server.terminate()
            self.server.wait(30)
        else:
            self.server.stop()
        self.server = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str, region: str):
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def launch(
        self, region: str, count: int, service: str = "", instance_type: str = "t3.micro"
    ) -> list[str]:
        """Run `count` instances (tagged `business_service=<service>` when given); their ids."""
        ec2 = self.client("ec2", region)
        tags = [{"Key": "Name", "Value": f"{service or 'vm'}-{region}"}]
        if service:
            tags.append({"Key": "business_service", "Value": service})
        ids: list[str] = []
        while len(ids) < count:
            n = min(500, count - len(ids))
            answer = ec2.run_instances(
                ImageId=IMAGE,
                MinCount=n,
                MaxCount=n,
                InstanceType=instance_type,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )
            ids += [i["InstanceId"] for i in answer["Instances"]]
        return ids

    def database(self, region: str, name: str, service: str = "") -> str:
        """A PostgreSQL RDS instance; its ARN."""
        tags = [{"Key": "business_service", "Value": service}] if service else []
        answer = self.client("rds", region).create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="ems",
            MasterUserPassword="not-a-real-password",
            Tags=tags,
        )
        return answer["DBInstance"]["DBInstanceArn"]

    def load_balancer(self, region: str, name: str, instances: list[str]) -> str:
        """An application load balancer forwarding to `instances` (port 80); its ARN."""
        ec2, elb = self.client("ec2", region), self.client("elbv2", region)
        subnets = ec2.describe_subnets()["Subnets"]
        lb = elb.create_load_balancer(Name=name, Subnets=[s["SubnetId"] for s in subnets[:2]])
        arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        group = elb.create_target_group(
            Name=f"{name}-tg", Protocol="HTTP", Port=80, VpcId=subnets[0]["VpcId"], TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=group, Targets=[{"Id": i, "Port": 80} for i in instances])
        action = [{"Type": "forward", "TargetGroupArn": group}]
        elb.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80, DefaultActions=action)
        return arn
