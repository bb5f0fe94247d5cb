"""An academy-py 1.0.0 user calling an agent served by Rust.

Usage: python call_rust_agent.py <exchange-url> <agent-uid> [<agent-name>]

Creates a user client with academy-py's HttpExchangeFactory (no auth),
calls the agent's actions with the json serializer (Rust agents speak
json only), prints one line per call and "ok" at the end; any failure
raises (non-zero exit).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from academy.exchange.cloud.client import HttpExchangeFactory
from academy.handle import Handle
from academy.identifier import AgentId
from academy.serialize import SerializationStrategy


async def main(url: str, uid: str, name: str | None) -> None:
    factory = HttpExchangeFactory(url, request_timeout_s=5)
    client = await factory.create_user_client(name='py-user')
    try:
        handle = Handle(
            AgentId(uid=uuid.UUID(uid), name=name),
            exchange=client,
            request_serializer=SerializationStrategy.JSON,
        )
        total = await asyncio.wait_for(handle.add(2, 40), 30)
        print(f'add(2, 40) = {total}', flush=True)
        assert total == 42, total

        echoed = await asyncio.wait_for(handle.echo(value={'from': 'python'}), 30)
        print(f'echo(value=...) = {echoed}', flush=True)
        assert echoed == {'from': 'python'}, echoed

        try:
            await asyncio.wait_for(handle.fail('from python'), 30)
        except asyncio.TimeoutError:
            raise
        except Exception as e:  # the agent's exception, decoded from json
            print(f'fail raised {type(e).__name__}: {str(e).rstrip()}', flush=True)
            assert 'from python' in str(e), e
        else:
            raise AssertionError('fail() did not raise')
        print('ok', flush=True)
    finally:
        await client.close()


if __name__ == '__main__':
    args = sys.argv[1:]
    if len(args) not in (2, 3):
        sys.exit(__doc__)
    url, uid = args[0], args[1]
    name = args[2] if len(args) == 3 else None
    asyncio.run(asyncio.wait_for(main(url, uid, name), timeout=120))
