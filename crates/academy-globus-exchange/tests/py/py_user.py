"""academy-py 1.0.0's GlobusExchangeFactory (confidential client mode) as
the user of an agent served by Rust.

Usage: python py_user.py <exchange-url> <project-id> <dir>

Registers an agent (academy-py creates its Globus Auth client), writes the
registration to <dir>/registration.json for the Rust agent, calls
add(2, 3) with the json serializer, terminates the agent. Prints one
"ok <step>" line per step; any failure raises.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from academy.agent import Agent, action
from academy.exchange.cloud.globus import GlobusExchangeFactory
from academy.handle import Handle
from academy.serialize import SerializationStrategy


class Adder(Agent):
    """The interface the Rust agent serves."""

    @action
    async def add(self, a: int, b: int) -> int:
        return a + b


def ok(step: str) -> None:
    print(f'ok {step}', flush=True)


async def main(url: str, project: str, out: str) -> None:
    factory = GlobusExchangeFactory(
        uuid.UUID(project),
        client_params={'base_url': url},
        request_timeout_s=5,
    )
    client = await factory.create_user_client(name='py-user')
    try:
        reg = await client.register_agent(Adder, name='rust-adder')
        ok('register')
        tmp = os.path.join(out, 'registration.tmp')
        with open(tmp, 'w') as f:
            f.write(reg.model_dump_json())
        os.rename(tmp, os.path.join(out, 'registration.json'))
        # Rust agents speak the json serialization only.
        handle = Handle(
            reg.agent_id,
            exchange=client,
            request_serializer=SerializationStrategy.JSON,
        )
        result = await asyncio.wait_for(handle.add(2, 3), 60)
        assert result == 5, result
        ok('add')
        await client.terminate(reg.agent_id)
        ok('terminate')
    finally:
        await client.close()


if __name__ == '__main__':
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:4]), timeout=120))
