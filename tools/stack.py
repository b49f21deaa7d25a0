"""The service and its AWS stand-ins as local processes, for ``make serve`` and the tests.

dynalite stands in for DynamoDB because its conditional writes are atomic;
moto's are not, and single use must be proven on something that is.  moto
server stands in for S3 (and SES).  Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import boto3

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
DEV_API_KEY = "onetime-dev-key"  # documented in the README; never used outside this machine
MAIL_FROM = "downloads@onetime.local"
SECRET_PARAMETER = "/onetime/local/secret"  # keys recipient checks (chalicelib/domain/answers.py)


class PortInUse(RuntimeError):
    """A port the stack needs is taken: starting anyway would talk to someone else's server."""

    def __init__(self, port: int, role: str) -> None:
        super().__init__(f"port {port} is in use ({role})")
        self.port = port
        self.role = role


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers themselves bind: a port whose last connections linger in
        # TIME_WAIT is free to them, and so to this check.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {HOST}:{port} within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and everything it started (its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# A query parameter, anywhere in a line: a name that starts after a delimiter (so
# matching stays linear on long lines), "=", and a value up to the next delimiter.
_PARAMETER = re.compile(rb'(?<![^\s&?";])([^\s&?=";]+)=([^\s&";]*)')
# One of our tokens (chalicelib/domain/tokens.py): 16 base32 id characters, 43 base64url
# secret characters, not part of a longer run (a 64-hex SHA-256 digest is not one).
_TOKEN_SHAPE = re.compile(rb"(?<![A-Za-z0-9_-])[a-z2-7]{16}[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_NOT_A_LETTER = re.compile(rb"[^a-z]")
REDACTED = b"<redacted>"


def _plain_name(raw: bytes) -> bytes:
    """A parameter name as the app could come to see it: percent-decoded (a few times,
    as a proxy might decode it again), lower case, letters only."""
    name = raw
    for _ in range(3):
        decoded = urllib.parse.unquote_to_bytes(name.replace(b"+", b" "))
        if decoded == name:
            break
        name = decoded
    return _NOT_A_LETTER.sub(b"", name.lower())


def _redact_parameter(match: re.Match[bytes]) -> bytes:
    if b"token" in _plain_name(match[1]):
        return match[1] + b"=" + REDACTED
    return match[0]


def redact(line: bytes) -> bytes:
    """``line`` without tokens.  chalice local logs the raw request line and decodes a
    parameter's name before the app reads it, so ``tok%65n=`` redeems a link as surely
    as ``token=``: every parameter whose decoded name holds "token" loses its value,
    and anything shaped like a token, wherever it stands, goes too."""
    return _TOKEN_SHAPE.sub(REDACTED, _PARAMETER.sub(_redact_parameter, line))


def _copy_redacted(source: Any, sink: Any) -> None:
    for line in iter(source.readline, b""):
        sink.write(redact(line))
        sink.flush()
    sink.close()


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
        log: Any = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        output: Any = subprocess.DEVNULL if log is None else log
        if log is not None and redact:
            output = subprocess.PIPE
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() gets its children too
        )
        if output is subprocess.PIPE:
            threading.Thread(target=_copy_redacted, args=(process.stdout, log), daemon=True).start()
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
        # moto server behind serve_s3's shim (below); without flask-cors' answer to every
        # origin, a page from anywhere but the bucket's CORS rule sees no S3 answer, as on AWS.
        process = self._spawn(
            "moto",
            [sys.executable, "-m", "tools.stack", "s3", HOST, str(self.s3_port)],
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
        # --no-autoreload: otherwise chalice local forks a child that outlives a plain kill.
        process = self._spawn(
            "chalice",
            [
                str(BIN / "chalice"),
                "local",
                "--no-autoreload",
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


def create_table(client: Any, name: str) -> None:
    """The table as the deployment template declares it (keys and index)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "file", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "N"},
            {"AttributeName": "grant_subject", "AttributeType": "S"},
            {"AttributeName": "recipient_key", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-file",
                "KeySchema": [
                    {"AttributeName": "file", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                # Sparse: only grant items carry grant_subject.
                "IndexName": "by-subject",
                "KeySchema": [
                    {"AttributeName": "grant_subject", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                # Sparse: only links emailed to someone carry recipient_key.
                "IndexName": "by-recipient",
                "KeySchema": [
                    {"AttributeName": "recipient_key", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})


# The bucket's configuration as infra/resources.yaml declares it, with its parameters'
# defaults (tests/test_infra.py compares the two).
UPLOAD_PREFIX = "uploads/"
REQUEST_PREFIX = "requests/"
# The file request form tags each upload so; the service retags it when it confirms it.
PENDING_TAG = {"Key": "onetime-upload", "Value": "pending"}
UPLOAD_EXPIRATION_DAYS = 60
UNCONFIRMED_UPLOAD_DAYS = 1
NONCURRENT_VERSION_DAYS = 31
CORS_MAX_AGE_SECONDS = 600


def bucket_cors(origin: str) -> dict[str, Any]:
    """The bucket's one CORS rule: pages from ``origin`` (the service's) may POST an upload
    form with a script and read the answer.  A form POST sends no preflight, so no request
    header is allowed."""
    return {
        "CORSRules": [
            {
                "ID": "request-uploads-from-the-service",
                "AllowedMethods": ["POST"],
                "AllowedOrigins": [origin],
                "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
            }
        ]
    }


def bucket_lifecycle() -> dict[str, Any]:
    """The bucket's lifecycle rules, in the S3 API's shape."""
    everything = {"Prefix": ""}
    return {
        "Rules": [
            {
                "ID": "expire-uploads",
                "Status": "Enabled",
                "Filter": {"Prefix": UPLOAD_PREFIX},
                "Expiration": {"Days": UPLOAD_EXPIRATION_DAYS},
            },
            {
                "ID": "expire-unconfirmed-request-uploads",
                "Status": "Enabled",
                "Filter": {"And": {"Prefix": REQUEST_PREFIX, "Tags": [PENDING_TAG]}},
                "Expiration": {"Days": UNCONFIRMED_UPLOAD_DAYS},
                "NoncurrentVersionExpiration": {"NoncurrentDays": UNCONFIRMED_UPLOAD_DAYS},
            },
            {
                "ID": "expire-request-uploads",
                "Status": "Enabled",
                "Filter": {"Prefix": REQUEST_PREFIX},
                "Expiration": {"Days": UPLOAD_EXPIRATION_DAYS},
            },
            {
                "ID": "expire-noncurrent-versions",
                "Status": "Enabled",
                "Filter": everything,
                "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS},
            },
            {
                "ID": "remove-expired-delete-markers",
                "Status": "Enabled",
                "Filter": everything,
                "Expiration": {"ExpiredObjectDeleteMarker": True},
            },
            {
                "ID": "abort-incomplete-multipart-uploads",
                "Status": "Enabled",
                "Filter": everything,
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
        ]
    }


def bucket_cors_headers(bucket: str, origin: str, method: str) -> list[tuple[str, str]]:
    """The CORS headers S3 adds to a ``method`` request from ``origin``: those of the
    bucket's first rule that allows both, as moto holds it (in this process); none if no
    rule does.  Origins are compared exactly: our rules have no wildcard."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import s3_backends

    try:
        rules = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).cors
    except S3ClientError:  # no such bucket (or no bucket in the path: SES)
        return []
    for rule in rules:
        if origin in (rule.allowed_origins or ()) and method in (rule.allowed_methods or ()):
            headers = [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods)),
                ("Vary", "Origin"),
            ]
            if rule.exposed_headers:
                headers.append(("Access-Control-Expose-Headers", ", ".join(rule.exposed_headers)))
            if rule.max_age_seconds is not None:
                headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
            return headers
    return []


