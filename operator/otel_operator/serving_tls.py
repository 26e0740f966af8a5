"""The TLS listeners' handshakes (the allocator's mutual-TLS listener, the admission webhooks): a refused client gets
its TLS alert, and the server logs one line naming the peer and the reason.

asyncio's TLS layer neither logs a failed handshake (an `ssl.SSLError` is an `OSError`, which it reports only in
debug mode) nor sends the alert OpenSSL queued for the peer (it closes the socket first): a collector with the wrong
certificate then sees a reset connection, and the log says nothing. `TLSSite` serves an aiohttp runner like the
other listeners (otel_operator.serving), but each connection's TLS runs in `_LoggedTLSProtocol`, which on a failed
handshake sends the queued alert, then logs, then lets asyncio close the connection as usual.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from asyncio import sslproto
from typing import Any, Final

from otel_operator.serving import ConciseHandler, GuardedSite

log = logging.getLogger("otel_operator.serving")

# OpenSSL's text as Python renders it: "[SSL: CODE] the words (_ssl.c:1006)".
_SSL_DECORATION: Final = re.compile(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*|\s*\(_ssl\.c:\d+\)$")


def refusal_reason(err: BaseException) -> str:
    """The words of a failed handshake, without OpenSSL's codes: "certificate verify failed: unable to get local
    issuer certificate", "peer did not return a certificate", ..."""
    if isinstance(err, ssl.SSLCertVerificationError) and err.verify_message:
        return f"certificate verify failed: {err.verify_message}"
    if isinstance(err, ssl.SSLError) and err.args and isinstance(err.args[-1], str):
        text = _SSL_DECORATION.sub("", err.args[-1]).strip()
        return text or str(err.reason or err)
    return str(err) or type(err).__name__


def peer_text(peer: Any) -> str:
    """ "10.0.0.5:41234" (IPv4), "[fd00::5]:41234" (IPv6), or what the transport gave."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer) if peer else "unknown peer"


class _LoggedTLSProtocol(sslproto.SSLProtocol):
    """asyncio's server-side TLS protocol, with a failed handshake flushed (the alert reaches the peer) and logged."""

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            try:
                self._process_outgoing()  # type: ignore[attr-defined]  # the alert OpenSSL queued for the peer
            except Exception:  # best effort: the connection is going away anyway
                log.debug("could not send the TLS alert", exc_info=True)
            transport = getattr(self, "_transport", None)
            peer = transport.get_extra_info("peername") if transport is not None else None
            log.warning("refused TLS client %s: %s", peer_text(peer), refusal_reason(handshake_exc))
        super()._on_handshake_complete(handshake_exc)


class TLSSite(GuardedSite):
    """The serving policy's site (otel_operator.serving) with each connection's TLS in `_LoggedTLSProtocol`, so a
    failed handshake is logged (see the module's docstring). `ssl_context` is required; whether clients must show a
    certificate is the context's `verify_mode`."""

    def wrap(self, handler: ConciseHandler) -> asyncio.BaseProtocol:
        context = self._ssl_context
        if context is None:
            raise RuntimeError("TLSSite needs an ssl_context")
        # no waiter (None): nobody awaits the handshake here, the protocol reports it itself
        loop = asyncio.get_running_loop()
        return _LoggedTLSProtocol(loop, handler, context, None, server_side=True)  # type: ignore[arg-type]
