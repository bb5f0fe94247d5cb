//! The environment that points globus-sdk, academy-py and our tools at the
//! emulator, rendered as shell-sourceable `KEY='value'` lines.

use crate::seed::Seed;

/// The environment for an emulator at `base_url` (with trailing slash).
///
/// Keys, in order: `GLOBUS_SDK_SERVICE_URL_AUTH`,
/// `GLOBUS_SDK_SERVICE_URL_GROUPS`, `ACADEMY_EXCHANGE_CLIENT_ID`,
/// `ACADEMY_GLOBUS_SCOPE_ID`, `ACADEMY_EXCHANGE_SECRET`,
/// `ACADEMY_GLOBUS_CLIENT_ID`, `ACADEMY_GLOBUS_CLIENT_SECRET`,
/// `ACADEMY_GLOBUS_PROJECT_ID`. Secrets missing from the seed are left out.
///
/// ```
/// use academy_globus_emulator::{env::environment, seed::Seed};
/// let env = environment("http://127.0.0.1:8701/", &Seed::default());
/// assert_eq!(env[0], ("GLOBUS_SDK_SERVICE_URL_AUTH".to_owned(), "http://127.0.0.1:8701/".to_owned()));
/// ```
pub fn environment(base_url: &str, seed: &Seed) -> Vec<(String, String)> {
    let refs = seed.env_refs();
    let mut env = vec![
        ("GLOBUS_SDK_SERVICE_URL_AUTH", base_url.to_owned()),
        ("GLOBUS_SDK_SERVICE_URL_GROUPS", base_url.to_owned()),
        (
            "ACADEMY_EXCHANGE_CLIENT_ID",
            refs.exchange_client_id.to_string(),
        ),
        (
            "ACADEMY_GLOBUS_SCOPE_ID",
            refs.exchange_scope_id.to_string(),
        ),
    ];
    if let Some(s) = seed.client_secret(refs.exchange_client_id) {
        env.push(("ACADEMY_EXCHANGE_SECRET", s.expose().to_owned()));
    }
    env.push(("ACADEMY_GLOBUS_CLIENT_ID", refs.admin_client_id.to_string()));
    if let Some(s) = seed.client_secret(refs.admin_client_id) {
        env.push(("ACADEMY_GLOBUS_CLIENT_SECRET", s.expose().to_owned()));
    }
    env.push(("ACADEMY_GLOBUS_PROJECT_ID", refs.project_id.to_string()));
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Renders `KEY='value'` lines (single-quoted, `'` escaped) with a header
/// comment saying the values are for development only.
pub fn render(env: &[(String, String)]) -> String {
    let mut out = String::from(
        "# Environment for the local Globus Auth emulator (development only; dev secrets).\n",
    );
    for (k, v) in env {
        out.push_str(&format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_safely() {
        let text = render(&[("A".to_owned(), "it's $x".to_owned())]);
        assert!(text.ends_with("export A='it'\\''s $x'\n"));
    }

    #[test]
    fn default_env_has_all_keys() {
        let env = environment("http://127.0.0.1:1/", &Seed::default());
        let keys: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 8);
        assert!(keys.contains(&"ACADEMY_GLOBUS_CLIENT_SECRET"));
    }
}
