"""Drive the Globus Auth emulator with the real globus-sdk (and academy-py).

Run by tests/sdk_interop.rs with the emulator's environment (GLOBUS_SDK_SERVICE_URL_*
and ACADEMY_* variables) set. Every check raises on failure; the last line
printed is ``OK``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.parse
import urllib.request

import globus_sdk
import requests
from globus_sdk.globus_app import ClientApp, GlobusAppConfig, UserApp
from globus_sdk.login_flows import CommandLineLoginFlowManager
from globus_sdk.scopes import Scope

ENV = os.environ
BASE = ENV["GLOBUS_SDK_SERVICE_URL_AUTH"]
EXCHANGE_ID = ENV["ACADEMY_EXCHANGE_CLIENT_ID"]
EXCHANGE_SECRET = ENV["ACADEMY_EXCHANGE_SECRET"]
EXCHANGE_SCOPE_ID = ENV["ACADEMY_GLOBUS_SCOPE_ID"]
ADMIN_ID = ENV["ACADEMY_GLOBUS_CLIENT_ID"]
ADMIN_SECRET = ENV["ACADEMY_GLOBUS_CLIENT_SECRET"]
PROJECT_ID = ENV["ACADEMY_GLOBUS_PROJECT_ID"]
NATIVE_ID = "1624cf3f-45ee-4f54-9de4-2d5d79191346"
EXCHANGE_SCOPE = f"https://auth.globus.org/scopes/{EXCHANGE_ID}/academy_exchange"
GROUPS_SCOPE = "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships"
MANAGE = "urn:globus:auth:scope:auth.globus.org:manage_projects"
ALICE = "alice@example.org"
GROUP_ID = "9a0c0000-0000-4000-8000-0000000000a1"


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def expect_api_error(fn, status: int, what: str) -> globus_sdk.GlobusAPIError:
    try:
        fn()
    except globus_sdk.GlobusAPIError as e:
        check(e.http_status == status, f"{what}: HTTP {e.http_status} == {status}")
        return e
    raise AssertionError(f"{what}: no error raised")


def groups_of(token: str) -> list[str]:
    """What academy-py's server does with a groups token (exchange-http-api §3.3)."""
    groups_url = ENV["GLOBUS_SDK_SERVICE_URL_GROUPS"] + "v2/groups/my_groups"
    r = requests.get(groups_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    check(r.status_code == 200, "my_groups answers 200")
    return [
        g["id"]
        for g in r.json()
        if any(m["status"] == "active" for m in g["my_memberships"])
    ]


def confidential() -> None:
    admin = globus_sdk.ConfidentialAppAuthClient(ADMIN_ID, ADMIN_SECRET)
    exchange = globus_sdk.ConfidentialAppAuthClient(EXCHANGE_ID, EXCHANGE_SECRET)

    # Client credentials, several resource servers at once.
    tokens = admin.oauth2_client_credentials_tokens(
        requested_scopes=[MANAGE, "openid", EXCHANGE_SCOPE]
    )
    rs = tokens.by_resource_server
    check(set(rs) == {"auth.globus.org", EXCHANGE_ID}, "cc tokens by resource server")
    check(tokens.by_scopes[EXCHANGE_SCOPE]["resource_server"] == EXCHANGE_ID, "by_scopes")
    auth_token = rs["auth.globus.org"]["access_token"]
    decoded = tokens.decode_id_token()
    check(decoded["sub"] == ADMIN_ID, "client id_token decodes with the JWK")

    # Introspection as the exchange does it.
    info = exchange.oauth2_token_introspect(rs[EXCHANGE_ID]["access_token"], include="identity_set")
    check(info["active"] is True, "introspect active")
    check(EXCHANGE_ID in info["aud"], "aud holds the exchange id")
    check(info["username"] == f"{ADMIN_ID}@clients.auth.globus.org", "client username")
    check(info["client_id"] == ADMIN_ID and info["sub"] == ADMIN_ID, "client_id/sub")
    check(info["identity_set"] == [ADMIN_ID], "identity_set")
    check(EXCHANGE_SCOPE in info["scope"].split(), "introspect scope")

    # Exchange gets a groups dependent token for the client identity.
    dep = exchange.oauth2_get_dependent_tokens(rs[EXCHANGE_ID]["access_token"], scope=GROUPS_SCOPE)
    check(GROUPS_SCOPE in dep.by_scopes.scope_map, "groups dependent token")
    check(groups_of(dep.by_scopes[GROUPS_SCOPE]["access_token"]) == [], "client has no groups")

    # Wrong secret: typed Globus error.
    bad = globus_sdk.ConfidentialAppAuthClient(ADMIN_ID, "wrong-secret")
    err = expect_api_error(
        lambda: bad.oauth2_client_credentials_tokens(requested_scopes="openid"), 401, "wrong secret"
    )
    check(err.code == "INVALID_CLIENT" and err.request_id, "error code and request_id parsed")
    expect_api_error(
        lambda: admin.oauth2_client_credentials_tokens(requested_scopes="urn:nope"), 400, "unknown scope"
    )

    # Agent registration, headless (globus-exchange-client §5.6 with a client identity).
    ac = globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(auth_token))
    created = ac.create_client(
        "AgentId<9d3e5f70>",
        PROJECT_ID,
        client_type="hybrid_confidential_client_resource_server",
        visibility="private",
    )
    agent_id = created["client"]["id"]
    check(created["client"]["project"] == PROJECT_ID, "create_client")
    secret = ac.create_client_credential(agent_id, "Launch Credentials")["credential"]["secret"]
    check(bool(secret), "create_client_credential shows the secret")
    scope_resp = ac.create_scope(
        agent_id,
        "Agent launch",
        "Launch agent",
        "launch",
        dependent_scopes=[globus_sdk.DependentScopeSpec(EXCHANGE_SCOPE_ID, False, True)],
        allows_refresh_token=True,
    )
    launch = scope_resp["scopes"][0]["scope_string"]
    check(launch == f"https://auth.globus.org/scopes/{agent_id}/launch", "create_scope string")
    expect_api_error(
        lambda: ac.create_scope(agent_id, "x", "y", "launch"), 409, "duplicate scope"
    )

    launch_token = admin.oauth2_client_credentials_tokens(requested_scopes=launch).by_resource_server[
        agent_id
    ]["access_token"]
    agent = globus_sdk.ConfidentialAppAuthClient(agent_id, secret)
    dep = agent.oauth2_get_dependent_tokens(
        launch_token, scope=EXCHANGE_SCOPE, additional_params={"access_type": "offline"}
    )
    refresh = dep.by_resource_server[EXCHANGE_ID]["refresh_token"]
    check(bool(refresh), "dependent exchange token with refresh token")
    authorizer = globus_sdk.RefreshTokenAuthorizer(refresh, agent)
    agent_token = authorizer.get_authorization_header().split(" ", 1)[1]
    info = exchange.oauth2_token_introspect(agent_token)
    check(info["active"] and info["client_id"] == agent_id, "refreshed agent token active")
    check(info["username"] == f"{ADMIN_ID}@clients.auth.globus.org", "agent acts for the launcher")
    # Recursive: the exchange gets a groups token from the agent's exchange token.
    dep2 = exchange.oauth2_get_dependent_tokens(agent_token, scope=GROUPS_SCOPE)
    check(GROUPS_SCOPE in dep2.by_scopes.scope_map, "recursive dependent token")

    # Deleting the agent's client ends its ability to refresh.
    ac.delete_client(agent_id)
    expect_api_error(lambda: agent.oauth2_refresh_token(refresh), 401, "deleted client cannot refresh")
    check(exchange.oauth2_token_introspect(agent_token)["active"] is False, "deleted client's token inactive")

    # Revocation is seen by introspection at once.
    t = admin.oauth2_client_credentials_tokens(requested_scopes=EXCHANGE_SCOPE).by_resource_server[
        EXCHANGE_ID
    ]["access_token"]
    admin.oauth2_revoke_token(t)
    check(exchange.oauth2_token_introspect(t)["active"] is False, "revoked token inactive")

    # Projects.
    projects = ac.get_projects()["projects"]
    check(any(p["id"] == PROJECT_ID for p in projects), "get_projects lists the default project")


