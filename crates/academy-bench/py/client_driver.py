"""academy-py 1.0.0 client side of the benchmarks.

Started by the Rust harness (``crates/academy-bench``) as
``python client_driver.py '<json params>'``. Protocol on stdio, one JSON
object per line:

1. set-up (transports, mailboxes), then ``{"event": "ready"}``;
2. wait for a line on stdin (the harness samples the server's CPU time);
3. run the scenario, then ``{"event": "result", ...}``;
4. close everything and exit.

Everything happens at the transport level (``HttpExchangeTransport.send``
and ``.listen``) so that the exchange path is measured, not the agent
runtime; the Rust side does exactly the same with its transport.

Scenarios (``params["scenario"]``):

* ``round_trip``: a user sends a request to an agent mailbox; an echo task
  listening on the agent mailbox answers (ping -> success-response, action
  -> action-response carrying the same already-encoded arguments); the user
  waits for the answer on its own listen stream. Result:
  ``latencies_us`` (one per trip, after ``warmup`` trips).
* ``throughput``: ``pairs`` sender->receiver pairs; each sender sends
  ``per_pair`` action requests (awaiting each send), each receiver counts
  its messages. Result: ``sent``, ``received``, ``elapsed_s`` (go to last
  delivery).

Every phase is bounded by ``cap_s`` seconds of wall clock.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from academy.agent import Agent
from academy.exchange.cloud.client import HttpExchangeFactory
from academy.message import ActionRequest
from academy.message import ActionResponse
from academy.message import Message
from academy.message import PingRequest
from academy.message import SuccessResponse


class BenchEcho(Agent):
    """Agent type registered for the benchmark mailboxes."""


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def request_body(payload_bytes: int | None) -> Any:
    if payload_bytes is None:
        return PingRequest()
    # Already-encoded arguments: pydantic passes a str through unchanged,
    # exactly the text the Rust side sends.
    return ActionRequest(
        action='echo',
        serialization='json',
        pargs=json.dumps(['x' * payload_bytes]),
        kargs='{}',
    )


def echo_body(message: Message[Any]) -> Any:
    body = message.body
    if isinstance(body, dict) and body.get('kind') == 'action-request':
        return ActionResponse(
            result=['__serialized__', body.get('pargs')],
            serialization='json',
        )
    return SuccessResponse()


async def wait_go() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)


async def echo_loop(agent: Any) -> None:
    async for message in agent.listen():
        if message.is_request():
            await agent.send(message.create_response(echo_body(message)))


async def round_trip(p: dict[str, Any]) -> None:
    factory = HttpExchangeFactory(p['url'], additional_headers=dict(p['headers']))
    user = await factory._create_transport()  # noqa: SLF001
    reg = await user.register_agent(BenchEcho)
    agent = await factory._create_transport(mailbox_id=reg.agent_id)  # noqa: SLF001
    echo = asyncio.create_task(echo_loop(agent))
    responses = user.listen()
    payload = p.get('payload_bytes')

    async def trip() -> float:
        start = time.perf_counter()
        request = Message.create(
            src=user.mailbox_id,
            dest=reg.agent_id,
            body=request_body(payload),
        )
        await user.send(request)
        response = await responses.__anext__()
        elapsed = time.perf_counter() - start
        if response.tag != request.tag:
            raise RuntimeError('response tag does not match the request')
        return elapsed

    for _ in range(p['warmup']):
        await trip()
    emit({'event': 'ready'})
    await wait_go()
    latencies: list[float] = []
    deadline = time.perf_counter() + p['cap_s']
    try:
        while len(latencies) < p['count'] and time.perf_counter() < deadline:
            latencies.append(
                await asyncio.wait_for(trip(), deadline - time.perf_counter() + 5),
            )
    except asyncio.TimeoutError:
        pass
    emit({'event': 'result', 'latencies_us': [x * 1e6 for x in latencies]})
    echo.cancel()
    await responses.aclose()
    await user.terminate(reg.agent_id)
    await user.terminate(user.mailbox_id)
    await agent.close()
    await user.close()


async def throughput(p: dict[str, Any]) -> None:
    factory = HttpExchangeFactory(p['url'], additional_headers=dict(p['headers']))
    pairs = []
    for _ in range(p['pairs']):
        sender = await factory._create_transport()  # noqa: SLF001
        reg = await sender.register_agent(BenchEcho)
        receiver = await factory._create_transport(mailbox_id=reg.agent_id)  # noqa: SLF001
        pairs.append((sender, receiver, reg.agent_id))
    per_pair = p['per_pair']
    payload = p.get('payload_bytes')
    emit({'event': 'ready'})
    await wait_go()
    start = time.perf_counter()
    deadline = start + p['cap_s']
    sent = 0
    received = 0
    last = start

    async def send_all(sender: Any, dest: Any) -> None:
        nonlocal sent
        for _ in range(per_pair):
            if time.perf_counter() > deadline:
                return
            await sender.send(
                Message.create(
                    src=sender.mailbox_id,
                    dest=dest,
                    body=request_body(payload),
                ),
            )
            sent += 1

    async def receive_all(receiver: Any) -> None:
        nonlocal received, last
        n = 0
        stream = receiver.listen()
        try:
            async for _ in stream:
                n += 1
                received += 1
                last = time.perf_counter()
                if n >= per_pair:
                    return
        finally:
            await stream.aclose()

    receivers = [asyncio.create_task(receive_all(r)) for _, r, _ in pairs]
    senders = [asyncio.create_task(send_all(s, d)) for s, _, d in pairs]
    await asyncio.wait(senders, timeout=p['cap_s'] + 5)
    # Receivers get a short grace period after the cap for messages in flight.
    remaining = max(deadline - time.perf_counter(), 0) + 2
    await asyncio.wait(receivers, timeout=remaining)
    emit(
        {
            'event': 'result',
            'sent': sent,
            'received': received,
            'elapsed_s': last - start,
        },
    )
    for t in receivers + senders:
        t.cancel()
    for sender, receiver, dest in pairs:
        await sender.terminate(dest)
        await sender.terminate(sender.mailbox_id)
        await receiver.close()
        await sender.close()


async def main() -> None:
    params = json.loads(sys.argv[1])
    scenario = params['scenario']
    if scenario == 'round_trip':
        await round_trip(params)
    elif scenario == 'throughput':
        await throughput(params)
    else:
        raise SystemExit(f'unknown scenario {scenario!r}')


if __name__ == '__main__':
    asyncio.run(main())
