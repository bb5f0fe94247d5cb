"""academy-py 1.0.0's HttpExchangeFactory against an exchange server.

Usage: python interop_http.py <base-url>
Prints one "ok <step>" line per passed step and exits 0; any failure raises.
"""

from __future__ import annotations

import asyncio
import sys

from academy.agent import Agent, action
from academy.exchange.cloud.client import HttpExchangeFactory
from academy.exchange.mailbox_status import MailboxStatus
from academy.handle import Handle
from academy.manager import Manager


class Adder(Agent):
    """A tiny agent with one action."""

    @action
    async def add(self, a: int, b: int) -> int:
        return a + b


def ok(step: str) -> None:
    print(f'ok {step}', flush=True)


async def main(url: str) -> None:
    factory = HttpExchangeFactory(url, request_timeout_s=5)
    async with await Manager.from_exchange_factory(factory) as manager:
        handle: Handle[Adder] = await manager.launch(Adder())
        assert await handle.add(1, 2) == 3
        ok('request-response')
        assert await handle.ping(timeout=10) >= 0
        ok('ping')

        client = manager.exchange_client
        found = await client.discover(Adder)
        assert handle.agent_id in found, found
        found_all = await client.discover(Agent, allow_subclasses=True)
        assert handle.agent_id in found_all, found_all
        ok('discover')

        status = await client.status(handle.agent_id)
        assert status in (MailboxStatus.ACTIVE, MailboxStatus.INACTIVE), status
        ok('status')

        stats = await client.agent_stats(handle.agent_id)
        assert stats.completed >= 2, stats
        ok('stats')

        await manager.shutdown(handle, blocking=True, terminate=True, timeout=30)
        status = await client.status(handle.agent_id)
        assert status == MailboxStatus.TERMINATED, status
        found = await client.discover(Adder)
        assert handle.agent_id not in found, found
        ok('terminate')

    # A raw user client: a request to a terminated agent fails cleanly.
    user = await factory.create_user_client()
    try:
        reg = await user.register_agent(Adder)
        await user.terminate(reg.agent_id)
        assert await user.status(reg.agent_id) == MailboxStatus.TERMINATED
        ok('user-client')
    finally:
        await user.close()


if __name__ == '__main__':
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=120))
