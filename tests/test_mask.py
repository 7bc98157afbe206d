"""``options.mask``, the one place URLs lose their secrets before they are shown,
and the CLI's redactor built on it."""

from __future__ import annotations

import pytest

from storeroom.cli.output import Redactor
from storeroom.options import mask


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("s3://b/p?secret_access_key=abc&region=x", "s3://b/p?secret_access_key=***&region=x"),
        (  # credentials inside an option that is itself a URL
            "s3://b/p?endpoint=http://AKID:PASSWORD321@127.0.0.1:9&region=x",
            "s3://b/p?endpoint=http://AKID:***@127.0.0.1:9&region=x",
        ),
        (
            "s3://b/p?endpoint=http%3A%2F%2FAKID%3APASSWORD321%40127.0.0.1%3A9",
            "s3://b/p?endpoint=http://AKID:***@127.0.0.1:9",
        ),
        ("s3://b/p?endpoint=http://127.0.0.1:9", "s3://b/p?endpoint=http://127.0.0.1:9"),
        ("plain/path", "plain/path"),
    ],
)
def test_mask_hides_every_credential(url: str, shown: str) -> None:
    assert mask(url) == shown


def test_the_redactor_scrubs_secrets_as_typed_and_decoded() -> None:
    redact = Redactor()
    redact.add("az://c/p?account_name=a&sas_token=sv%3D1%26sig%3DSASSIG789")
    redact.add("s3://b/p?endpoint=http://AKID:PASSWORD321@127.0.0.1:9")
    text = "sv%3D1%26sig%3DSASSIG789 / sv=1&sig=SASSIG789 / PASSWORD321"
    assert redact(text) == "*** / *** / ***"
