"""Hostile input: a generated corpus of well over 1,000 requests, and what it must never do.

For every request: no 5xx, no traceback or AWS text in the body, no response header the
app did not set (nor one whose value carries CR/LF), a Content-Disposition that is one
well-formed line.  For the corpus as a whole: the real links minted before it still have
every use, and the table holds no item that was not minted on purpose (the app accepted
the mint) -- a refused mint writes nothing.

Most of the corpus runs in-process (chalice.test.Client on moto) with hypothesis; a
smaller set goes over real HTTP to ``chalice local`` as raw bytes, for what ``requests``
will not send (16 KB headers, NUL, %zz, overlong UTF-8, repeated parameters, wrong methods).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import string
import unicodedata
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chalicelib.domain.bots import previewer
from tests.helpers import API_KEY, BROWSER_ACCEPT, InProcess, token_of
from tools.samples import SMALL_SAMPLE, sample_pdf
from tools.stack import Stack

SMALL = bytes(range(256)) * 40
OK_KEY = "hostile/report.pdf"
# Legal, if odd, S3 keys that exist: a mint of these is accepted.
ODD_KEYS = [
    'hostile/quote"name.pdf',
    "hostile/space name.pdf",
    "hostile/%2e%2e/literal percent.pdf",
    "hostile/back\\slash.pdf",
    "hostile/ünïcödé.pdf",
]
LEAKS = ("Traceback", "botocore", "ClientError", "An error occurred (")
APP_HEADERS = {
    "accept-ranges",
    "content-range",
    "etag",
    "set-cookie",
    "x-download-session",
    "cache-control",
    "referrer-policy",
    "x-content-type-options",
    "content-type",
    "retry-after",
    "www-authenticate",
    "location",
    "x-remaining-uses",
    "x-expires-at",
    "content-disposition",
    "x-frame-options",
    "content-security-policy",
    "vary",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
}
# Chalice's own routing answers: 403 for an unknown route (as API Gateway), 405 + Allow
GATEWAY_HEADERS = {"x-amzn-requestid", "x-amzn-errortype", "allow"}
# the dev server's own, over HTTP only
SERVER_HEADERS = {"server", "date", "content-length", "connection"}
DISPOSITION = re.compile(
    r"attachment; filename=\"[ !#-$&-.0-:<-\[\]-~]*\"; "
    r"filename\*=UTF-8''(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+"
)
ID_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
SECRET_CHARS = string.ascii_letters + string.digits + "-_"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


def corpus(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same corpus every run
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )


def check_response(
    status: int, headers: dict[str, str], body: bytes, extra: Collection[str] = ()
) -> None:
    """What every answer to every request must satisfy."""
    assert status < 500, (status, body[:300])
    text = body.decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in text, (status, text[:300])
    for name, value in headers.items():
        assert name.lower() in APP_HEADERS | GATEWAY_HEADERS | set(extra), name
        assert not set(value) & set("\r\n\x00"), (name, value)
    disposition = {k.lower(): v for k, v in headers.items()}.get("content-disposition")
    if disposition is not None:
        assert DISPOSITION.fullmatch(disposition), disposition


@dataclass
class Hostile:
    """One in-process app, its watched links, and the tally of the corpus sent to it."""

    service: InProcess
    watched: list[dict[str, Any]] = field(default_factory=list)
    operated: list[dict[str, Any]] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    sent: int = 0

    def __post_init__(self) -> None:
        for key in [OK_KEY, *ODD_KEYS]:
            self.service.put(key, SMALL)
        # Watched: no request of the corpus may spend a use of these.
        self.watched = [
            self.service.mint(OK_KEY, confirm="false"),
            self.service.mint(OK_KEY, confirm="true", uses=3),
        ]
        # Operated: PATCH and DELETE may change these (never spend them).
        self.operated = [self.service.mint(OK_KEY, confirm="false") for _ in range(2)]

    @property
    def tokens(self) -> list[str]:
        return [token_of(minted) for minted in self.watched]

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        reflected: str = "",
    ) -> Any:
        response = self.service.client.http.request(method, path, headers=headers or {}, body=body)
        self.sent += 1
        check_response(response.status_code, response.headers, response.body)
        if (
            reflected
            and "<" in reflected
            and "text/html" in response.headers.get("Content-Type", "")
        ):
            assert reflected not in response.body.decode("utf-8", "replace")
        route = path.split("?", 1)[0]
        if route in ("/get-link", "/links") and response.status_code in (200, 201):
            minted = response.json_body
            if "url" in minted:
                self.accepted.add(minted["id"])
        return response

    def finish(self, minimum: int) -> None:
        assert self.sent >= minimum, self.sent
        for minted in self.watched:
            item = self.service.item(minted["id"])
            assert item["uses"]["N"] == "0", minted["id"]
            assert item["redemptions"]["M"] == {}
        on_purpose = {m["id"] for m in self.watched + self.operated} | self.accepted
        in_table = {item["link_id"]["S"] for item in self.service.table_items()}
        assert in_table == on_purpose, in_table ^ on_purpose


@pytest.fixture
def hostile(service: InProcess) -> Hostile:
    return Hostile(service)


# ---------------------------------------------------------------- strategies

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200).filter(
    lambda s: "\x7f" not in s
)
accepts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            BROWSER_ACCEPT,
            "text/html",
            "application/json",
            "*/*",
            "application/pdf",
            "image/png",
            "",
            ",,,",
            ";q=0",
            "text/html;q=0, application/pdf",
            "TEXT/HTML",
            " application/pdf ",
        ]
    ),
    header_text,
)
well_formed_tokens = st.builds(
    str.__add__,
    st.text(ID_CHARS, min_size=16, max_size=16),
    st.text(SECRET_CHARS, min_size=43, max_size=43),
)
huge_tokens = st.builds(
    str.__mul__, st.sampled_from(["a", "A", "-", "é", "%", "\x00"]), st.integers(1_000, 10_240)
)


def mutate(token: str, how: str, where: int, shift: int) -> str:
    """A token that is not the real one, however it is decoded."""
    where %= len(token)
    if how == "replace":
        alphabet = ID_CHARS if where < 16 else SECRET_CHARS
        index = alphabet.find(token[where])
        new = alphabet[(index + 1 + shift % (len(alphabet) - 1)) % len(alphabet)]
        return token[:where] + new + token[where + 1 :]
    if how == "drop":
        return token[:where] + token[where + 1 :]
    if how == "insert":
        return token[:where] + SECRET_CHARS[shift % len(SECRET_CHARS)] + token[where:]
    if how == "upper":
        return token.upper()
    if how == "truncate":
        return token[:where]
    return token + ["\n", " ", "%", "=", "\x00", "\u200b", "/", "x"][shift % 8]


def mutated_tokens(real: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        mutate,
        st.sampled_from(real),
        st.sampled_from(["replace", "drop", "insert", "upper", "truncate", "suffix"]),
        st.integers(0, 80),
        st.integers(0, 100),
    ).filter(lambda t: t not in real)


def raw_token_queries(real: list[str]) -> st.SearchStrategy[str]:
    """Query strings sent as they are: bad escapes, overlongs, repeats (even of a real token)."""
    fixed = [
        "token=%zz",
        "token=%",
        "token=%c0%ae%c0%ae",
        "token=%00",
        "token=%ff%fe",
        "token=%e2%80%ae",
        "token=a&token=b",
        "token",
        "token=&token=",
        "Token=abc",
        "token[]=abc",
        "token=" + "%41" * 59,
        "token=" + "%2e%2e%2f" * 20,
        "token=" + "%c0%ae" * 30,
        "&&&&",
        "=",
        "token=a;token=b",
    ]
    with_real = [
        q
        for t in real
        for q in (
            f"token={t}&token={t}",
            f"token={t}%00",
            f"token={t}%zz",
            f"token={t}&token=",
            f"token=&token={t}",
            f"token={t[:-1]}%{t[-1]}",
            f"tok=en{t}",
            f"token={t}{t}",
        )
    ]
    return st.sampled_from(fixed + with_real)


BAD_NUMBERS = [
    "0",
    "-1",
    "101",
    "1e3",
    "\u0661",
    "\u0663",
    "0x10",
    " 1",
    "1 ",
    "999999999999",
    "",
    "1.0",
]
numbers = st.one_of(
    st.none(),
    st.sampled_from(BAD_NUMBERS),
    st.integers(-10, 200).map(str),
    st.integers(0, 3_000_000).map(str),
)
booleans = st.one_of(
    st.none(), st.sampled_from(["true", "false", "TRUE", "False", "yes", "1", "0", "", "truee"])
)
HOSTILE_KEYS = [
    "../secret.pdf",
    "hostile/../../etc/passwd",
    "hostile/./report.pdf",
    "./" + OK_KEY,
    OK_KEY + "/..",
    "/" + OK_KEY,
    "//" + OK_KEY,
    "..\\..\\windows\\win.ini",
    "hostile\\..\\report.pdf",
    "C:\\boot.ini",
    "/etc/passwd",
    "%2e%2e/secret.pdf",
    "%252e%252e/secret.pdf",
    "..%2fsecret.pdf",
    "\u2025/secret.pdf",  # two-dot leader
    "\uff0e\uff0e/secret.pdf",  # fullwidth dots
    OK_KEY + "\x00.txt",
    "hostile/a\r\nb.pdf",
    "hostile/\x1b[31m.pdf",
    "hostile/\x7f.pdf",
    "hostile/\u0085.pdf",
    "x" * 1025,
    "é" * 513,
    "hostile/" + "a/" * 600,
    OK_KEY.upper(),
    OK_KEY + " ",
    " " + OK_KEY,
    "",
    " ",
    "/",
    "~/.aws/credentials",
    "hostile/\u202efdp.exe",
]
HOSTILE_NAMES = [
    'quo"te.pdf',
    'x"; filename="evil.exe',
    "a\r\nX-Injected: 1",
    "a\nb.pdf",
    "a\rb.pdf",
    "a\x00b.pdf",
    "invoice\u202efdp.exe",
    "a\u200fb.pdf",
    "a\u2066b.pdf",
    "..",
    "../../etc/passwd",
    "a/b.pdf",
    "a\\b.pdf",
    "<script>alert(1)</script>.pdf",
    "%0d%0aX-Injected: 1",
    "x" * 256,
    "x" * 255,
    " ",
    "",
    "a;b=c.pdf",
    "naïve résumé.pdf",
    "日本語.pdf",
    "emoji 😀.pdf",
    "line\u2028sep.pdf",
    "tab\there.pdf",
    "percent%41.pdf",
    "'single'.pdf",
    "=?utf-8?b?ZXZpbA==?=.pdf",
]
file_keys = st.one_of(
    st.sampled_from(HOSTILE_KEYS + ODD_KEYS + [OK_KEY]),
    st.text(max_size=60),
    st.lists(
        st.sampled_from(["..", ".", "%2e%2e", "%2e", "hostile", "report.pdf", "", "\\..", "..\\"]),
        min_size=1,
        max_size=6,
    ).map("/".join),
)
file_names = st.one_of(st.none(), st.sampled_from(HOSTILE_NAMES), st.text(max_size=80))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def quoted(value: str) -> str:
    return quote(value, safe="")


# ---------------------------------------------------------------- the in-process corpus


def test_hostile_tokens_spend_nothing(hostile: Hostile) -> None:
    """GET, HEAD and POST /download with tokens that are not quite, or not at all, real."""
    real = hostile.tokens
    tokens = st.one_of(mutated_tokens(real), well_formed_tokens, st.text(max_size=100), huge_tokens)

    @corpus(450)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["get", "get-raw", "head", "post-form", "post-query"]))
        accept = data.draw(accepts)
        headers = {"Accept": accept} if accept is not None else {}
        if kind == "get-raw":
            query = data.draw(raw_token_queries(real))
            response = hostile.send("GET", f"/download?{query}", headers)
            assert response.status_code in (400, 404), (query, response.status_code)
            return
        token = data.draw(tokens)
        target = f"/download?token={quoted(token)}"
        answers = []
        if kind == "head":
            answers.append(hostile.send("HEAD", target, headers))
            assert answers[-1].body == b""
        elif kind == "post-form":
            content_type = data.draw(
                st.sampled_from(
                    [
                        "application/x-www-form-urlencoded",
                        "application/x-www-form-urlencoded; charset=latin-1",
                        "application/json",
                        "text/plain",
                        "multipart/form-data; boundary=x",
                        "application/xml",
                    ]
                )
            )
            body = f"token={quoted(token)}".encode()
            if data.draw(st.booleans()):
                body += b"&token=" + real[0].encode()  # a real one beside it: refused
            headers["Content-Type"] = content_type
            answers.append(hostile.send("POST", "/download", headers, body, token))
        elif kind == "post-query":
            answers.append(hostile.send("POST", target, headers, b"", token))
        if kind != "post-form":
            answers.append(hostile.send("GET", target, headers, b"", token))
        for response in answers:
            assert response.status_code in (400, 404, 415), (token, response.status_code)

    run()
    # Requests that are right but must not spend: HEAD, and a browser's landing page.
    for token in real:
        assert hostile.send("HEAD", f"/download?token={token}").status_code == 200
    landing = hostile.send("GET", f"/download?token={real[1]}", {"Accept": BROWSER_ACCEPT})
    assert landing.status_code == 200 and b"<form" in landing.body
    hostile.finish(450)


# A mint is a valid request with one or two of its fields made hostile, so that every
# rule is reached (a request hostile everywhere stops at the first).
VALID_QUERY = {
    "file": st.sampled_from([OK_KEY, *ODD_KEYS]),
    "filename": st.one_of(st.none(), st.sampled_from(["report.pdf", "naïve résumé.pdf"])),
    "uses": st.one_of(st.none(), st.integers(1, 100).map(str)),
    "ttl": st.one_of(st.none(), st.integers(1, 2_592_000).map(str)),
    "confirm": st.one_of(st.none(), st.sampled_from(["true", "false"])),
}
HOSTILE_QUERY = {
    "file": file_keys,
    "filename": file_names,
    "uses": numbers,
    "ttl": numbers,
    "confirm": booleans,
}
VALID_JSON = {
    "file": st.sampled_from([OK_KEY, *ODD_KEYS]),
    "filename": st.sampled_from(["report.pdf", "naïve résumé.pdf"]),
    "uses": st.integers(1, 100),
    "ttl": st.integers(1, 2_592_000),
    "confirm": st.booleans(),
    "note": st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), max_size=50),
}
HOSTILE_JSON = {
    "file": st.one_of(file_keys, json_values),
    "filename": st.one_of(file_names, json_values),
    "uses": st.one_of(st.integers(), json_values),
    "ttl": st.one_of(st.integers(), json_values),
    "confirm": json_values,
    "note": st.one_of(st.text(max_size=1200), json_values),
    "colour": json_values,
}


def test_hostile_mints_write_nothing(hostile: Hostile) -> None:
    """GET /get-link and POST /links with hostile keys, names and numbers."""
    auth = {"Authorization": f"Bearer {API_KEY}"}

    @corpus(300)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        if data.draw(st.booleans()):
            bad = data.draw(st.sets(st.sampled_from(list(HOSTILE_QUERY)), max_size=2))
            params = {
                name: data.draw((HOSTILE_QUERY if name in bad else VALID_QUERY)[name])
                for name in HOSTILE_QUERY
            }
            query = urlencode({k: v for k, v in params.items() if v is not None})
            query += data.draw(
                st.sampled_from(["", "", "", "&file=x", "&uses=1&uses=2", "&x=%c0%ae", "&%zz"])
            )
            response = hostile.send(
                "GET", f"/get-link?{query}", auth, b"", params["filename"] or ""
            )
            status_ok = 200
        else:
            bad = data.draw(st.sets(st.sampled_from(list(HOSTILE_JSON)), max_size=2))
            present = data.draw(st.sets(st.sampled_from(list(VALID_JSON)))) | {"file"}
            body = {
                name: data.draw((HOSTILE_JSON if name in bad else VALID_JSON)[name])
                for name in present | bad
            }
            response = hostile.send(
                "POST",
                "/links",
                {**auth, "Content-Type": "application/json"},
                json.dumps(body).encode(),
            )
            status_ok = 201
        assert response.status_code in (status_ok, 400, 404), response.body[:200]
        if response.status_code == status_ok:
            minted = response.json_body
            stored = hostile.service.item(minted["id"])
            assert stored["file"]["S"] == minted["file"]  # never normalised into another key
            assert minted["file"] in [OK_KEY, *ODD_KEYS]

    run()
    hostile.finish(300)


def test_hostile_operator_requests(hostile: Hostile) -> None:
    """/links/{id} (GET, PATCH, DELETE) and GET /links with hostile ids, bodies and cursors."""
    operated = [m["id"] for m in hostile.operated]
    ids = st.one_of(
        st.text(max_size=40).map(quoted),
        st.sampled_from(
            [
                "..",
                "%2e%2e",
                "%2F",
                "a" * 16,
                "A" * 16,
                "a" * 5000,
                "%00",
                "null",
                "{link_id}",
                *operated,
                *(i + "x" for i in operated),
                *(i.upper() for i in operated),
                *(i[:-1] for i in operated),
                *(i + "%00" for i in operated),
            ]
        ),
    )
    bodies = st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {},
            optional={
                "ttl": st.one_of(st.integers(-5, 3_000_000), json_values),
                "max_uses": st.one_of(st.integers(-5, 200), json_values),
                "note": st.one_of(st.text(max_size=1200), json_values),
                "uses": json_values,
            },
        ).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        st.sampled_from(
            [b"", b"{", b"null", b"[]", b'{"ttl": 1e400}', b'{"max_uses": 1.0}', b"\xff\xfe"]
        ),
    )
    cursors = st.one_of(
        st.text(max_size=60),
        st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode()),
        json_values.map(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode()),
        st.builds(
            lambda pk, at: base64.urlsafe_b64encode(
                json.dumps(
                    {"pk": {"S": pk}, "file": {"S": OK_KEY}, "created_at": {"N": at}}
                ).encode()
            ).decode(),
            st.text(min_size=1, max_size=20),
            st.integers(0, 2**40).map(str),
        ),
    )
    auth = {"Authorization": f"Bearer {API_KEY}"}

    @corpus(250)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3)) == 0:
            params = {
                "file": data.draw(st.one_of(st.none(), file_keys)),
                "limit": data.draw(numbers),
                "cursor": data.draw(st.one_of(st.none(), cursors)),
            }
            query = urlencode({k: v for k, v in params.items() if v is not None})
            response = hostile.send("GET", f"/links?{query}", auth)
            assert response.status_code in (200, 400), response.body[:200]
            return
        method = data.draw(st.sampled_from(["GET", "PATCH", "DELETE"]))
        link_id = data.draw(ids)
        content_type = data.draw(
            st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"])
        )
        body = data.draw(bodies) if method == "PATCH" else b""
        response = hostile.send(
            method, f"/links/{link_id}", {**auth, "Content-Type": content_type}, body
        )
        assert response.status_code in (200, 400, 403, 404, 405, 409, 415), response.body[:200]
        if response.status_code == 200 and method != "GET":
            assert response.json_body["id"] in operated
            assert response.json_body["uses"] == 0

    run()
    hostile.finish(250)


ROUTES = [
    "/download",
    "/download?token=x",
    "/get-link",
    f"/get-link?file={OK_KEY}",
    "/links",
    "/links?file=x",
    "/links/aaaaaaaaaaaaaaaa",
    "/health",
    "/",
    "/nope",
    "/links/a/b",
    "/download/",
    "//download",
    "/DOWNLOAD",
    "/download/..",
    "/links/%2e%2e/..",
]
UNKNOWN_ROUTES = {
    "/",
    "/nope",
    "/links/a/b",
    "/download/..",
    "/links/%2e%2e/..",
    "//download",
    "/DOWNLOAD",
}
AUTHS = [
    None,
    f"Bearer {API_KEY}",
    f"bearer {API_KEY}",
    f"Bearer  {API_KEY} ",
    f"Bearer {API_KEY}x",
    f"Basic {base64.b64encode(API_KEY.encode()).decode()}",
    "Bearer",
    "Bearer ",
    "Bearer é",
    "Bearer " + "k" * 16_384,
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "Bearer eyJ0.eyJ0.sig",
    API_KEY,
]


def test_hostile_methods_routes_and_headers(hostile: Hostile) -> None:
    """Every method on every route, with odd auth, content types and bodies."""

    @corpus(200)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        # OPTIONS is left out: chalice.test.Client itself fails on Chalice's automatic
        # OPTIONS answer (a None body); it is sent over HTTP below instead.
        method = data.draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]))
        path = data.draw(st.sampled_from(ROUTES))
        headers: dict[str, str] = {}
        auth = data.draw(st.sampled_from(AUTHS))
        if auth is not None and path in UNKNOWN_ROUTES and not auth.isascii():
            # chalice's local 403 for an unknown route encodes the Authorization header as
            # ASCII and fails on anything else: a flaw of the stand-in, not of the app.
            auth = "Bearer x"
        if auth is not None:
            headers["Authorization"] = auth
        content_type = data.draw(
            st.one_of(
                st.none(),
                st.sampled_from(
                    ["application/json", "application/x-www-form-urlencoded", "text/plain"]
                ),
                header_text,
            )
        )
        if content_type is not None:
            headers["Content-Type"] = content_type
        accept = data.draw(accepts)
        if accept is not None:
            headers["Accept"] = accept
        body = data.draw(st.one_of(st.binary(max_size=300), st.just(b'{"file": "x"}')))
        response = hostile.send(method, path, headers, body)
        if method == "HEAD" and path.startswith("/download?"):
            assert response.body == b""  # the app's own HEAD answers are empty

    run()
    hostile.finish(200)


def test_hostile_file_names_never_inject_headers(hostile: Hostile) -> None:
    """Names that are accepted come back as one Content-Disposition line naming them
    exactly, on the stream, in the presigned URL and on the landing page; names with
    line breaks (Unicode's too), NUL, invisible format characters such as direction
    marks, or nothing but dots and spaces are refused."""
    names = st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=40))
    auth = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    @corpus(80)
    @given(name=names)
    def run(name: str) -> None:
        body = {"file": OK_KEY, "filename": name, "uses": 3, "confirm": False}
        minted = hostile.send("POST", "/links", auth, json.dumps(body).encode(), name)
        must_refuse = any(
            unicodedata.category(ch) in UNSAFE_IN_TEXT or ch in BIDI for ch in name
        ) or not name.strip(" .")
        if must_refuse:
            assert minted.status_code == 400, name
            return
        if minted.status_code == 400:
            assert len(name) > 255 or "/" in name or "\\" in name, name
            return
        assert minted.status_code == 201, minted.body
        token = token_of(minted.json_body)
        streamed = hostile.send(
            "GET", f"/download?token={token}", {"Accept": "application/pdf"}, b"", name
        )
        assert streamed.status_code == 200 and streamed.body == SMALL
        disposition = streamed.headers["Content-Disposition"]
        assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == name
        redirected = hostile.send("GET", f"/download?token={token}", {"Accept": "*/*"})
        assert redirected.status_code == 302
        signed = parse_qs(urlsplit(redirected.headers["Location"]).query)
        assert signed["response-content-disposition"] == [disposition]
        assert "Content-Disposition" not in redirected.headers  # only the file is one

    run()
    # The landing page shows a name as text, never as markup.
    body = {"file": OK_KEY, "filename": "<script>alert(1)</script>.pdf"}
    minted = hostile.send("POST", "/links", auth, json.dumps(body).encode())
    page = hostile.send(
        "GET",
        f"/download?token={token_of(minted.json_body)}",
        {"Accept": BROWSER_ACCEPT},
        b"",
        "<script>alert(1)</script>",
    )
    assert page.status_code == 200 and b"&lt;script&gt;" in page.body
    hostile.finish(80)


def test_hostile_accept_headers_spend_a_use_only_when_delivering(hostile: Hostile) -> None:
    """Chalice turns a binary body into a 400 *after* the view ran when Accept does not
    admit it; whatever the Accept, a use is spent if and only if the file went out."""
    auth = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    @corpus(100)
    @given(accept=accepts)
    def run(accept: str | None) -> None:
        body = {"file": OK_KEY, "confirm": False}
        minted = hostile.send("POST", "/links", auth, json.dumps(body).encode()).json_body
        headers = {"Accept": accept} if accept is not None else {}
        response = hostile.send("GET", f"/download?token={token_of(minted)}", headers)
        uses = int(hostile.service.item(minted["id"])["uses"]["N"])
        assert response.status_code in (200, 302, 400), response.status_code
        assert uses == (1 if response.status_code in (200, 302) else 0), (accept, response)
        if response.status_code == 200:
            assert response.body == SMALL

    run()
    hostile.finish(100)


# ---------------------------------------------------------------- app bugs found here


def operator(service: InProcess, method: str, path: str, body: bytes) -> Any:
    headers = {**service.auth(), "Content-Type": "application/json"}
    return service.client.http.request(method, path, headers=headers, body=body)


@pytest.mark.parametrize("route", ["POST /links", "PATCH /links/{id}"])
def test_deeply_nested_json_is_400(hostile: Hostile, route: str) -> None:
    method, path = route.split(" ")
    path = path.format(id=hostile.operated[0]["id"])
    for body in (b"[" * 100_000, b'{"note": ' + b"[" * 100_000 + b"}"):
        response = hostile.send(method, path, {**hostile.service.auth()}, body)
        assert response.status_code == 400
        assert response.json_body["error"] == "invalid_json"
    hostile.finish(2)


@pytest.mark.parametrize("route", ["POST /links", "PATCH /links/{id}"])
def test_note_with_a_lone_surrogate_is_400(hostile: Hostile, route: str) -> None:
    method, path = route.split(" ")
    path = path.format(id=hostile.operated[0]["id"])
    before = hostile.service.item(hostile.operated[0]["id"])
    body = b'{"file": "%s", "note": "\\ud800"}' % OK_KEY.encode()
    if method == "PATCH":
        body = b'{"note": "\\ud800"}'
    response = operator(hostile.service, method, path, body)
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_note"
    assert hostile.service.item(hostile.operated[0]["id"]) == before
    hostile.finish(0)


def cursor(created_at: Any, pk: Any = "link#aaaaaaaaaaaaaaaa") -> str:
    key = {"pk": {"S": pk}, "file": {"S": OK_KEY}, "created_at": {"N": created_at}}
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [cursor(1), cursor(True), cursor("1", pk=5), cursor("1", pk=["x"])],
    ids=["number-n", "bool-n", "number-s", "list-s"],
)
def test_cursor_of_the_wrong_types_is_400(service: InProcess, bad: str) -> None:
    response = service.client.http.get(f"/links?file={OK_KEY}&cursor={bad}", headers=service.auth())
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_cursor"


@pytest.mark.parametrize("name", ["a/b.pdf", "../../etc/passwd", "a\\b.pdf", "/etc/passwd"])
def test_file_name_with_a_path_in_it_is_saved_flat(hostile: Hostile, name: str) -> None:
    # A download name is not a path: browsers save '/' as '_'.  Slashes are allowed
    # (a name like "<script>alert(1)</script>.pdf" must show as text), but the ASCII
    # fallback carries none and filename* percent-encodes them.
    body = json.dumps({"file": OK_KEY, "filename": name}).encode()
    response = operator(hostile.service, "POST", "/links", body)
    assert response.status_code == 201
    minted = response.json_body
    assert minted["filename"] == name
    got = hostile.service.client.http.post(
        "/download",
        headers={"Accept": "application/pdf", "Content-Type": "application/x-www-form-urlencoded"},
        body=f"token={token_of(minted)}",
    )
    disposition = got.headers["Content-Disposition"]
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert "/" not in fallback and "\\" not in fallback
    assert "/" not in disposition.split("filename*=", 1)[1]


@pytest.mark.parametrize("bad", ["1_000", "Infinity", "1e400", ""], ids=repr)
def test_cursor_dynamodb_refuses_is_400_over_http(stack: Stack, bad: str) -> None:
    bad_cursor = cursor("1", pk="") if bad == "" else cursor(bad)
    response = requests.get(
        f"{stack.base_url}/links",
        params={"file": OK_KEY, "cursor": bad_cursor},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )
    check_response(response.status_code, {}, response.content)
    assert response.json()["error"] == "invalid_cursor"


# ---------------------------------------------------------------- over real HTTP


@dataclass
class Raw:
    status: int
    header_lines: list[str]
    headers: dict[str, str]
    body: bytes


def send_raw(stack: Stack, request: bytes) -> Raw:
    """One request as exactly these bytes, on its own connection; the answer as it came."""
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    header_lines = lines[1:]
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        assert colon and name == name.strip() and name, f"not a header line: {line!r}"
        assert name.lower() not in headers or name.lower() == "set-cookie", f"twice: {name}"
        headers[name.lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return Raw(status, header_lines, headers, body)


def request_bytes(
    method: str, target: bytes, headers: dict[bytes, bytes] | None = None, body: bytes = b""
) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@dataclass
class OverHttp:
    stack: Stack
    dynamodb: Any
    watched: list[dict[str, Any]]
    accepted: set[str] = field(default_factory=set)
    sent: int = 0

    def send(self, request: bytes) -> Raw:
        answer = send_raw(self.stack, request)
        self.sent += 1
        check_response(answer.status, answer.headers, answer.body, SERVER_HEADERS)
        if answer.status in (200, 201) and answer.headers.get("content-type", "").startswith(
            "application/json"
        ):
            minted = json.loads(answer.body)
            if isinstance(minted, dict) and "url" in minted:
                self.accepted.add(minted["id"])
        return answer

    def link_ids(self) -> set[str]:
        ids: set[str] = set()
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.stack.table, ProjectionExpression="link_id"
        ):
            ids |= {item["link_id"]["S"] for item in page["Items"] if "link_id" in item}
        return ids


@pytest.fixture
def over_http(stack: Stack) -> Iterator[OverHttp]:
    dynamodb = stack.client("dynamodb")
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    watched = []
    for confirm in ("false", "true"):
        response = requests.get(
            f"{stack.base_url}/get-link",
            params={"file": SMALL_SAMPLE, "confirm": confirm, "uses": 2},
            headers=auth,
            timeout=30,
        )
        assert response.status_code == 200
        watched.append(response.json())
    yield OverHttp(stack, dynamodb, watched)


def test_hostile_bytes_over_http(over_http: OverHttp) -> None:
    wire = over_http
    before = wire.link_ids()
    key = API_KEY.encode()
    auth = {b"Authorization": b"Bearer " + key}
    real = [token_of(m).encode() for m in wire.watched]
    sample = quote(SMALL_SAMPLE).encode()
    requests_: list[bytes] = []

    def add(
        method: str, target: bytes, headers: dict[bytes, bytes] | None = None, body: bytes = b""
    ) -> None:
        requests_.append(request_bytes(method, target, headers, body))

    # Oversized: a 16 KB header of each kind, a 10 KB token, a 1,100-byte key.
    for name in (b"X-Pad", b"Accept", b"Cookie", b"User-Agent", b"Authorization"):
        add("GET", b"/download?token=" + real[0][:-1], {name: b"a" * 16_384})
    add("GET", b"/get-link?file=" + sample, {b"Authorization": b"Bearer " + b"k" * 16_384})
    add("GET", b"/download?token=" + b"a" * 10_240)
    add("HEAD", b"/download?token=" + b"A" * 10_240)
    add(
        "POST",
        b"/download",
        {b"Content-Type": b"application/x-www-form-urlencoded"},
        b"token=" + b"a" * 10_240,
    )
    add("GET", b"/get-link?file=" + b"x" * 1_100, auth)
    # NUL, bad escapes, overlong UTF-8, raw bytes that are not UTF-8.
    for query in (
        b"token=%00",
        b"token=a\x00b",
        b"token=%zz",
        b"token=%",
        b"token=%c0%ae%c0%ae",
        b"token=\xff\xfe",
        b"token=" + real[0] + b"%00",
        b"token=" + real[0] + b"%zz",
        b"token=" + real[0] + b"&token=" + real[0],
        b"token=" + real[0] + b"&token=" + real[1],
        b"token=&token=" + real[0],
    ):
        add("GET", b"/download?" + query)
        add("GET", b"/download?" + query, {b"Accept": BROWSER_ACCEPT.encode()})
        add("POST", b"/download?" + query)
    add("GET", b"/download?token=x", {b"Accept": b"\xff\xfe\x00"})
    add("GET", b"/download?token=x", {b"X-Nul": b"a\x00b"})
    # File keys that try to leave the prefix or smuggle bytes.
    for file in (
        b"../x",
        b"samples/../../etc/passwd",
        b"%2e%2e/x",
        b"%2e%2e%2fx",
        b"%252e%252e/x",
        b"..%5c..%5cwin.ini",
        b"..\\..\\win.ini",
        b"/etc/passwd",
        b"%2Fetc%2Fpasswd",
        b"C:%5Cboot.ini",
        b"%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        b"samples/%0d%0ax",
        b"samples/%00",
        b"samples/%1b",
        b"%zz",
        b"samples/r%C3%A9sum%C3%A9.pdf&file=../x",
    ):
        add("GET", b"/get-link?file=" + file, auth)
        add(
            "POST",
            b"/links",
            {**auth, b"Content-Type": b"application/json"},
            json.dumps({"file": unquote(file.decode("latin-1"))}).encode(),
        )
    # File names: quotes are fine; CR/LF, NUL and direction marks are refused.
    for name in (
        b"%22q%22.pdf",
        b"a%0d%0aX-Injected:%201",
        b"a%0aX: 1",
        b"%e2%80%aeexe.pdf",
        b"a%00b",
        b"%22%3B%20filename%3Devil.exe",
    ):
        add("GET", b"/get-link?file=" + sample + b"&filename=" + name, auth)
    # Repeated parameters.
    add("GET", b"/get-link?file=" + sample + b"&file=" + sample, auth)
    add("GET", b"/get-link?file=" + sample + b"&uses=1&uses=100", auth)
    add("GET", b"/links?file=" + sample + b"&limit=1&limit=2", auth)
    # Wrong methods, and methods on ids that are not ids.
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        add(method, b"/download?token=" + real[0])
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD"):
        add(method, b"/get-link?file=" + sample, auth)
    for method in ("PUT", "DELETE", "HEAD", "OPTIONS"):
        add(method, b"/links", auth)
    for target in (
        b"/links/%2e%2e",
        b"/links/..",
        b"/links/%2F",
        b"/links/a%00",
        b"/links/" + b"a" * 5_000,
        b"/links/" + real[0][:16] + b"%00",
    ):
        add("GET", target, auth)
        add("DELETE", target, auth)
    add("GET", b"http://evil.example/download?token=" + real[0][:-1])
    add("GET", b"/download/../links?file=x", auth)
    requests_.append(b"GET /download?token=x HTTP/1.0\r\n\r\n")

    answers = [wire.send(request) for request in requests_]
    assert len(answers) >= 100
    # Real tokens in refused forms spent nothing, and no refused mint wrote anything.
    for minted in wire.watched:
        stored = wire.dynamodb.get_item(
            TableName=wire.stack.table,
            Key={"pk": {"S": f"link#{minted['id']}"}},
            ConsistentRead=True,
        )["Item"]
        assert stored["uses"]["N"] == "0" and stored["redemptions"]["M"] == {}
    assert wire.link_ids() - before == wire.accepted
    # What was minted is the sample, under a name that needed no refusal.
    for link_id in wire.accepted:
        stored = wire.dynamodb.get_item(
            TableName=wire.stack.table, Key={"pk": {"S": f"link#{link_id}"}}
        )["Item"]
        assert stored["file"]["S"] == SMALL_SAMPLE


def test_file_name_over_http_is_one_header_line(over_http: OverHttp) -> None:
    wire = over_http
    name = 'q"uote; back\\slash %41 \u00a0 résumé.pdf'
    body = json.dumps({"file": SMALL_SAMPLE, "filename": name, "uses": 2, "confirm": False})
    minted = wire.send(
        request_bytes(
            "POST",
            b"/links",
            {b"Authorization": f"Bearer {API_KEY}".encode(), b"Content-Type": b"application/json"},
            body.encode(),
        )
    )
    assert minted.status == 201
    token = token_of(json.loads(minted.body)).encode()
    streamed = wire.send(
        request_bytes("GET", b"/download?token=" + token, {b"Accept": b"application/pdf"})
    )
    assert streamed.status == 200 and streamed.body == sample_pdf()
    lines = [line for line in streamed.header_lines if line.lower().startswith("content-disp")]
    assert len(lines) == 1
    assert unquote(lines[0].split("filename*=UTF-8''", 1)[1]) == name
    redirected = wire.send(request_bytes("GET", b"/download?token=" + token, {b"Accept": b"*/*"}))
    assert redirected.status == 302
    signed = parse_qs(urlsplit(redirected.headers["location"]).query)
    assert signed["response-content-disposition"] == [lines[0].split(":", 1)[1].strip()]
    assert "content-disposition" not in redirected.headers  # only the file is one


UNSAFE_IN_TEXT = ("Cc", "Cf", "Cs", "Zl", "Zp")


def test_hostile_user_agents_are_stored_harmless(hostile: Hostile) -> None:
    """Whatever a client sends as its User-Agent, the audit trail an operator reads holds
    no control, format or line-separator character (terminal injection, forged rows)."""
    service = hostile.service
    minted = service.mint(OK_KEY, confirm="false", uses=100)
    hostile.operated.append(minted)
    agents = st.text(
        alphabet=st.one_of(
            st.sampled_from("\x1b\r\n\x07\x08\x7f\x9b\u202e\u2066\u200b\u061c\u2028\u2029"),
            st.characters(codec="utf-8"),
        ),
        max_size=80,
    )

    @corpus(90)
    @given(agent=agents)
    def run(agent: str) -> None:
        response = hostile.send(
            "GET", f"/download?token={token_of(minted)}", {"Accept": "*/*", "User-Agent": agent}
        )
        assert response.status_code in (302, 403, 410)
        # A known previewer's name in the agent (hypothesis finds "Embedly") never spends.
        assert response.status_code != 403 or previewer(agent) is not None

    run()
    shown = service.client.http.get(f"/links/{minted['id']}", headers=service.auth()).json_body
    assert shown["redemptions"], "the corpus must have redeemed"
    for use in shown["redemptions"]:
        bad = [ch for ch in use["user_agent"] if unicodedata.category(ch) in UNSAFE_IN_TEXT]
        assert bad == [], use["user_agent"]
    hostile.finish(90)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
@pytest.mark.parametrize("field_name", ["filename", "note", "subject", "message"])
def test_line_separators_in_mint_fields_mint_nothing(
    hostile: Hostile, separator: str, field_name: str
) -> None:
    """Single-line fields refuse Unicode line breaks; a note and a message keep them as the
    line breaks they are.  Either way nothing half-done is left (email is off here)."""
    body = {"file": OK_KEY, field_name: f"a{separator}b"}
    if field_name in ("subject", "message"):
        body["email"] = "customer@example.com"
    response = hostile.send(
        "POST",
        "/links",
        {**hostile.service.auth(), "Content-Type": "application/json"},
        json.dumps(body).encode(),
    )
    assert response.status_code in (201, 400)
    if field_name in ("filename", "subject"):
        assert response.status_code == 400
    hostile.finish(1)


def test_hostile_render_stamps_never_spend(hostile: Hostile) -> None:
    """The landing form's ``shown`` field, forged every way: a real token with a stamp that
    is not one the server made for it never spends (the watched links stay unspent)."""
    stamps = st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda millis, mac: f"{millis}.{mac}",
            st.integers(min_value=-(10**20), max_value=10**20),
            st.text(alphabet="0123456789abcdef", max_size=40),
        ),
        st.just(""),
        st.just("1." + "0" * 32),
    )

    @corpus(150)
    @given(stamp=stamps, which=st.sampled_from([0, 1]), accept=accepts)
    def run(stamp: str, which: int, accept: str | None) -> None:
        token = hostile.tokens[which]
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if accept is not None:
            headers["Accept"] = accept
        body = urlencode({"token": token, "shown": stamp}).encode()
        response = hostile.send("POST", "/download", headers, body)
        assert response.status_code in (200, 400, 409), response.status_code

    run()
    hostile.finish(150)


def test_hostile_refunds_change_nothing_they_should_not(hostile: Hostile) -> None:
    """Refund bodies and link ids of every shape: 4xx, or one use given back of a link that
    had one (none of the watched links has, so their uses stay 0)."""
    bodies = st.one_of(
        st.binary(max_size=200),
        st.dictionaries(st.text(max_size=12), st.none() | st.text(max_size=30), max_size=3).map(
            lambda d: json.dumps(d).encode()
        ),
        st.text(max_size=30).map(lambda r: json.dumps({"redemption": r}).encode()),
    )
    ids = st.one_of(
        st.sampled_from([m["id"] for m in hostile.watched]),
        st.text(alphabet=string.ascii_lowercase + "234567", min_size=16, max_size=16),
        st.text(max_size=30).filter(lambda t: "/" not in t and "?" not in t and "#" not in t),
    )

    @corpus(150)
    @given(link_id=ids, body=bodies)
    def run(link_id: str, body: bytes) -> None:
        path = "/links/" + quote(link_id, safe="") + "/refund"
        headers = {**hostile.service.auth(), "Content-Type": "application/json"}
        response = hostile.send("POST", path, headers, body)
        assert 400 <= response.status_code < 500, (response.status_code, response.body)

    run()
    hostile.finish(150)


def test_hostile_session_credentials_deliver_nothing(hostile: Hostile) -> None:
    """Forged download-session cookies and headers, of every shape, for a link used up by
    its one real redemption: every answer is 410, nothing is delivered again."""
    service = hostile.service
    minted = service.mint(OK_KEY)
    hostile.operated.append(minted)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
    body = urlencode({"token": token_of(minted)}).encode()
    real = service.client.http.post("/download", headers=form, body=body)
    assert real.status_code == 302
    real_claim = real.headers["X-Download-Session"].split(".")[0]
    values = st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda claim, secret: f"{claim}.{secret}",
            st.sampled_from([real_claim])
            | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
            st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=43, max_size=43),
        ),
    )

    @corpus(150)
    @given(value=values, as_cookie=st.booleans())
    def run(value: str, as_cookie: bool) -> None:
        headers = dict(form)
        if as_cookie:
            headers["Cookie"] = f"onetime_{minted['id']}={value}"
        else:
            headers["X-Download-Session"] = value
        response = hostile.send("POST", "/download", headers, body)
        assert response.status_code == 410, response.status_code
        assert "Location" not in response.headers

    run()
    item = service.item(minted["id"])
    assert item["uses"]["N"] == "1"
    (record,) = item["redemptions"]["M"].values()
    assert "again" not in record["M"]
    hostile.finish(150)
