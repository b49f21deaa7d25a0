"""The service and its AWS stand-ins as local processes, for ``make serve`` and the tests.

dynalite stands in for DynamoDB because its conditional writes are atomic;
moto's are not, and single use must be proven on something that is.  moto
server stands in for S3 (and SES).  Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tools import ROOT
from tools.ports import HOST, PortInUse, port_is_free, wait_for_port
from tools.processes import spawn, stop
from tools.resources import bucket_cors, bucket_lifecycle, create_table

DEV_API_KEY = "onetime-dev-key"  # documented in the README; never used outside this machine
MAIL_FROM = "downloads@onetime.local"
SECRET_PARAMETER = "/onetime/local/secret"  # keys recipient checks (chalicelib/domain/answers.py)


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass
class Stack:
    """Ports, names and processes of one running stack."""

    api_port: int
    s3_port: int
    dynamodb_port: int
    table: str
    bucket: str
    api_key: str = DEV_API_KEY
    mail_from: str = MAIL_FROM
    extra_env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def ports(self) -> dict[str, int]:
        """Each port by its role: "api", "s3" (S3 and SES) and "dynamodb"."""
        return {"api": self.api_port, "s3": self.s3_port, "dynamodb": self.dynamodb_port}

    def check_ports(self) -> None:
        """Refuse to start on a port that is taken: waiting for it to answer would find
        whatever already listens there, and the first request would go to it."""
        ports = self.ports()
        if len(set(ports.values())) != len(ports):
            raise RuntimeError(f"the ports must all differ: {ports}")
        for role, port in ports.items():
            if not port_is_free(port):
                raise PortInUse(port, role)

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": f"http://{HOST}:{self.s3_port}",
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://{HOST}:{self.dynamodb_port}",
            # moto serves S3 and SES on one port.  The app sends with SES v2 (whose
            # endpoint variable is ..._SESV2); ..._SES is for scripts using v1.
            "AWS_ENDPOINT_URL_SES": f"http://{HOST}:{self.s3_port}",
            "AWS_ENDPOINT_URL_SESV2": f"http://{HOST}:{self.s3_port}",
            # and SSM Parameter Store, for the secret that keys recipient checks
            "AWS_ENDPOINT_URL_SSM": f"http://{HOST}:{self.s3_port}",
            "AWS_ACCESS_KEY_ID": "onetime-local",
            "AWS_SECRET_ACCESS_KEY": "onetime-local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def app_env(self) -> dict[str, str]:
        return {
            **self.aws_env(),
            "ONETIME_TABLE": self.table,
            "ONETIME_BUCKET": self.bucket,
            "ONETIME_API_KEY_SHA256": api_key_digest(self.api_key),
            "ONETIME_MAIL_FROM": self.mail_from,
            "ONETIME_SECRET_PARAMETER": SECRET_PARAMETER,
            # dynalite serialises racing requests on a shared machine: AWS's timeouts x 4.
            "ONETIME_CLIENT_TIMEOUT_SCALE": "4",
            # Multipart from 20 MiB, in parts of S3's smallest size: a file of a few tens of
            # MiB exercises it with many parts and the suite keeps its time budget.
            "ONETIME_MULTIPART_THRESHOLD": str(20 * 1024 * 1024),
            "ONETIME_MULTIPART_PART_BYTES": str(5 * 1024 * 1024),
            **self.extra_env,
        }

    def client(self, service: str) -> Any:
        env = self.aws_env()
        make: Any = boto3.client  # any service by name: the stubs type only literal names
        return make(
            service,
            endpoint_url=env[f"AWS_ENDPOINT_URL_{service.upper()}"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        redact: bool = False,
    ) -> subprocess.Popen[bytes]:
        process = spawn(name, argv, env, log_dir=self.log_dir, redact=redact)
        self.processes.append(process)
        return process

    def start_standins(self) -> None:
        dynalite = ROOT / "node_modules" / ".bin" / "dynalite"
        if not dynalite.exists():
            raise RuntimeError("dynalite is not installed: run 'npm ci' (make does this)")
        process = self._spawn(
            "dynalite", [str(dynalite), "--host", HOST, "--port", str(self.dynamodb_port)]
        )
        wait_for_port(self.dynamodb_port, process, "dynalite")
        # moto server behind tools/s3standin.py's shim; without flask-cors' answer to every
        # origin, a page from anywhere but the bucket's CORS rule sees no S3 answer, as on AWS.
        process = self._spawn(
            "moto",
            [sys.executable, "-m", "tools.s3standin", HOST, str(self.s3_port)],
            env={"MOTO_DISABLE_GLOBAL_CORS": "true"},
        )
        wait_for_port(self.s3_port, process, "moto server")

    def create_resources(self) -> None:
        create_table(self.client("dynamodb"), self.table)
        s3 = self.client("s3")
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        # As infra/resources.yaml declares them, the service's own origin being this API's.
        # moto keeps the lifecycle rules but never applies them: nothing expires here.
        s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration=bucket_cors(self.base_url))
        s3.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration=bucket_lifecycle()
        )
        # SES refuses to send from an address it has not verified; so does moto.
        self.client("ses").verify_email_identity(EmailAddress=self.mail_from)
        # The deployment's secret, as docs/DEPLOY.md has operators create it (random, once).
        self.client("ssm").put_parameter(
            Name=SECRET_PARAMETER, Value=secrets.token_urlsafe(32), Type="SecureString"
        )

    def start_api(self) -> subprocess.Popen[bytes]:
        # chalice local without its reloader (whose child outlives a plain kill), answering
        # a request no route takes as the deployed API does (tools/localapi.py).
        process = self._spawn(
            "chalice",
            [
                sys.executable,
                "-m",
                "tools.localapi",
                "--stage",
                "local",
                "--host",
                HOST,
                "--port",
                str(self.api_port),
            ],
            env=self.app_env(),
            # chalice local's own access lines carry the query string, token and all;
            # the app's JSON lines never do.  Keep tokens out of the log files too.
            redact=True,
        )
        wait_for_port(self.api_port, process, "chalice local")
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        self.processes.clear()


@contextmanager
def running(stack: Stack, api: bool = True) -> Iterator[Stack]:
    """The stack's stand-ins, resources and (unless ``api`` is false) API, stopped at exit."""
    try:
        stack.check_ports()
        stack.start_standins()
        stack.create_resources()
        if api:
            stack.start_api()
        yield stack
    finally:
        stack.stop()
