//! [`GlobusAgentRegistration`] (`globus-exchange-client.md` §5.6): what a
//! launcher ships to an agent's process. Its JSON has the field names of
//! academy-py's pydantic model, so either side can read the other's.

use academy_exchange::{AgentId, ExchangeError};
use academy_globus_client::Secret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// `exchange_type` of the Globus exchange.
pub const GLOBUS_EXCHANGE_TYPE: &str = "globus";

/// A registered agent on the Globus exchange: its id, the Globus Auth
/// client created for it and that client's secret, and the launcher's
/// delegated access token for the client's `launch` scope.
///
/// `Debug` hides the token and the secret; the JSON form carries them
/// (ship it over a secure channel only).
///
/// ```
/// use academy_exchange::{AgentId, AgentRegistration};
/// use academy_globus_exchange::GlobusAgentRegistration;
/// let reg = GlobusAgentRegistration::new(
///     AgentId::new(Some("adder".into())), uuid::Uuid::new_v4(), "at-123".into(), "s3cr3t".into());
/// let shown = format!("{reg:?}");
/// assert!(!shown.contains("at-123") && !shown.contains("s3cr3t"));
/// let json = reg.to_json().unwrap();
/// let back = GlobusAgentRegistration::from_json(&json).unwrap();
/// assert_eq!(back.agent_id, reg.agent_id);
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct GlobusAgentRegistration {
    /// The registered agent.
    pub agent_id: AgentId,
    /// The Globus Auth client (a hybrid confidential client and resource
    /// server) created for the agent.
    pub client_id: Uuid,
    /// Access token for `https://auth.globus.org/scopes/<client_id>/launch`.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub token: Secret,
    /// The client's secret.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub secret: Secret,
    /// Always `"globus"`.
    #[serde(default = "globus_type")]
    pub exchange_type: String,
}

fn globus_type() -> String {
    GLOBUS_EXCHANGE_TYPE.to_string()
}

fn ser_secret<S: Serializer>(s: &Secret, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose())
}

fn de_secret<'de, D: Deserializer<'de>>(de: D) -> Result<Secret, D::Error> {
    String::deserialize(de).map(Secret::new)
}

impl std::fmt::Debug for GlobusAgentRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobusAgentRegistration")
            .field("agent_id", &self.agent_id)
            .field("client_id", &self.client_id)
            .field("token", &"<redacted>")
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl GlobusAgentRegistration {
    /// A registration.
    pub fn new(agent_id: AgentId, client_id: Uuid, token: Secret, secret: Secret) -> Self {
        GlobusAgentRegistration {
            agent_id,
            client_id,
            token,
            secret,
            exchange_type: globus_type(),
        }
    }

    /// Reads the JSON form (academy-py's `model_dump_json()` too); rejects
    /// another `exchange_type`.
    pub fn from_json(json: &str) -> Result<Self, ExchangeError> {
        academy_exchange::transport::registration_from_json(
            json,
            GLOBUS_EXCHANGE_TYPE,
            |r: &Self| &r.exchange_type,
        )
    }
}

academy_exchange::impl_agent_registration!(GlobusAgentRegistration, GLOBUS_EXCHANGE_TYPE);

#[cfg(test)]
mod tests {
    use super::*;
    use academy_exchange::AgentRegistration;

    #[test]
    fn json_matches_academy_py_and_debug_redacts() {
        let aid = AgentId::new(Some("a".into()));
        let cid = Uuid::new_v4();
        let reg =
            GlobusAgentRegistration::new(aid.clone(), cid, "TOKEN-x".into(), "SECRET-y".into());
        let v: serde_json::Value = serde_json::from_str(&reg.to_json().unwrap()).unwrap();
        assert_eq!(v["client_id"], cid.to_string());
        assert_eq!(v["token"], "TOKEN-x");
        assert_eq!(v["secret"], "SECRET-y");
        assert_eq!(v["exchange_type"], "globus");
        assert_eq!(v["agent_id"]["uid"], aid.uid().to_string());
        let dbg = format!("{reg:?}");
        assert!(
            !dbg.contains("TOKEN-x") && !dbg.contains("SECRET-y"),
            "{dbg}"
        );
        let bad = v.to_string().replace("\"globus\"", "\"http\"");
        assert!(GlobusAgentRegistration::from_json(&bad).is_err());
        assert!(GlobusAgentRegistration::from_json("{}").is_err());
    }
}
