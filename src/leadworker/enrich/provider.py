"""The HTTP enrichment provider: where a Clearbit- or Hunter-like service of the user's own plugs in.

Protocol (``LEADWORKER_ENRICH_PROVIDER_URL``): leadworker POSTs ``{"lead": {...}}`` (id, company_name, domain,
website, emails, phones, address, city, postal_code, country) with ``Authorization: Bearer <token>`` when
``LEADWORKER_ENRICH_PROVIDER_TOKEN`` is set. The service answers

- 200 with a JSON object of lead fields to merge (``company_name``, ``website``, ``emails``, ``phones``,
  ``address``, ``city``, ``region``, ``postal_code``, ``country``, ``contact_name``, ``description``,
  ``categories``, ``socials``; other keys are kept in the stored answer but not merged);
- 204 or 404 when it knows nothing about the lead;
- 429 or 5xx to be asked again later (``Retry-After`` is honoured, up to 30 seconds).

Requests go through a token bucket (``LEADWORKER_ENRICH_PROVIDER_RATE`` per second, bursts of
``LEADWORKER_ENRICH_PROVIDER_BURST``; per worker process) and are retried with tenacity (jittered exponential
backoff) on 429, 5xx, timeouts and connection errors. Any other answer is the provider refusing that lead: it is
recorded as failed and the lead goes on without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import ConfigDict, ValidationError, model_validator
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from leadworker.common.ratelimit import TokenBucket, retry_after_seconds
from leadworker.config import Settings, mask_url
from leadworker.contracts import LeadFields, LeadRecord, describe_validation_error
from leadworker.errors import PermanentError, TransientError, one_line

_MAX_RETRY_AFTER = 30.0


class ProviderUnavailable(TransientError):
    """The provider answered 429 or 5xx, timed out or could not be reached: ask again later."""

    kind = "provider"

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ProviderRefused(PermanentError):
    """The provider refused this lead (a 4xx other than 404/429) or answered something unreadable."""

    kind = "provider_refused"


class ProviderFields(LeadFields):
    """What a provider may merge into a lead. Like :class:`~leadworker.contracts.LeadRecord`, without the
    requirement that a name or contact be present (a provider may only add a description)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        return cls.split_lists(data) if isinstance(data, dict) else data

    def as_record(self) -> LeadRecord:
        """As a record for :func:`~leadworker.enrich.normalization.normalize_record` (validated here already)."""
        return LeadRecord.model_construct(**self.model_dump(), source_url=None, evidence={}, attributes={})


@dataclass
class ProviderAnswer:
    status: str
    """``ok`` (fields to merge) or ``empty`` (the provider knows nothing)."""
    fields: ProviderFields | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1


class HttpEnrichmentProvider:
    """One per worker process (its token bucket is the process's budget)."""

    def __init__(self, settings: Settings, *, bucket: TokenBucket | None = None) -> None:
        if not settings.enrich_provider_url:
            raise ValueError("LEADWORKER_ENRICH_PROVIDER_URL is not set")
        self.url = settings.enrich_provider_url
        self.name = settings.enrich_provider_name
        self.token = settings.enrich_provider_token
        self.timeout = settings.enrich_provider_timeout
        self.retries = settings.enrich_provider_retries
        self.user_agent = settings.user_agent
        self.bucket = bucket or TokenBucket(settings.enrich_provider_rate, settings.enrich_provider_burst)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        """POSTs sent (for tests and logs)."""

    @property
    def endpoint(self) -> str:
        """The provider's URL as recorded in provenance (password masked)."""
        return mask_url(self.url)

    def _session_or_open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    _backoff = wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.3)

    @classmethod
    def _wait(cls, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        base: float = cls._backoff(state)
        if isinstance(error, ProviderUnavailable) and error.retry_after is not None:
            return max(base, error.retry_after)
        return base

    async def lookup(self, lead: Mapping[str, Any]) -> ProviderAnswer:
        """Ask the provider about ``lead``. Raises :class:`ProviderUnavailable` once retries are spent, or
        :class:`ProviderRefused`."""
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(ProviderUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                attempts += 1
                answer = await self._once(lead)
                answer.attempts = attempts
                return answer
        raise AssertionError("unreachable")

    async def _once(self, lead: Mapping[str, Any]) -> ProviderAnswer:
        await self.bucket.acquire()
        self.requests += 1
        try:
            async with self._session_or_open().post(self.url, json={"lead": dict(lead)}) as response:
                status = response.status
                if status == 429 or status >= 500:
                    wait = retry_after_seconds(response.headers.get("Retry-After"), _MAX_RETRY_AFTER)
                    raise ProviderUnavailable(
                        f"enrichment provider {self.endpoint} answered HTTP {status}", retry_after=wait
                    )
                if status in (204, 404):
                    return ProviderAnswer("empty")
                if status != 200:
                    raise ProviderRefused(f"enrichment provider {self.endpoint} answered HTTP {status}")
                try:
                    data = await response.json(content_type=None)
                except ValueError as exc:
                    raise ProviderRefused(
                        f"enrichment provider answered 200 with a body that is not JSON: {one_line(exc, 100)}"
                    ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(
                f"enrichment provider {self.endpoint}: {type(exc).__name__}: {one_line(exc, 200)}"
            ) from exc
        if not isinstance(data, dict):
            raise ProviderRefused(f"enrichment provider answered a JSON {type(data).__name__}, expected an object")
        try:
            fields = ProviderFields.model_validate(data)
        except ValidationError as exc:
            raise ProviderRefused(f"enrichment provider answer: {describe_validation_error(exc)}") from None
        return ProviderAnswer("ok", fields, data)
