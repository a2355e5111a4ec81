"""The stack's Prefect server: Prefect's own app, answering only this machine's UI.

`prefect server start` serves every origin and every `Host`: any web page the stack's user
opens could call the API (a foreign `Host` is how DNS rebinding turns a page into a
same-origin caller, which neither CORS nor CSRF tokens stop). The stack therefore runs
Prefect's app (`prefect.server.api.server.create_app`, exactly what `prefect server start`
runs) in uvicorn with two guards in front of it, both Starlette's or plain ASGI (wrapped
around the app for network requests only; Prefect's in-process clients call the app itself):

- `TrustedHostMiddleware`: on a loopback bind, a request whose `Host` is not a loopback name
  is answered 400 (with `DASHBOARD_HOST` beyond loopback an auth string is required, and any
  host name is accepted);
- `ForeignOriginGuard`: on a loopback bind, a request (HTTP or WebSocket, which CORS does not
  cover) that carries an `Origin` other than the UI's own is answered 403 before Prefect sees
  it.

CORS (`PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS`) and CSRF tokens
(`PREFECT_SERVER_CSRF_PROTECTION_ENABLED`) are set by `deployments.stack.runtime.prefect_env`.
Run as ``python -m deployments.stack.server_app`` with the stack's environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from deployments.stack.runtime import prefect_env
from neo_automation.settings import load_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Names a loopback-bound server may be called by.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class ForeignOriginGuard:
    """ASGI middleware: refuse any request whose `Origin` header is not an allowed origin.

    Requests without `Origin` (the CLI, serve, workers, curl) pass: the guard is against web
    pages, which cannot omit it on cross-origin requests and WebSocket handshakes.

    Args:
        app: The wrapped ASGI app.
        allowed_origins: Origins such as ``http://127.0.0.1:4200`` (scheme, host, port).
    """

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 403 (HTTP) / close before accepting (WebSocket)."""
        if scope["type"] in ("http", "websocket"):
            origin = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                           if k == b"origin"), None)
            if origin is not None and origin.rstrip("/").lower() not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = json.dumps({"detail": f"origin {origin!r} is not allowed"}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def allowed_hosts(bind_host: str, origins: list[str]) -> list[str]:
    """`Host` names the server answers.

    On a loopback bind: the loopback names and the host names of the allowed origins (a
    reverse proxy's public name, when `PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS` names it).
    Bound beyond loopback (which needs an auth string): any name.
    """
    if bind_host not in LOOPBACK_HOSTS:
        return ["*"]
    names = list(LOOPBACK_HOSTS)
    for origin in origins:
        host = urlsplit(origin).hostname
        if host and host not in names:
            names.append(f"[{host}]" if ":" in host else host)
    return names


def main() -> None:
    """Serve Prefect's app with the guards, on `PREFECT_SERVER_API_HOST`/`_PORT`.

    The stack's supervisor passes `deployments.stack.runtime.prefect_env`; started on its own (a
    systemd unit), the same variables are derived from the settings, an explicit one winning.
    """
    for key, value in prefect_env(load_settings()).items():
        os.environ.setdefault(key, value)

    import uvicorn
    from prefect.server.api.server import create_app
    from prefect.settings import PREFECT_HOME
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    PREFECT_HOME.value().mkdir(parents=True, exist_ok=True)  # as the `prefect` CLI does
    host = os.environ.get("PREFECT_SERVER_API_HOST", "127.0.0.1")
    port = int(os.environ.get("PREFECT_SERVER_API_PORT", "4200"))
    origins = [o for o in os.environ.get(
        "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS", "").split(",") if o and o != "*"]
    app = create_app(final=True)
    # The guards wrap the app for the network only. Prefect's own services call the same
    # cached app in process (prefect/server/api/clients.py: ASGITransport, Host
    # "prefect-in-memory"), and must not be refused: the app itself is left as it is.
    served: ASGIApp = app
    # "*" (or nothing) means the operator opened it on purpose. Beyond loopback the browser's
    # origin is a name this process cannot know (the auth string guards it there).
    if origins and host in LOOPBACK_HOSTS:
        served = ForeignOriginGuard(served, allowed_origins=origins)
    served = TrustedHostMiddleware(served, allowed_hosts=allowed_hosts(host, origins))  # type: ignore[arg-type]
    uvicorn.run(served, host=host, port=port,
                log_level=os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "warning").lower())

if __name__ == "__main__":
    main()
