"""Prometheus exposition of the metrics store, for Grafana and other Prometheus users.

Off unless `AUTOMATION_EXPORTER_PORT` is set; then the supervisor runs this module as the
`exporter` service. Each scrape reads the newest value of every series from the store (from the
hourly rollups, so it is cheap) and exposes it as a gauge: `system.cpu.percent` becomes
`automation_system_cpu_percent`, with the series' labels plus `source`. Host-scoped samples
carry `host` (the machine they describe), so one scrape of a shared store shows every host as
its own series. A family's label names are the union of its series' (a series without one of
them, such as one stored before hosts were labelled, exports it empty, which Prometheus reads
as absent). The declared unit and description become the HELP text.

Binding to anything but loopback requires `AUTOMATION_EXPORTER_AUTH=user:password` (HTTP basic
auth); without it the exporter refuses to start.
"""

from __future__ import annotations

import base64
import hmac
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

from neo_automation.errors import AutomationError, ConfigError
from neo_automation.metrics.spec import prometheus_name
from neo_automation.settings import Settings, load_settings
from neo_automation.store.metric_store import MetricStore

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

log = logging.getLogger(__name__)


class StoreCollector:
    """A Prometheus collector that reads the latest samples from the store at each scrape."""

    def __init__(self, store: MetricStore) -> None:
        self.store = store
        self._warned: set[tuple[str, str]] = set()  # colliding pairs named in the log once

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge family per metric name, labelled with the union of its series' label
        names plus `source` (Prometheus needs one label-name set per family)."""
        definitions = self.store.definitions()
        rows = self.store.latest()
        label_names: dict[str, set[str]] = {}
        owner: dict[str, str] = {}  # exported name -> the stored name it shows
        for _source, name, labels, _ts, _value in rows:
            prom = prometheus_name(name)
            other = owner.setdefault(prom, name)
            if other != name and (other, name) not in self._warned:
                # Stored before such pairs were refused at declaration: one family per name,
                # and the pair is named (once) rather than merged into one series set.
                self._warned.add((other, name))
                log.warning("metrics %r and %r both export as %r: only %r is exported; rename "
                            "one", other, name, prom, other)
            if other != name:
                continue
            label_names.setdefault(prom, set()).update(labels)
        families: dict[str, GaugeMetricFamily] = {}
        for source, name, labels, _ts, value in rows:
            prom = prometheus_name(name)
            if owner[prom] != name:
                continue
            keys = sorted(label_names[prom] - {"source"})
            if prom not in families:
                d = definitions.get(name, {})
                help_text = f"{d.get('description', name)} ({d.get('unit', '')})".strip()
                families[prom] = GaugeMetricFamily(prom, help_text, labels=[*keys, "source"])
            families[prom].add_metric([*(labels.get(k, "") for k in keys), source], value)
        yield from families.values()


def basic_auth(app: Callable[..., Iterable[bytes]], credentials: str) -> Callable[..., Any]:
    """Wrap a WSGI app so that every request needs `user:password` basic auth."""
    expected = "Basic " + base64.b64encode(credentials.encode()).decode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = environ.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="metrics"'),
                                                ("Content-Type", "text/plain")])
            return [b"authentication required\n"]
        return app(environ, start_response)

    return guarded


class _QuietHandler(WSGIRequestHandler):
    """No access log: a scrape every 15 s would flood the service's log."""

    def log_message(self, *args: Any) -> None:
        pass


def build_app(settings: Settings, store: MetricStore) -> Callable[..., Any]:
    """The WSGI app: `/metrics` from the store, behind basic auth when configured."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))  # type: ignore[arg-type]
    app = make_wsgi_app(registry)
    if settings.exporter_auth:
        return basic_auth(app, settings.exporter_auth.get_secret_value())
    return app


def check_exposure(settings: Settings) -> None:
    """Refuse a non-loopback bind without credentials."""
    if settings.exporter_host not in LOOPBACK and not settings.exporter_auth:
        raise ConfigError(
            f"AUTOMATION_EXPORTER_HOST={settings.exporter_host!r} exposes metrics beyond this "
            "machine: set AUTOMATION_EXPORTER_AUTH='user:password' or bind to 127.0.0.1"
        )


def serve(settings: Settings) -> None:
    """Serve `/metrics` until the process is stopped.

    Raises:
        ConfigError: the exporter is off (no port) or would be exposed without credentials.
        StoreError: the metrics store cannot be opened.
    """
    if settings.exporter_port is None:
        raise ConfigError("AUTOMATION_EXPORTER_PORT is not set: the exporter is off")
    check_exposure(settings)
    with MetricStore(settings.metrics_url) as store:
        server = make_server(settings.exporter_host, settings.exporter_port,
                             build_app(settings, store), ThreadingWSGIServer,
                             handler_class=_QuietHandler)
        print(f"exporting metrics at http://{settings.exporter_host}:{settings.exporter_port}"
              "/metrics", flush=True)
        server.serve_forever()


def main() -> int:
    """Run the exporter (the supervisor's `exporter` service); 2 on a configuration error."""
    try:
        serve(load_settings())
    except AutomationError as exc:
        print(f"exporter: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
