"""kopf's webhook server under the product's serving policy (otel_operator.serving): the same idle timeout, connection
cap, descriptor guard and one-line bad requests as every other listener, a logged TLS refusal (serving_tls), and a
deadline for reading a review's body.

kopf's `WebhookServer` opens a plain `aiohttp.web.TCPSite` with no keep-alive limit of ours and no cap; its serving
loop is short, so it is restated here with our site and runner. What kopf does around it is kept: the SSL context and
the client config it builds, the re-serve when the certificate files change, the review handling itself. Beside
kopf's admission routes, `/convert` answers the OpenTelemetryCollector CRD's ConversionReviews (v1alpha1 ⇄ v1beta1).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import kopf
import orjson

from otel_operator import serving
from otel_operator.admission.names import CONVERSION_PATH
from otel_operator.api.conversion import convert_review
from otel_operator.serving_tls import TLSSite

log = logging.getLogger("otel_operator.admission")

MAX_REVIEW_BYTES = 64 << 20  # a LIST of many collectors; each object is up to 1.5 MiB (etcd)
CONVERT_IN_LOOP = 4  # reviews with more objects are converted in a worker thread


class GuardedWebhookServer(kopf.WebhookServer):
    """`kopf.WebhookServer` served by `TLSSite` with `limits`; a review's body must arrive within the idle timeout."""

    def __init__(self, *, limits: serving.ServerLimits | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits or serving.ServerLimits()
        self.site: serving.GuardedSite | None = None  # the current one (a renewed certificate makes a new one)

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async def serve_review(request: aiohttp.web.Request) -> aiohttp.web.Response:
            try:  # a client that sends its head and trickles the body holds a connection: give it a deadline
                await asyncio.wait_for(request.read(), self.limits.idle_timeout)
            except TimeoutError:
                raise aiohttp.web.HTTPRequestTimeout(text="the request body did not arrive in time\n") from None
            return await self._serve(fn, request)  # kopf's: reads the (now cached) body and answers the review

        async def serve_conversion(request: aiohttp.web.Request) -> aiohttp.web.Response:
            try:
                raw = await asyncio.wait_for(request.read(), self.limits.idle_timeout)
            except TimeoutError:
                raise aiohttp.web.HTTPRequestTimeout(text="the request body did not arrive in time\n") from None
            try:
                review = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise aiohttp.web.HTTPBadRequest(text="the body is not a JSON ConversionReview\n") from None
            if not isinstance(review, dict):
                raise aiohttp.web.HTTPBadRequest(text="the body is not a JSON ConversionReview\n")
            # a GET converts one object (microseconds); a LIST sends them all in one review: those go to a thread
            # (an 18 KB config takes ~20 ms to write as YAML), so admission reviews are not held up meanwhile
            objects = (review.get("request") or {}).get("objects") if isinstance(review.get("request"), dict) else None
            many = isinstance(objects, list) and len(objects) > CONVERT_IN_LOOP
            answer = await asyncio.to_thread(convert_review, review) if many else convert_review(review)
            result = answer["response"]["result"]
            if result["status"] != "Success":
                log.info("refused a conversion: %s", result.get("message"), extra={"uid": answer["response"]["uid"]})
            return aiohttp.web.Response(body=orjson.dumps(answer), content_type="application/json")

        while True:
            cadata, context = self._build_ssl()
            path = self.path.rstrip("/") if self.path else ""
            # a v1alpha1 LIST is one ConversionReview of every object: more than aiohttp's default 1 MiB
            app = aiohttp.web.Application(client_max_size=MAX_REVIEW_BYTES)
            app.add_routes(
                [  # the CRD's conversion first: kopf's route takes every other path
                    aiohttp.web.post(f"{path}/{CONVERSION_PATH.lstrip('/')}", serve_conversion),
                    aiohttp.web.post(f"{path}/{{id:.*}}", serve_review),
                ]
            )
            runner = serving.runner(app, self.limits)
            await runner.setup()
            try:
                addr = self.addr or None  # None: every interface
                port = self.port or self._allocate_free_port()
                site_class = TLSSite if context is not None else serving.GuardedSite
                self.site = site_class(
                    runner, addr, port, ssl_context=context, limits=self.limits, name="webhooks",
                    reuse_address=True, reuse_port=True,
                )  # fmt: skip
                await self.site.start()
                schema = "http" if context is None else "https"
                host = self.host or self.DEFAULT_HOST or self._get_accessible_addr(self.addr)
                client_config = kopf.WebhookClientConfig(url=self._build_url(schema, host, port, self.path or ""))
                if cadata is not None:
                    client_config["caBundle"] = base64.b64encode(cadata).decode("ascii")
                yield client_config
                await self._WebhookServer__sleep_forever_or_until_ssl_files_change()  # type: ignore[attr-defined]
                log.info("serving the renewed webhook certificate")
            finally:
                await runner.cleanup()
