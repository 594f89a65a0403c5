"""A Zoho-like webhook sender: signed webhooks at a steady rate, each one delivered again
later, with the same body, until it is acknowledged (any 2xx), as Zoho retries a delivery
that failed (connection error, timeout, 429 or 5xx).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from inbox.signatures import sign

CONTENT_TYPE = "application/json"
MAX_BACKOFF_SECONDS = 16.0


@dataclass
class Webhook:
    entity: str
    body: bytes
    due: float  # when it was first meant to go out (monotonic)
    tries: int = 0


@dataclass
class Results:
    """What the sender saw; filled by its threads under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[str] = field(default_factory=Counter)  # per attempt: "202", "ConnectError"
    acknowledged: dict[str, float] = field(default_factory=dict)  # event id -> seconds to ack
    ack_latencies: list[float] = field(default_factory=list)  # the acknowledging request's
    refused: list[str] = field(default_factory=list)  # 4xx other than 429: never retried
    created: int = 0
    sender_max_late: float = 0.0
    sending_for: float = 0.0  # seconds from the first webhook's due time to the last 2xx

    @property
    def acknowledged_per_second(self) -> float:
        return len(self.acknowledged) / self.sending_for if self.sending_for else 0.0

    @property
    def attempts(self) -> int:
        return sum(self.answers.values())


class Sender:
    """Sends ``rate`` new webhooks a second (made by ``make``) from ``threads`` threads."""

    def __init__(
        self, base: str, secret: str, make: Callable[[float], Webhook], rate: float, threads: int
    ) -> None:
        self.base, self.secret, self.make = base, secret, make
        self.rate, self.threads = rate, threads
        self.results = Results()
        self._due: list[tuple[float, int, Webhook]] = []  # a heap: (send at, order, webhook)
        self._order = itertools.count()
        self._outstanding = 0
        self._stopping = False
        self._changed = threading.Condition()
        self._start = time.monotonic()

    def run(self, seconds: float, retry_for: float) -> Results:
        """New webhooks for ``seconds``; then retries only, for at most ``retry_for``."""
        pool = [threading.Thread(target=self._deliver, daemon=True) for _ in range(self.threads)]
        for thread in pool:
            thread.start()
        start = self._start = time.monotonic()
        for n in itertools.count():
            due = start + n / self.rate
            if due >= start + seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            self._schedule(self.make(due), due)
            self.results.created += 1
        with self._changed:
            self._changed.wait_for(lambda: self._outstanding == 0, timeout=retry_for)
            self._stopping = True
            self._changed.notify_all()
        for thread in pool:
            thread.join(30)
        return self.results

    def left_over(self) -> tuple[int, int]:
        """After ``run``: webhooks never sent (the sender fell behind), and webhooks sent but
        still unacknowledged when it stopped retrying."""
        never = sum(1 for _, _, webhook in self._due if webhook.tries == 0)
        return never, len(self._due) - never

    def _schedule(self, webhook: Webhook, at: float) -> None:
        with self._changed:
            if webhook.tries == 0:
                self._outstanding += 1
            heapq.heappush(self._due, (at, next(self._order), webhook))
            self._changed.notify()

    def _settle(self) -> None:
        with self._changed:
            self._outstanding -= 1
            self._changed.notify_all()

    def _next(self) -> Webhook | None:
        with self._changed:
            while not self._stopping:
                if self._due and self._due[0][0] <= time.monotonic():
                    at, _, webhook = heapq.heappop(self._due)
                    self.results.sender_max_late = max(
                        self.results.sender_max_late, time.monotonic() - at
                    )
                    return webhook
                wait = self._due[0][0] - time.monotonic() if self._due else None
                self._changed.wait(wait)
            return None

    def _deliver(self) -> None:
        with httpx.Client(timeout=10) as client:
            while (webhook := self._next()) is not None:
                self._send(client, webhook)

    def _send(self, client: httpx.Client, webhook: Webhook) -> None:
        webhook.tries += 1
        headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Zoho-Webhook-Signature": sign(self.secret, "", CONTENT_TYPE, webhook.body),
        }
        url = f"{self.base}/webhooks/zoho/{webhook.entity}/"
        sent_at = time.monotonic()
        retry_after = None
        try:
            response = client.post(url, content=webhook.body, headers=headers)
        except httpx.HTTPError as error:
            answer = type(error).__name__
        else:
            answer = str(response.status_code)
            retry_after = response.headers.get("Retry-After")
        took = time.monotonic() - sent_at
        acknowledged = answer.startswith("2")
        refused = answer.startswith("4") and answer != "429"  # the body is wrong: no retry
        results = self.results
        with results.lock:
            results.answers[answer] += 1
            if acknowledged:
                results.acknowledged[response.json()["event_id"]] = time.monotonic() - webhook.due
                results.sending_for = time.monotonic() - self._start
                results.ack_latencies.append(took)
            elif refused:
                results.refused.append(f"{answer} {response.text[:200]}")
        if acknowledged or refused:
            self._settle()
            return
        backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** (webhook.tries - 1))
        wait = float(retry_after) if retry_after and retry_after.isdigit() else backoff
        self._schedule(webhook, time.monotonic() + wait)
