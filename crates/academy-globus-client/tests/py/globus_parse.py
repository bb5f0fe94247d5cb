"""Parse error and token-response bodies with the real globus-sdk.

Reads a JSON list of cases on stdin and prints a JSON list of results:
  {"kind": "error", "status": int, "content_type": str, "body": str, "auth": bool}
    -> {"http_status", "code", "messages", "request_id", "errors"}
  {"kind": "tokens", "body": str}
    -> {"by_resource_server": {rs: {..., "expires_in_left": int}}}
"""

import json
import sys
import time

import requests
from globus_sdk import GlobusAPIError
from globus_sdk.services.auth.errors import AuthAPIError
from globus_sdk.services.auth.response import OAuthTokenResponse


def response(status, content_type, body):
    r = requests.Response()
    r.status_code = status
    r._content = body.encode("utf-8")
    r.headers["Content-Type"] = content_type
    r.encoding = "utf-8"
    r.reason = "reason"
    r.request = requests.Request("GET", "http://127.0.0.1/x").prepare()
    return r


def main():
    out = []
    for case in json.load(sys.stdin):
        if case["kind"] == "error":
            cls = AuthAPIError if case["auth"] else GlobusAPIError
            e = cls(response(case["status"], case["content_type"], case["body"]))
            out.append(
                {
                    "http_status": e.http_status,
                    "code": e.code,
                    "messages": e.messages,
                    "request_id": e.request_id,
                    "errors": [dict(sub.raw) for sub in e.errors],
                }
            )
        else:
            r = OAuthTokenResponse(
                response(200, "application/json", case["body"]), client=object()
            )
            now = int(time.time())
            by_rs = {}
            for rs, data in r.by_resource_server.items():
                data = dict(data)
                data["expires_in_left"] = data.pop("expires_at_seconds") - now
                by_rs[rs] = data
            out.append({"by_resource_server": by_rs})
    json.dump(out, sys.stdout)


main()
