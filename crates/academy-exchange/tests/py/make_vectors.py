"""Golden wire vectors produced by academy-py 1.0.0.

Regenerate (from the workspace root, with the pinned venv):

    target/venv/bin/python crates/academy-exchange/tests/py/make_vectors.py \
        crates/academy-exchange/tests/vectors

(`cargo xtask vectors` runs exactly this.) The output is deterministic:
fixed UUIDs, no tracebacks. Each vector is one file holding the exact text
academy-py emits (`model_dump_json()`, no trailing newline); `index.json`
lists them with what a decoder must find inside and with the inputs a Rust
encoder needs to rebuild the same bytes.
"""

from __future__ import annotations

import json
import pathlib
import sys
import uuid

import academy
from academy.identifier import AgentId
from academy.identifier import UserId
from academy.message import AcademyErrorResponse
from academy.message import ActionRequest
from academy.message import ActionResponse
from academy.message import CancelRequest
from academy.message import ErrorCode
from academy.message import Message
from academy.message import PingRequest
from academy.message import ShutdownRequest
from academy.message import SuccessResponse
from academy.message import UserErrorResponse
from academy.serialize import SerializationStrategy

JSON = SerializationStrategy.JSON
PICKLE = SerializationStrategy.PICKLE

ALICE = UserId(uid=uuid.UUID('4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b'), name='alice')
ANON_USER = UserId(uid=uuid.UUID('0c9a2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'))
ADDER = AgentId(uid=uuid.UUID('9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f'), name='adder')
ANON_AGENT = AgentId(uid=uuid.UUID('1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b'))
TAG = uuid.UUID('11111111-2222-4333-8444-555555555555')
LABEL = uuid.UUID('66666666-7777-4888-9999-aaaaaaaaaaaa')

UNICODE_ARGS = ['héllo ☃ 😀', {'nested': [1, 2.5, None, True, {'k': 'v'}], 'empty': {}}, []]
UNICODE_KWARGS = {'ключ': 'значение', 'emoji': '😀', 'tab\tquote"': '\\'}
FLOATS = [0.1, 1e-05, 1e16, 1e15, -0.5, 123456789.125, 1.0]


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    assert academy.__version__ == '1.0.0', academy.__version__
    index = []

    def emit(name: str, text: str, entry: dict) -> None:
        (out / f'{name}.json').write_text(text, encoding='utf-8')
        index.append({'name': name, 'file': f'{name}.json', **entry})

    for name, ident, kind in [
        ('id_agent_named', ADDER, 'agent_id'),
        ('id_agent_unnamed', ANON_AGENT, 'agent_id'),
        ('id_user_named', ALICE, 'user_id'),
        ('id_user_unnamed', ANON_USER, 'user_id'),
    ]:
        emit(name, ident.model_dump_json(), {'type': kind, 'uid': str(ident.uid), 'id_name': ident.name})

    def message(name, src, dest, body, label=LABEL, tag=TAG, **expect):
        m = Message.create(src, dest, body, label=label, tag=tag)
        emit(
            name,
            m.model_dump_json(),
            {'type': 'message', 'kind': body.kind, 'header_kind': m.header.kind, **expect},
        )

    def request(name, action, args, kwargs, **extra):
        body = ActionRequest(action=action, pargs=tuple(args), kargs=kwargs, serialization=JSON, **extra)
        rebuild = {'action': action, 'args': args, 'kwargs': kwargs}
        rebuild.update({k: v.value for k, v in extra.items()})
        message(name, ALICE, ADDER, body, rebuild=rebuild, args=args, kwargs=kwargs)

    request('action_request_json_add', 'add', [1, 2], {'scale': 10})
    request('action_request_json_unicode_nested', 'echo', UNICODE_ARGS, UNICODE_KWARGS)
    request('action_request_json_no_args', 'status', [], {})
    request('action_request_json_floats', 'mean', FLOATS, {'big': 2**53 + 1, 'neg': -7})
    request(
        'action_request_json_strategies',
        'add',
        [1, 2],
        {},
        result_serialization=JSON,
        exception_serialization=JSON,
    )
    message(
        'action_request_pickle',
        ALICE,
        ADDER,
        ActionRequest(action='add', pargs=(1, 2), kargs={'scale': 10}, serialization=PICKLE),
        opaque=True,
    )
    message('ping_request', ALICE, ADDER, PingRequest(), label=None)
    message('cancel_request', ALICE, ADDER, CancelRequest(target_tag=LABEL), rebuild={'target_tag': str(LABEL)})
    for value, suffix in [(None, 'null'), (True, 'true'), (False, 'false')]:
        message(f'shutdown_request_{suffix}', ALICE, ADDER, ShutdownRequest(terminate=value), rebuild={'terminate': value})

    def response(name, value, src=ADDER, dest=ALICE):
        message(
            name,
            src,
            dest,
            ActionResponse(result=value, serialization=JSON),
            result=value,
            rebuild={'result': value},
        )

    response('action_response_int', 30)
    response('action_response_str', 'hi')
    response('action_response_null', None)
    response('action_response_unicode_nested', {'text': 'naïve ☃ 😀', 'xs': [1, [2, [3]], {'y': None}]})
    response('action_response_floats', FLOATS)
    response('action_response_to_agent', [1, 2], src=ANON_AGENT, dest=ADDER)

    for code, mailbox in [
        (ErrorCode.MAILBOX_TERMINATED, ADDER),
        (ErrorCode.PING_CANCELLED, None),
        (ErrorCode.ACTION_INVALID_STATE, None),
        (ErrorCode.ACTION_CANCELLED, None),
        (ErrorCode.INVALID_CLIENT, ALICE),
        (ErrorCode.INCOMPATIBLE_PROTOCOL, ADDER),
    ]:
        message(
            f'academy_error_{int(code)}',
            ADDER,
            ALICE,
            AcademyErrorResponse(error_code=code, mailbox_id=mailbox),
            error_code=int(code),
            rebuild={
                'error_code': int(code),
                'mailbox_id': None if mailbox is None else json.loads(mailbox.model_dump_json()),
            },
        )

    for name, exc in [
        ('user_error_zero_division', ZeroDivisionError('division by zero')),
        ('user_error_unicode', ValueError('naïve ☃ 😀')),
        ('user_error_attribute', AttributeError('AdderAgent does not have an action named "nope".')),
    ]:
        message(
            name,
            ADDER,
            ALICE,
            UserErrorResponse(exception=exc, serialization=JSON),
            exception_str=f'{type(exc).__name__}: {exc}\n',
            rebuild={'type_name': type(exc).__name__, 'message': str(exc)},
        )
    message('success_response', ADDER, ALICE, SuccessResponse())

    (out / 'index.json').write_text(json.dumps(index, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')


if __name__ == '__main__':
    main()