class FormPostCors:
    """moto 5.2 applies a bucket's CORS rules to preflights, GETs and PUTs, but answers a
    POST (the browser's upload form) with none: S3 answers it with the matching rule's
    headers, which a page's script needs to read the outcome.  This adds them."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if environ.get("REQUEST_METHOD") != "POST" or not origin:
            return self._app(environ, start_response)
        # Path-style, as boto3 presigns for an endpoint on an IP address: /<bucket>[/<key>].
        bucket = str(environ.get("PATH_INFO", "")).lstrip("/").split("/", 1)[0]
        added = bucket_cors_headers(bucket, str(origin), "POST")

        def start(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: tuple[type[BaseException], BaseException, TracebackType]
            | tuple[None, None, None]
            | None = None,
        ) -> Any:
            present = {name.lower() for name, _ in headers}
            extra = [(name, value) for name, value in added if name.lower() not in present]
            return start_response(status, [*headers, *extra], exc_info)

        return self._app(environ, start)


def serve_s3(host: str, port: int) -> None:
    """moto server (S3 and SES), as ``moto_server -H host -p port`` runs it, behind
    FormPostCors.  Start it with MOTO_DISABLE_GLOBAL_CORS=true in the environment (moto
    reads it on import): then only the buckets' own CORS rules answer."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, FormPostCors(app), threaded=True, request_handler=MotoRequestHandler)


