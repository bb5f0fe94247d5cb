//! OpenID Connect: the discovery document, the JWK set and RS512-signed
//! `id_token`s, which globus-sdk's `GlobusApp` decodes to learn the user's
//! identity.
//!
//! The signing key is a fixed RSA-2048 key embedded in the crate. It is a
//! **development-only** key, published with the source: its signatures
//! prove nothing outside tests. (Generating a key at start-up would be too
//! slow in debug builds.)

use crate::error::EmulatorError;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA512, RsaKeyPair};
use serde_json::{Value, json};

/// PKCS#8 DER of the dev-only key, base64.
const DEV_KEY_PKCS8_B64: &str = include_str!("dev_signing_key.pk8.b64");
/// Public modulus of the dev-only key, base64url (as in the JWK).
const DEV_KEY_N: &str = "tzNSzDjjGB0H2KEV26RY9K1YwEelzRSiaSffs550jos2Y7-OMx9irf2irbwHs80kFpWqpS29lYVwhzjZK5Iz29DJlT5ruct-UWRQY5nyMU2DSQS0cALqFO4pP8SfKBbGi-WpChkd9zWPG5IGZz_NuuVbxjooe0PZjkCptjHC3DVvHJWHPy5SWBmnrcYnEhDwDrE9OQA34AAm3Ti50iD6bNUAr2EMkSV_koO6P2z3ni8dY0R5y62H-4XN11Lnt_FZeP1JJSukOIOGZ2CFW6ypv6NSyx5z6xWN4rm-LZTjaa_hPczsmzDwwGPUvCdupOOvOXfM6y1k3x4ytwnPYUZUkQ";
/// Public exponent of the dev-only key, base64url.
const DEV_KEY_E: &str = "AQAB";
/// Key id in the JWK set and JWT headers.
const KEY_ID: &str = "academy-emulator-dev-key";

/// Signs `id_token`s with the embedded dev-only key.
pub struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<dev key>)")
    }
}

impl Signer {
    /// Loads the embedded key.
    pub fn dev() -> Result<Self, EmulatorError> {
        let b64: String = DEV_KEY_PKCS8_B64.split_whitespace().collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|_| EmulatorError::SigningKey)?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|_| EmulatorError::SigningKey)?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// A signed compact JWT (RS512) with the given claims.
    pub fn sign(&self, claims: &Value) -> Option<String> {
        let header = json!({"alg": "RS512", "typ": "JWT", "kid": KEY_ID});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA512,
                &self.rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .ok()?;
        Some(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The JWK set served at `/jwk.json`.
pub fn jwks() -> Value {
    json!({"keys": [{"alg": "RS512", "e": DEV_KEY_E, "kid": KEY_ID, "kty": "RSA", "n": DEV_KEY_N, "use": "sig"}]})
}

/// The discovery document served at `/.well-known/openid-configuration`.
/// `base` is the emulator's base URL with trailing slash.
pub fn openid_configuration(base: &str) -> Value {
    let issuer = base.trim_end_matches('/');
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}v2/oauth2/authorize"),
        "token_endpoint": format!("{base}v2/oauth2/token"),
        "userinfo_endpoint": format!("{base}v2/oauth2/userinfo"),
        "revocation_endpoint": format!("{base}v2/oauth2/token/revoke"),
        "introspection_endpoint": format!("{base}v2/oauth2/token/introspect"),
        "jwks_uri": format!("{base}jwk.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": [
            "authorization_code", "client_credentials", "refresh_token",
            "urn:globus:auth:grant_type:dependent_token"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS512"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "claims_supported": [
            "at_hash", "aud", "email", "exp", "name", "nonce", "preferred_username",
            "iat", "iss", "sub", "identity_set", "identity_provider"
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    #[test]
    fn embedded_key_matches_published_jwk() {
        let signer = Signer::dev().unwrap();
        let n = URL_SAFE_NO_PAD.decode(DEV_KEY_N).unwrap();
        assert_eq!(signer.key.public().modulus_len(), n.len());
        let pk = signer.key.public_key().as_ref().to_vec();
        // The DER public key embeds the modulus bytes verbatim.
        assert!(pk.windows(n.len()).any(|w| w == n.as_slice()));
    }

    #[test]
    fn jwt_has_three_parts_and_verifies() {
        let signer = Signer::dev().unwrap();
        let jwt = signer.sign(&json!({"sub": "x"})).unwrap();
        let parts: Vec<_> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let pk = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA512,
            signer.key.public_key().as_ref().to_vec(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        pk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }
}
