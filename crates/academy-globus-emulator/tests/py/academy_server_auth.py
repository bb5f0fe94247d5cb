"""academy-py's exchange-server authenticator against the emulator.

Run by tests/binary.rs with the environment from the binary's --env-file,
the binary started with --no-groups-tokens: academy-py's server hard-codes
the production Groups URL, so the emulator must give it no groups token and
it must fall back to no groups. Prints ``OK`` last.
"""

from __future__ import annotations

import asyncio
import os

import globus_sdk
from academy.exception import ForbiddenError
from academy.exchange.cloud.authenticate import GlobusAuthenticator

ENV = os.environ
EXCHANGE_ID = ENV["ACADEMY_EXCHANGE_CLIENT_ID"]
ADMIN_ID = ENV["ACADEMY_GLOBUS_CLIENT_ID"]
EXCHANGE_SCOPE = f"https://auth.globus.org/scopes/{EXCHANGE_ID}/academy_exchange"


async def main() -> None:
    admin = globus_sdk.ConfidentialAppAuthClient(ADMIN_ID, ENV["ACADEMY_GLOBUS_CLIENT_SECRET"])
    token = admin.oauth2_client_credentials_tokens(requested_scopes=EXCHANGE_SCOPE).by_resource_server[
        EXCHANGE_ID
    ]["access_token"]
    auth = GlobusAuthenticator()
    info = await auth.authenticate_user({"Authorization": f"Bearer {token}"})
    assert info.client_id == f"{ADMIN_ID}@clients.auth.globus.org", info
    assert info.group_memberships == [], info
    print("ok: academy-py authenticates a client identity with no groups")

    # A token for another resource server fails the audience check.
    other = admin.oauth2_client_credentials_tokens(requested_scopes="openid").by_resource_server[
        "auth.globus.org"
    ]["access_token"]
    try:
        await GlobusAuthenticator().authenticate_user({"Authorization": f"Bearer {other}"})
    except ForbiddenError:
        print("ok: wrong audience is forbidden")
    else:
        raise AssertionError("wrong audience accepted")

    # Revoked: a fresh authenticator (no cache) sees it at once.
    admin.oauth2_revoke_token(token)
    try:
        await GlobusAuthenticator().authenticate_user({"Authorization": f"Bearer {token}"})
    except ForbiddenError:
        print("ok: revoked token is forbidden")
    else:
        raise AssertionError("revoked token accepted")
    print("OK")


if __name__ == "__main__":
    asyncio.run(main())
