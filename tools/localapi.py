"""The local API server: ``chalice local --no-autoreload``, but with the deployed API's
answer to a request that no route takes.

On AWS, API Gateway answers such a request itself, with the gateway response the template
sets (``x-amazon-apigateway-gateway-responses`` in infra/resources.yaml): 404 in the API's
error shape, quoting nothing.  ``chalice local`` imitates API Gateway's bare defaults
instead, and its 403 for an unknown path quotes the Authorization header, API key and all.
This server reads the template's answer and gives it, so the two cannot drift apart.

Stack.start_api runs it: ``python -m tools.localapi --host H --port P --stage local``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, RouteMatcher, create_local_server
from chalice.package import YAMLTemplateSerializer

from tools import ROOT

TEMPLATE = ROOT / "infra" / "resources.yaml"
GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"
# A REST API answers an unknown path, and a method its path does not take, with this one.
NO_ROUTE = "MISSING_AUTHENTICATION_TOKEN"
HEADER_PREFIX = "gatewayresponse.header."
REQUEST_ID = "$context.requestId"


@dataclass(frozen=True)
class GatewayAnswer:
    """One gateway response of the template: status, static headers and body."""

    status: int
    headers: Mapping[str, str]
    body: str

    def for_request(self, request_id: str) -> bytes:
        return self.body.replace(REQUEST_ID, request_id).encode()


def gateway_answer(template: Mapping[str, Any], response_type: str) -> GatewayAnswer:
    """``response_type``'s answer in the API's definition in ``template``."""
    for resource in template["Resources"].values():
        definition = resource.get("Properties", {}).get("DefinitionBody", {})
        if GATEWAY_RESPONSES in definition:
            response = definition[GATEWAY_RESPONSES][response_type]
            return GatewayAnswer(
                status=int(response["statusCode"]),
                # Values are static strings, quoted as API Gateway mapping values are: 'text'.
                headers={
                    name.removeprefix(HEADER_PREFIX): value.strip("'")
                    for name, value in response["responseParameters"].items()
                },
                body=response["responseTemplates"]["application/json"],
            )
    raise LookupError(f"{TEMPLATE}: no API defines {GATEWAY_RESPONSES}")


def read_template() -> dict[str, Any]:
    # Chalice's own loader, as tools/package.py reads it: it knows the short forms (!Sub...).
    template: dict[str, Any] = YAMLTemplateSerializer().load_template(
        TEMPLATE.read_text(), str(TEMPLATE)
    )
    return template


class Routes:
    """Which method and path the deployed API would pass to the function."""

    def __init__(self, app: Chalice) -> None:
        self._routes = app.routes
        self._matcher = RouteMatcher(list(app.routes))

    def take(self, method: str, path: str) -> bool:
        try:
            route = self._matcher.match_route(path).route
        except ValueError:
            return False
        views = self._routes[route]
        # API Gateway adds OPTIONS only where a view has Chalice's CORS; this app answers
        # its preflights in views of its own.
        cors = any(view.cors is not None for view in views.values())
        return method in views or (method == "OPTIONS" and cors)


class GatewayRequestHandler(ChaliceRequestHandler):
    """chalice local's handler; a request no route takes gets the template's answer."""

    def __init__(self, *args: Any, routes: Routes, no_route: GatewayAnswer, **kwargs: Any) -> None:
        self._routes = routes
        self._no_route = no_route
        super().__init__(*args, **kwargs)  # handles the request

    def _generic_handle(self) -> None:
        if self._routes.take(self.command, self.path):
            super()._generic_handle()
            return
        self._parse_payload()  # read the body: the connection may carry another request
        body = self._no_route.for_request(request_id := str(uuid.uuid4()))
        self.send_response(self._no_route.status)
        self.send_header("Content-Length", str(len(body)))
        self._send_headers({**self._no_route.headers, "x-amzn-RequestId": request_id})
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


def local_server(
    app: Chalice, config: Config, host: str, port: int, template: Mapping[str, Any]
) -> LocalDevServer:
    server = create_local_server(app, config, host, port)  # chalice local's, then our handler
    server.server.RequestHandlerClass = functools.partial(
        GatewayRequestHandler,
        app_object=app,
        config=config,
        routes=Routes(app),
        no_route=gateway_answer(template, NO_ROUTE),
    )
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    # As `chalice local` does: its CLI mode, and the app's log lines on stdout.
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_routes

    config = CLIFactory(str(ROOT), environ=os.environ).create_config_obj(
        chalice_stage_name=args.stage
    )
    validate_routes(config.chalice_app.routes)
    server = local_server(config.chalice_app, config, args.host, args.port, read_template())
    server.serve_forever()


if __name__ == "__main__":
    main()
