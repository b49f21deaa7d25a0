"""Issue 24, item 4: in the SES sandbox, SES checks the recipient's identity as well as
the sender's and refuses with ``MessageRejected``; the error a person sees says so."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from chalicelib.domain.errors import MailError
from chalicelib.storage.failures import sending_mail


def test_a_refused_message_names_the_sandbox_and_the_recipient() -> None:
    answer = {
        "Error": {
            "Code": "MessageRejected",
            # SES's own text, which the service does not pass on (it names addresses).
            "Message": "Email address is not verified. The following identities failed "
            "the check in region EU-WEST-1: someone@example.org",
        },
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    with pytest.raises(MailError) as raised, sending_mail():
        raise ClientError(answer, "SendEmail")  # type: ignore[arg-type]
    message = raised.value.message
    assert "sandbox" in message
    assert "recipient" in message and "sender" in message
    assert "verified" in message
    assert "someone@example.org" not in message
