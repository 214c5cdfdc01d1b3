"""Who may connect: bearer tokens, Twilio's request signature, AudioHook's API key and signature.

Twilio signs every request it makes, the Media Streams WebSocket upgrade
included, with `X-Twilio-Signature`: base64 HMAC-SHA1 keyed with the account's
auth token over the full URL Twilio requested (scheme, host, path and query; a
GET has no body parameters to append). Twilio's own validators also accept the
URL with and without an explicit default port, and so does `verify_twilio`.

AudioHook (Genesys Cloud) authenticates the WebSocket upgrade request itself: an
`X-API-KEY` header, and, when the integration has a client secret, an HTTP
message signature (`Signature-Input`/`Signature` headers, HMAC-SHA256 with the
base64-decoded secret, `keyid` equal to the API key, a nonce, `created` and
`expires`) over `@request-target`, `@authority`, `audiohook-organization-id`,
`audiohook-session-id`, `audiohook-correlation-id` and `x-api-key`. The scheme
follows the AudioHook protocol documentation and Genesys's reference
implementation (purecloudlabs/audiohook-reference-implementation); see
docs/PROTOCOL.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

AUDIOHOOK_SIGNED_COMPONENTS = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
MAX_SIGNATURE_AGE_S = 10
MIN_NONCE_CHARS = 22
_CLOCK_SKEW_S = 5


def same_secret(given: object, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one; anything
    but a string (a client's JSON may hold any type) is simply not the secret."""
    if not isinstance(given, str):
        return False
    encode = "surrogatepass"  # a lone surrogate is a wrong secret, not an error
    return hmac.compare_digest(given.encode("utf-8", encode), expected.encode("utf-8", encode))


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def twilio_signature(url: str, auth_token: str, params: Mapping[str, str] | None = None) -> str:
    """The `X-Twilio-Signature` of a request to `url` (POST `params` appended in name order)."""
    data = url + "".join(name + value for name, value in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio(signature: str | None, url: str, auth_token: str) -> bool:
    """Whether `signature` signs `url` (or `url` with/without its default port)."""
    if not signature:
        return False
    return any(
        hmac.compare_digest(signature.encode(), twilio_signature(candidate, auth_token).encode())
        for candidate in _port_variants(url)
    )


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "wss": 443, "http": 80, "ws": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    variants = [url]
    if default is not None and parts.port in (None, default):
        for netloc in (host, f"{host}:{default}"):
            variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return list(dict.fromkeys(variants))


def verify_audiohook(
    headers: Mapping[str, str],
    target: str,
    api_key: str,
    client_secret: str | None,
    now: float | None = None,
) -> str | None:
    """Checks an AudioHook upgrade request; None when it passes, else the reason.

    Args:
        headers: The request's header fields.
        target: The request target (path and query).
        api_key: The API key the integration was given.
        client_secret: Base64 client secret; None accepts unsigned requests.
        now: Unix time (tests).
    """
    key = headers.get("X-API-KEY")
    if not same_secret(key, api_key):
        return "missing or unknown X-API-KEY"
    if client_secret is None:
        return None
    signature_input = headers.get("Signature-Input")
    signature = headers.get("Signature")
    if not signature_input or not signature:
        return "request is not signed (Signature-Input/Signature missing)"
    parsed = _parse_signature_input(signature_input)
    if parsed is None:
        return "malformed Signature-Input"
    label, components, params, serialized = parsed
    match = re.fullmatch(rf"\s*{re.escape(label)}=:([A-Za-z0-9+/=]+):\s*", signature)
    if match is None:
        return "malformed Signature"
    if params.get("alg", "hmac-sha256") != "hmac-sha256":
        return "unsupported signature algorithm"
    if params.get("keyid") != key:
        return "signature keyid does not match X-API-KEY"
    if len(params.get("nonce", "")) < MIN_NONCE_CHARS:
        return "signature nonce missing or too short"
    missing = [c for c in AUDIOHOOK_SIGNED_COMPONENTS if c not in components]
    if missing:
        return f"signature does not cover {', '.join(missing)}"
    now = time.time() if now is None else now
    try:
        created = int(params["created"])
        expires = int(params.get("expires", created + MAX_SIGNATURE_AGE_S))
    except (KeyError, ValueError):
        return "signature lacks a valid created time"
    if created > now + _CLOCK_SKEW_S or now > expires or now - created > MAX_SIGNATURE_AGE_S:
        return "signature expired or not yet valid"
    lines = []
    for component in components:
        if component == "@request-target":
            value = target
        elif component == "@authority":
            value = (headers.get("Host") or "").lower()
        else:
            value = headers.get(component)
            if value is None:
                return f"signed header {component} is missing"
        lines.append(f'"{component}": {value.strip()}')
    lines.append(f'"@signature-params": {serialized}')
    try:
        secret = base64.b64decode(client_secret, validate=True)
        given = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return "signature or client secret is not valid base64"
    expected = hmac.new(secret, "\n".join(lines).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        return "signature does not verify"
    return None


def sign_audiohook(
    headers: dict[str, str],
    target: str,
    api_key: str,
    client_secret: str,
    nonce: str,
    created: int,
    expires_s: int = 10,
) -> dict[str, str]:
    """The Signature-Input and Signature headers a client sends (test clients, bin/loadtest)."""
    fields = {**headers, "X-API-KEY": api_key}
    inner = " ".join(f'"{c}"' for c in AUDIOHOOK_SIGNED_COMPONENTS)
    serialized = (
        f'({inner});keyid="{api_key}";nonce="{nonce}";alg="hmac-sha256";'
        f"created={created};expires={created + expires_s}"
    )
    lines = []
    for component in AUDIOHOOK_SIGNED_COMPONENTS:
        if component == "@request-target":
            value = target
        elif component == "@authority":
            value = fields["Host"].lower()
        else:
            value = next(v for k, v in fields.items() if k.lower() == component)
        lines.append(f'"{component}": {value}')
    lines.append(f'"@signature-params": {serialized}')
    digest = hmac.new(base64.b64decode(client_secret), "\n".join(lines).encode(), hashlib.sha256)
    return {
        "X-API-KEY": api_key,
        "Signature-Input": f"sig1={serialized}",
        "Signature": f"sig1=:{base64.b64encode(digest.digest()).decode()}:",
    }


_INPUT = re.compile(r'\s*([a-z][a-z0-9_-]*)=(\(([^)]*)\)((?:;[a-z]+=(?:"[^"]*"|-?\d+))*))\s*')
_PARAM = re.compile(r';([a-z]+)=(?:"([^"]*)"|(-?\d+))')


def _parse_signature_input(text: str) -> tuple[str, list[str], dict[str, str], str] | None:
    """`label=("a" "b");k="v";n=1` -> (label, components, params, serialized inner list).

    Only the one-signature form AudioHook sends is accepted.
    """
    match = _INPUT.fullmatch(text)
    if match is None:
        return None
    label, serialized, inner, params_text = match.groups()
    components = re.findall(r'"([^"]+)"', inner)
    params = {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(params_text)
    }
    return label, components, params, serialized
