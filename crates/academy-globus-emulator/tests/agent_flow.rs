//! The user-side agent registration of globus-exchange-client §5.6 end to
//! end, and consent rules of the dependent-token grant.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_globus_emulator::defaults as d;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;

async fn dependent(
    http: &Http,
    id: &str,
    secret: &str,
    token: &str,
    scope: &str,
    offline: bool,
) -> common::Resp {
    let mut f = vec![
        ("grant_type", "urn:globus:auth:grant_type:dependent_token"),
        ("token", token),
        ("scope", scope),
    ];
    if offline {
        f.push(("access_type", "offline"));
    }
    http.form("v2/oauth2/token", Auth::Basic(id, secret), &f)
        .await
}

#[tokio::test]
async fn user_registers_an_agent_and_the_exchange_sees_the_user() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        // Alice logs in for manage_projects (the 30-minute login) and prepares the agent.
        let v = native_login(&http, &format!("openid profile email {}", d::MANAGE_PROJECTS_SCOPE), true).await;
        let t = v["access_token"].as_str().unwrap().to_owned();
        let r = http.json(Method::POST, "v2/api/clients", &t, json!({"client": {"name": "AgentId<a>", "project": d::PROJECT_ID,
            "client_type": "hybrid_confidential_client_resource_server", "visibility": "private"}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let agent = r.json()["client"]["id"].as_str().unwrap().to_owned();
        let secret = http.json(Method::POST, &format!("v2/api/clients/{agent}/credentials"), &t, json!({"credential": {"name": "Launch Credentials"}})).await.json()["credential"]["secret"].as_str().unwrap().to_owned();
        let launch = http.json(Method::POST, &format!("v2/api/clients/{agent}/scopes"), &t, json!({"scope": {
            "name": "Agent launch", "description": "Launch agent", "scope_suffix": "launch", "allows_refresh_token": true,
            "dependent_scopes": [{"scope": d::EXCHANGE_SCOPE_ID, "optional": false, "requires_refresh_token": true}]}})).await.json()["scopes"][0]["scope_string"].as_str().unwrap().to_owned();

        // Phase 2: a login covering the launch scope; its token goes to the agent.
        let v = native_login(&http, &format!("openid {launch}"), true).await;
        let launch_token = v["other_tokens"][0]["access_token"].as_str().unwrap().to_owned();
        assert_eq!(v["other_tokens"][0]["resource_server"], agent.as_str());

        // Agent side: dependent exchange token with refresh, then refresh at once.
        let r = dependent(&http, &agent, &secret, &launch_token, d::EXCHANGE_SCOPE, true).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let refresh = r.json()[0]["refresh_token"].as_str().unwrap().to_owned();
        h.set_access_token_lifetime(10);
        let r = http.form("v2/oauth2/token", Auth::Basic(&agent, &secret), &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        let agent_token = r.json()["access_token"].as_str().unwrap().to_owned();
        let info = http.introspect(&agent_token).await;
        assert_eq!(info["username"], d::ALICE_USERNAME, "the agent acts as the launching user");
        assert_eq!(info["aud"], json!([d::EXCHANGE_CLIENT_ID]));

        // Exchange side: groups through a dependent token of the agent's token.
        let r = dependent(&http, d::EXCHANGE_CLIENT_ID, d::EXCHANGE_CLIENT_SECRET, &agent_token, d::GROUPS_SCOPE, false).await;
        let groups_token = r.json()[0]["access_token"].as_str().unwrap().to_owned();
        let groups = http.get("v2/groups/my_groups", Auth::Bearer(&groups_token)).await.json();
        assert_eq!(groups[0]["id"], d::GROUP_ID);

        // The agent's access token expires; its refresh token outlives it.
        h.advance_clock(11);
        assert_eq!(http.introspect(&agent_token).await["active"], false);
        let r = http.form("v2/oauth2/token", Auth::Basic(&agent, &secret), &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        assert_eq!(r.status, StatusCode::OK);

        // Closing the transport deletes the agent client: no more refreshes.
        let t = native_login(&http, d::MANAGE_PROJECTS_SCOPE, false).await["access_token"].as_str().unwrap().to_owned();
        let r = http.send(Method::DELETE, &format!("v2/api/clients/{agent}"), Auth::Bearer(&t), None, vec![]).await;
        assert_eq!(r.status, StatusCode::OK);
        let r = dependent(&http, d::EXCHANGE_CLIENT_ID, d::EXCHANGE_CLIENT_SECRET, &launch_token, d::GROUPS_SCOPE, false).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn dependent_tokens_need_the_users_consent() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        let v = native_login(&http, d::EXCHANGE_SCOPE, false).await;
        let token = v["access_token"].as_str().unwrap().to_owned();
        // Forget Alice's consents: the optional groups dependency is then left out...
        h.with_state(|st| st.consents.clear());
        let r = dependent(
            &http,
            d::EXCHANGE_CLIENT_ID,
            d::EXCHANGE_CLIENT_SECRET,
            &token,
            d::GROUPS_SCOPE,
            false,
        )
        .await;
        assert_eq!(r.json(), json!([]));
        // ...and a required one is refused.
        h.with_state(|st| {
            let ex = d::EXCHANGE_SCOPE_ID.parse().unwrap();
            st.scopes.get_mut(&ex).unwrap().dependent_scopes[0].optional = false;
        });
        let r = dependent(
            &http,
            d::EXCHANGE_CLIENT_ID,
            d::EXCHANGE_CLIENT_SECRET,
            &token,
            d::GROUPS_SCOPE,
            false,
        )
        .await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "consent_required");
        // A fresh login records consent again, including the dependency.
        let v = native_login(&http, d::EXCHANGE_SCOPE, false).await;
        let r = dependent(
            &http,
            d::EXCHANGE_CLIENT_ID,
            d::EXCHANGE_CLIENT_SECRET,
            v["access_token"].as_str().unwrap(),
            d::GROUPS_SCOPE,
            false,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json().as_array().unwrap().len(), 1);
        // Unknown endpoints answer in the Globus error format.
        let r = http.get("v2/nope", Auth::None).await;
        assert_eq!(globus_error(&r, StatusCode::NOT_FOUND), "not_found");
        h.shutdown().await.unwrap();
    })
    .await;
}
