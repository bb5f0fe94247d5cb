"""Validate Rust-made messages with academy-py 1.0.0.

Usage: python check_rust_messages.py < messages.jsonl > report.jsonl

Each input line is one message as Rust emits it. For each, one output line:
{"ok": true, "reemitted": <model_dump_json() text>, "kind": ..., and the
decoded payload: "args"/"kwargs" (action-request, json), "result"
(action-response), "exception": {"type", "text"} (error responses)}, or
{"ok": false, "error_type": ..., "error": ...} when academy-py rejects it.
Used by tests/interop_py.rs.
"""

from __future__ import annotations

import json
import sys

from academy.message import AcademyErrorResponse
from academy.message import ActionRequest
from academy.message import ActionResponse
from academy.message import Message
from academy.message import UserErrorResponse
from academy.serialize import SerializationStrategy


def check(line: str) -> dict:
    message = Message.model_validate_json(line)
    reemitted = message.model_dump_json()
    report: dict = {'ok': True, 'reemitted': reemitted, 'header_kind': message.header.kind}
    try:
        body = message.get_body()
    except Exception as e:  # noqa: BLE001 - reported to the Rust side
        report.update(ok=False, error_type=type(e).__name__, error=str(e))
        return report
    report['kind'] = body.kind
    if isinstance(body, ActionRequest) and body.serialization == SerializationStrategy.JSON:
        report['args'] = list(body.get_args())
        report['kwargs'] = body.get_kwargs()
    elif isinstance(body, ActionResponse):
        report['result'] = body.get_result()
    elif isinstance(body, (UserErrorResponse, AcademyErrorResponse)):
        exc = body.get_exception()
        report['exception'] = {'type': type(exc).__name__, 'text': str(exc)}
    # The typed body re-serialises to the same JSON (catches field drift).
    report['reemitted_typed'] = Message(header=message.header, body=body).model_dump_json()
    return report


def main() -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            report = check(line)
        except Exception as e:  # noqa: BLE001
            report = {'ok': False, 'error_type': type(e).__name__, 'error': str(e)}
        sys.stdout.write(json.dumps(report) + '\n')


if __name__ == '__main__':
    main()
