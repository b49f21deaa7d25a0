"""The uploader's pages: the upload form, and the page after the file was received."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from chalicelib.domain.filekinds import KINDS, file_kind, file_kinds
from chalicelib.domain.text import human_size
from chalicelib.templates.engine import (
    NOTHING,
    Html,
    clock_time,
    fill,
    human_date,
    relative,
    script,
)
from chalicelib.web.pages.common import notice, page

if TYPE_CHECKING:
    from chalicelib.services.filerequests import Received, UploadPage

UPLOAD_SCRIPT = "upload.js"
COPY_SCRIPT = "copy.js"


def upload(
    form_page: UploadPage,
    done_url: str,
    form_url: str,
    now: float,
    steps: dict[str, str] | None = None,
) -> str:
    """The upload form.  Without JavaScript it posts straight to S3, which sends the browser
    on to the confirmation; with it, the script asks ``form_url`` for freshly signed fields
    when Upload is pressed (the request may have been withdrawn or filled meanwhile, and a
    signed form lives 15 minutes) and posts them with a progress bar."""
    terms = form_page.terms
    form = form_page.form
    fields: dict[str, str] = dict(form["fields"])  # type: ignore[call-overload]
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        for name, value in fields.items()
    )
    type_field = NOTHING
    if "Content-Type" not in fields:
        if terms.content_types:
            options = "".join(
                f'<option value="{html.escape(t)}">{html.escape(file_kind(t))}</option>'
                for t in terms.content_types
            )
            type_field = fill("upload-type.html", options=Html(options))
        else:  # any type: the script sends the file's own; without it S3 stores this
            type_field = Html(
                '<input type="hidden" name="Content-Type" value="application/octet-stream">\n'
            )
    script_form = form_page.script_form
    data = {
        "url": script_form["url"],
        "fields": script_form["fields"],
        "prefix": form_page.key_prefix,
        "max_bytes": terms.max_bytes,
        "types": list(terms.content_types),
        "kinds": KINDS,  # the script's words name kinds as the page does
        "done": done_url,
        "refresh": form_url,
    }
    if form_page.multipart_threshold is not None and steps is not None:
        # Larger files go in parts, resumable (upload.js); the form stays for the rest.
        data["multipart"] = {"threshold": form_page.multipart_threshold, **steps}
    # Inside <script> nothing is unescaped, so "<" is written as JSON's \u003c instead.
    embedded = json.dumps(data).replace("<", "\\u003c")
    accept = ""
    if terms.content_types:
        accept = f' accept="{html.escape(",".join(terms.content_types))}"'
    content = fill(
        "upload.html",
        files="one file" if terms.max_files == 1 else f"up to {terms.max_files} files",
        each="It" if terms.max_files == 1 else "Each file",
        largest=human_size(terms.max_bytes),
        types=file_kinds(terms.content_types) or "Any",
        expires_in=relative(terms.expires_at, now),
        expires_on=human_date(terms.expires_at),
        action=str(form["url"]),
        fields=Html(hidden),
        type_field=type_field,
        accept=Html(accept),
        form_until=clock_time(form_page.form_expires_at),
        script_form=Html(embedded),
        script=Html(script(UPLOAD_SCRIPT)),
    )
    return page("Send a file", "upload", content)


def received(item: Received, url: str | None, now: float, bundle_url: str | None = None) -> str:
    """After the confirmation: the download link (with a copy button), or where it went."""
    link = item.minted.link
    shown = NOTHING
    if item.mail_failed:
        shown = notice(
            "We could not email the link to the person who asked for the file. "
            "Copy it below and send it to them yourself."
        )
    elif item.emailed and url is None:
        shown = notice("The download link was emailed to the person who asked for it.")
    elif item.emailed:
        shown = notice("The download link was also emailed to the requester.")
    link_block = NOTHING
    if url is not None:
        link_block = fill("received-link.html", url=url, script=Html(script(COPY_SCRIPT)))
    if bundle_url is not None and item.bundle is not None:
        count = len(item.bundle.link.files)
        link_block = Html(link_block + fill("received-bundle.html", count=count, url=bundle_url))
    left = item.request.remaining
    content = fill(
        "received.html",
        notice=shown,
        filename=item.filename,
        size=human_size(link.object.size),
        downloads="1" if link.max_uses == 1 else str(link.max_uses),
        expires_in=relative(link.expires_at, now),
        expires_on=human_date(link.expires_at),
        link_block=link_block,
        remaining_note=(
            "This upload link is now used up."
            if left == 0
            else f"This upload link takes {left} more "
            f"{'file' if left == 1 else 'files'}: open it again to send another."
        ),
    )
    return page("File received", "received", content)