@contextmanager
def running(stack: Stack, api: bool = True) -> Iterator[Stack]:
    try:
        stack.check_ports()
        stack.start_standins()
        stack.create_resources()
        if api:
            stack.start_api()
        yield stack
    finally:
        stack.stop()


# Sample files for make serve: one under the stream limit, one over it.
SMALL_SAMPLE = "samples/Résumé café 2026.pdf"
LARGE_SAMPLE = "samples/dataset-5MiB.zip"


def sample_pdf() -> bytes:
    text = "Hello from onetime. This PDF came through a single-use link."
    stream = f"BT /F1 18 Tf 40 780 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")  # BytesIO(initial) would start writing over it, at position 0
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def sample_zip(size: int = 5 * 1024 * 1024) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("random.bin", os.urandom(size))
    return out.getvalue()


def upload_samples(stack: Stack, prefix: str = "") -> dict[str, bytes]:
    """The two samples, under ``prefix`` (ONETIME_KEY_PREFIX: only keys under it can be
    linked); their bodies by full key."""
    s3 = stack.client("s3")
    samples = {SMALL_SAMPLE: sample_pdf(), LARGE_SAMPLE: sample_zip()}
    types = {SMALL_SAMPLE: "application/pdf", LARGE_SAMPLE: "application/zip"}
    for key, body in samples.items():
        s3.put_object(Bucket=stack.bucket, Key=prefix + key, Body=body, ContentType=types[key])
    return {prefix + key: body for key, body in samples.items()}


def outbox(stack_s3_port: int, last: int = 5) -> list[dict[str, Any]]:
    """The last messages moto's SES accepted: sender, recipients and the raw MIME text."""
    import urllib.request

    url = f"http://{HOST}:{stack_s3_port}/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=10) as response:
        data = json.load(response)
    messages: list[dict[str, Any]] = data.get("ses", {}).get("RawMessage", [])
    return messages[-last:]


# What `make serve` is running, for `make outbox` and anyone else who needs its ports.
SERVE_DIR_VARIABLE = "SERVE_LOG_DIR"
STATE_FILE = "stack.json"


def serve_dir(environ: Mapping[str, str]) -> Path:
    """Where `make serve` keeps its logs and state: SERVE_LOG_DIR, else .serve-logs/."""
    return Path(environ.get(SERVE_DIR_VARIABLE) or ROOT / ".serve-logs")


@dataclass(frozen=True)
class ServeState:
    """The state file `make serve` writes once its stack is up and removes at exit."""

    pid: int
    api_port: int
    s3_port: int
    dynamodb_port: int
    base_url: str
    table: str
    bucket: str

    def alive(self) -> bool:
        """Whether the process that wrote it still runs (it cannot remove the file
        if it was killed outright)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's process, but alive
        return True


class StateError(RuntimeError):
    pass


def write_state(stack: Stack, directory: Path) -> Path:
    state = ServeState(
        pid=os.getpid(),
        api_port=stack.api_port,
        s3_port=stack.s3_port,
        dynamodb_port=stack.dynamodb_port,
        base_url=stack.base_url,
        table=stack.table,
        bucket=stack.bucket,
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    partial = directory / f".{STATE_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(dataclasses.asdict(state), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)  # readers never see half a file
    return path


def read_state(directory: Path) -> ServeState | None:
    """The state `make serve` recorded in ``directory``; None if there is none."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServeState(
            pid=int(data["pid"]),
            api_port=int(data["api_port"]),
            s3_port=int(data["s3_port"]),
            dynamodb_port=int(data["dynamodb_port"]),
            base_url=str(data["base_url"]),
            table=str(data["table"]),
            bucket=str(data["bucket"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StateError(f"{path} is unreadable ({type(error).__name__}); delete it") from error


def remove_state(directory: Path) -> None:
    """Remove the state file if this process wrote it (not another `make serve`'s)."""
    with contextlib.suppress(StateError):
        state = read_state(directory)
        if state is not None and state.pid == os.getpid():
            (directory / STATE_FILE).unlink(missing_ok=True)


if __name__ == "__main__":
    # Stack.start_standins runs the S3 stand-in so: python -m tools.stack s3 HOST PORT
    if sys.argv[1:2] != ["s3"] or len(sys.argv) != 4:
        sys.exit("usage: python -m tools.stack s3 HOST PORT")
    serve_s3(sys.argv[2], int(sys.argv[3]))
