"""Runs academy-py 1.0.0's exchange server for the benchmarks.

Same application and aiohttp server as ``python -m academy.exchange.cloud
--config FILE`` (``app.py::_run`` calls ``run_app``, which is an
``AppRunner`` plus a ``TCPSite``), but bound to port 0 on 127.0.0.1 and
announcing the chosen port on stdout, so that the harness waits for an
event instead of polling the port.

Usage: python server.py CONFIG.toml
First line on stdout: ``listening on http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from academy.exchange.cloud.app import create_app
from academy.exchange.cloud.config import ExchangeServingConfig


async def main(path: str) -> None:
    config = ExchangeServingConfig.from_toml(path)
    config.logger.init_logger()
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    print(f'listening on http://127.0.0.1:{port}', flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1]))
