"""A DNS server for tests: UDP on 127.0.0.1, answering from a zone the test writes (dnslib reads and writes the
wire format), counting every question, and silent for the names the test wants to time out."""

from __future__ import annotations

import asyncio
from collections import Counter

from dnslib import QTYPE, RCODE, RR, DNSRecord

SOA = "test. 600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 600"


class ZoneServer(asyncio.DatagramProtocol):
    """Serves ``zone`` (zone-file lines, e.g. ``acme.test. 300 IN MX 10 mx.acme.test.``); names in ``silent``
    get no answer at all. ``questions`` counts ``(name, type)`` asked."""

    def __init__(self, zone: str, silent: set[str] | None = None) -> None:
        self.records: dict[str, list[RR]] = {}
        for rr in RR.fromZone(zone):
            self.records.setdefault(str(rr.rname).rstrip(".").lower(), []).append(rr)
        self.soa = RR.fromZone(SOA)[0]
        self.silent = {name.rstrip(".").lower() for name in silent or ()}
        self.questions: Counter[tuple[str, str]] = Counter()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        # The answers to the zone's own records, ready made (without the query id): a benchmark asking
        # thousands of names measures its client, not dnslib encoding replies on the same cores.
        self._ready: dict[bytes, tuple[tuple[str, str], bytes]] = {}
        for name, records in self.records.items():
            for rtype in {rr.rtype for rr in records}:
                query = DNSRecord.question(name, QTYPE[rtype])
                answer = bytes(self._reply(query).pack()[2:])
                self._ready[bytes(query.pack()[2:])] = ((name, QTYPE[rtype]), answer)

    async def start(self) -> str:
        """Listen on a free port; returns ``127.0.0.1:PORT`` for ``LEADWORKER_DNS_SERVERS``."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def asked(self, name: str) -> int:
        """Questions about ``name``, of any type."""
        return sum(n for (asked, _), n in self.questions.items() if asked == name.rstrip(".").lower())

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        assert self.transport is not None
        ready = self._ready.get(data[2:])
        if ready is not None and ready[0][0] not in self.silent:
            self.questions[ready[0]] += 1
            self.transport.sendto(data[:2] + ready[1], addr)
            return
        request = DNSRecord.parse(data)
        name = str(request.q.qname).rstrip(".").lower()
        self.questions[(name, QTYPE[request.q.qtype])] += 1
        if name not in self.silent:
            self.transport.sendto(self._reply(request).pack(), addr)

    def _reply(self, request: DNSRecord) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        reply = request.reply()
        owned = self.records.get(name, [])
        answers = [rr for rr in owned if rr.rtype == request.q.qtype]
        for rr in answers:
            reply.add_answer(rr)
        if not answers:
            reply.add_auth(self.soa)
            if not owned:
                reply.header.rcode = RCODE.NXDOMAIN
        return reply
