"""The OCPI ``Authorization: Token <base64(token)>`` header.

OCPI 2.2.1 sends the credentials token Base64-encoded (UTF-8, RFC 4648); many 2.1.1 and
2.2 peers send it as is, and the specification leaves telling them apart to "trial and
error". So the server looks each candidate up::

    candidates = token_candidates(request.headers.get("Authorization"))
    party = next((p for t in candidates if (p := await lookup(t))), None)
    if party is None:
        raise Unauthorized()
"""

from __future__ import annotations

import base64
import binascii

SCHEME = "Token"


def token_candidates(header_value: str | None) -> list[str]:
    """The tokens ``header_value`` may carry, the Base64-decoded one first.

    ``[decoded, raw]`` when the value decodes to printable, non-whitespace ASCII (what a
    credentials token is made of), else ``[raw]``; ``[]`` when there is no ``Token`` value
    (the caller answers 401).

    >>> token_candidates("Token ZXhhbXBsZS10b2tlbg==")
    ['example-token', 'ZXhhbXBsZS10b2tlbg==']
    >>> token_candidates("Token example-token")
    ['example-token']
    >>> token_candidates("Bearer abc")
    []
    """
    if not header_value:
        return []
    scheme, _, value = header_value.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != SCHEME.lower() or not value:
        return []
    decoded = _decode(value)
    if decoded is None or decoded == value:
        return [value]
    return [decoded, value]


def authorization_header(token: str) -> str:
    """``Token <base64(utf-8(token))>``, as OCPI 2.2.1 requires."""
    return f"{SCHEME} {base64.b64encode(token.encode('utf-8')).decode('ascii')}"


def _decode(value: str) -> str | None:
    try:
        # Peers that drop the "=" padding are common enough to forgive.
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    # The specification's own examples encode `echo`'s trailing newline
    # ("ZXhhbXBsZS10b2tlbgo=" for 'example-token'): drop one.
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
    if not raw or not all(0x21 <= byte <= 0x7E for byte in raw):
        return None
    return raw.decode("ascii")
