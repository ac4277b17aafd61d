"""The push payload (notify/payload.py): what we send round-trips; anything else is
refused. Table-driven, no network."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from autosync_gui.notify.payload import (
    TAG,
    PayloadError,
    PushNotice,
    from_element,
    to_element,
)
from autosync_gui.text import safe_host

SHA1, SHA256 = "0123456789abcdef" * 2 + "01234567", "0123456789abcdef" * 4


@pytest.mark.parametrize("identity", [f"{SHA1}:main", f"{SHA256}:feature/x-1.2",
                                      f"{SHA1}:été"])
@pytest.mark.parametrize("commit", [SHA1, SHA256])
def test_round_trip(identity, commit):
    notice = PushNotice(identity, commit, "laptop-1")
    element = to_element(notice)
    assert element.tag == TAG and set(element.attrib) == {"repo", "commit", "host"}
    assert from_element(ET.fromstring(ET.tostring(element))) == notice


def test_payload_carries_nothing_else():
    xml = ET.tostring(to_element(PushNotice(f"{SHA1}:main", SHA1, "h")), encoding="unicode")
    assert xml == (f'<ns0:push xmlns:ns0="urn:autosync:push:0" repo="{SHA1}:main" '
                   f'commit="{SHA1}" host="h" />')


@pytest.mark.parametrize("identity", [
    "", "main", f"{SHA1}", f"{SHA1}:", f"{SHA1[:-1]}:main", f"{SHA1.upper()}:main",
    f"{SHA1}:ma in", f"{SHA1}:a..b", f"{SHA1}:-x", f"{SHA1}:x/", f"{SHA1}:x.lock",
    f"{SHA1}:a\nb", f"{SHA1}:a:b", f"{SHA1}:" + "b" * 201, f"{SHA1}:@", f"{SHA1}:a@{{1}}",
    f"/etc/passwd:{SHA1}", f"{SHA1}:../../x",
])
def test_bad_identity(identity):
    with pytest.raises(PayloadError):
        PushNotice(identity, SHA1, "h")


@pytest.mark.parametrize("commit", ["", SHA1[:-1], SHA1 + "0", SHA1.upper(), "z" * 40,
                                    " " + SHA1[1:], "HEAD", "--upload-pack=x"])
def test_bad_commit(commit):
    with pytest.raises(PayloadError):
        PushNotice(f"{SHA1}:main", commit, "h")


@pytest.mark.parametrize("host", ["", "-x", ".x", "a b", "a/b", "x" * 65, "é", "a;b", "$(x)"])
def test_bad_host(host):
    with pytest.raises(PayloadError):
        PushNotice(f"{SHA1}:main", SHA1, host)


@pytest.mark.parametrize("xml", [
    f'<push xmlns="urn:other" repo="{SHA1}:main" commit="{SHA1}" host="h"/>',
    f'<push xmlns="urn:autosync:push:0" repo="{SHA1}:main" commit="{SHA1}"/>',
    f'<push xmlns="urn:autosync:push:0" repo="{SHA1}:main" commit="{SHA1}" host="h" x="1"/>',
    f'<push xmlns="urn:autosync:push:0" repo="{SHA1}:main" commit="{SHA1}" host="h"><a/></push>',
    f'<push xmlns="urn:autosync:push:0" repo="{SHA1}:main" commit="{SHA1}" host="h">t</push>',
])
def test_bad_element(xml):
    with pytest.raises(PayloadError):
        from_element(ET.fromstring(xml))


@pytest.mark.parametrize("raw", ["my laptop", "é" * 100, "x" * 100, "", "Büro-PC (2)", "_a_",
                                 "-.x.-", "a" * 63 + "_b"])
def test_safe_host_fits_the_payload(raw):
    PushNotice(f"{SHA1}:main", SHA1, safe_host(raw))