class AutoLoginFlow(CommandLineLoginFlowManager):
    """Completes the login without a browser: follows the auto-approved
    authorize URL and reads the code from the final URL's query."""

    url: str = ""

    def print_authorize_url(self, authorize_url: str) -> None:
        AutoLoginFlow.url = authorize_url

    def prompt_for_code(self) -> str:
        with urllib.request.urlopen(AutoLoginFlow.url, timeout=10) as resp:
            final = resp.geturl()
            page = resp.read().decode()
        code = urllib.parse.parse_qs(urllib.parse.urlparse(final).query)["code"][0]
        check(code in page, "auth-code page shows the code")
        return code


def native_login() -> None:
    # Plain NativeAppAuthClient PKCE flow.
    native = globus_sdk.NativeAppAuthClient(NATIVE_ID)
    native.oauth2_start_flow(requested_scopes=["openid", "profile", "email", EXCHANGE_SCOPE], refresh_tokens=True)
    url = native.oauth2_get_authorize_url()
    check(url.startswith(BASE + "v2/oauth2/authorize?"), "authorize url on the emulator")
    with urllib.request.urlopen(url, timeout=10) as resp:
        final = resp.geturl()
    code = urllib.parse.parse_qs(urllib.parse.urlparse(final).query)["code"][0]
    tokens = native.oauth2_exchange_code_for_tokens(code)
    check(tokens.decode_id_token()["preferred_username"] == ALICE, "native login as alice")
    ex = tokens.by_resource_server[EXCHANGE_ID]
    check(bool(ex["refresh_token"]), "offline login has refresh tokens")
    expect_api_error(lambda: native.oauth2_exchange_code_for_tokens(code), 400, "code reuse")

    exchange = globus_sdk.ConfidentialAppAuthClient(EXCHANGE_ID, EXCHANGE_SECRET)
    info = exchange.oauth2_token_introspect(ex["access_token"])
    check(info["username"] == ALICE, "user token introspects to alice")
    dep = exchange.oauth2_get_dependent_tokens(ex["access_token"], scope=GROUPS_SCOPE)
    check(groups_of(dep.by_scopes[GROUPS_SCOPE]["access_token"]) == [GROUP_ID], "alice's active group")
    # Refresh with the native client (no secret).
    refreshed = native.oauth2_refresh_token(ex["refresh_token"])
    check(refreshed.by_resource_server[EXCHANGE_ID]["access_token"] != ex["access_token"], "native refresh")
    # userinfo
    ac = globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(tokens.by_resource_server["auth.globus.org"]["access_token"]))
    check(ac.userinfo()["email"] == ALICE, "userinfo")

    # A GlobusApp UserApp (id_token validated through the JWK set), as academy-py builds it.
    with tempfile.TemporaryDirectory() as d:
        app = UserApp(
            "academy",
            client_id=NATIVE_ID,
            scope_requirements={EXCHANGE_ID: [Scope(EXCHANGE_SCOPE)]},
            config=GlobusAppConfig(
                login_flow_manager=AutoLoginFlow,
                token_storage=globus_sdk.token_storage.JSONTokenStorage(os.path.join(d, "t.json")),
                request_refresh_tokens=True,
            ),
        )
        header = app.get_authorizer(EXCHANGE_ID).get_authorization_header()
        info = exchange.oauth2_token_introspect(header.split(" ", 1)[1])
        check(info["active"] and info["username"] == ALICE, "UserApp login token")


def academy_client_app() -> None:
    # academy-py's own helper, headless through ACADEMY_GLOBUS_CLIENT_ID/_SECRET.
    with tempfile.TemporaryDirectory() as d:
        os.environ["ACADEMY_HOME"] = d
        from academy.exchange.cloud.login import get_auth_headers

        header = get_auth_headers("globus")["Authorization"]
        exchange = globus_sdk.ConfidentialAppAuthClient(EXCHANGE_ID, EXCHANGE_SECRET)
        info = exchange.oauth2_token_introspect(header.split(" ", 1)[1])
        check(info["active"] and EXCHANGE_ID in info["aud"], "academy-py get_auth_headers")


if __name__ == "__main__":
    confidential()
    native_login()
    academy_client_app()
    print("OK")
    sys.exit(0)
