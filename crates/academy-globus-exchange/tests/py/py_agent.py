"""academy-py 1.0.0 as the agent of a Rust user: runs a Python Adder from
a GlobusAgentRegistration made by the Rust transport.

Usage: python py_agent.py <exchange-url> <project-id> <registration.json>

Prints "ok started" once running and "ok stopped" when its mailbox has
been terminated; any failure raises.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from academy.agent import Agent, action
from academy.exchange.cloud.globus import GlobusAgentRegistration
from academy.exchange.cloud.globus import GlobusExchangeFactory
from academy.runtime import Runtime


class Adder(Agent):
    """A tiny agent with one action."""

    @action
    async def add(self, a: int, b: int) -> int:
        return a + b


async def main(url: str, project: str, path: str) -> None:
    with open(path) as f:
        reg = GlobusAgentRegistration.model_validate_json(f.read())
    factory = GlobusExchangeFactory(
        uuid.UUID(project),
        client_params={'base_url': url},
        request_timeout_s=5,
    )
    runtime = Runtime(Adder(), exchange_factory=factory, registration=reg)
    print('ok started', flush=True)
    await runtime.run_until_complete()
    print('ok stopped', flush=True)


if __name__ == '__main__':
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:4]), timeout=120))
