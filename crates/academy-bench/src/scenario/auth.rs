//! Scenario 5: the round trip with Globus authentication on. Our server
//! introspects bearer tokens against the Globus Auth emulator (in this
//! process), with academy-py's caches (introspection cached 60 s), so the
//! measured cost is the steady state a long-running client sees.

use academy_globus_client::Secret;
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults};

use crate::error::BenchError;

/// The emulator and what a server and its clients need from it.
pub struct AuthSetup {
    /// The running emulator.
    pub emulator: EmulatorHandle,
    /// `[auth]` section for the server's configuration.
    pub auth_section: String,
    /// An access token for the exchange scope (user alice, native app).
    pub token: Secret,
}

impl std::fmt::Debug for AuthSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSetup")
            .field("emulator", &self.emulator.base_url())
            .finish_non_exhaustive()
    }
}

impl AuthSetup {
    /// Starts the emulator (default seed) and issues a token.
    pub async fn start() -> Result<AuthSetup, BenchError> {
        let emulator = academy_globus_emulator::serve(EmulatorConfig::default())
            .await
            .map_err(|e| BenchError::Emulator(e.to_string()))?;
        let tokens = emulator
            .issue_user_tokens(
                defaults::NATIVE_CLIENT_ID,
                defaults::ALICE_USERNAME,
                defaults::EXCHANGE_SCOPE,
                false,
            )
            .map_err(|e| BenchError::Emulator(format!("{e:?}")))?;
        let token = tokens
            .get("access_token")
            .and_then(|v| v.as_str())
            .map(Secret::new)
            .ok_or_else(|| BenchError::Emulator("no access_token issued".into()))?;
        let base = emulator.base_url();
        let auth_section = format!(
            "[auth]\nmethod = \"globus\"\n[auth.kwargs]\nclient_id = \"{}\"\nclient_secret = \"{}\"\nauth_base_url = \"{base}\"\ngroups_base_url = \"{base}\"\n",
            defaults::EXCHANGE_CLIENT_ID,
            defaults::EXCHANGE_CLIENT_SECRET,
        );
        Ok(AuthSetup {
            emulator,
            auth_section,
            token,
        })
    }

    /// Stops the emulator.
    pub async fn stop(self) {
        let _ = self.emulator.shutdown().await;
    }
}
