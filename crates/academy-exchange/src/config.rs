//! Exchange client configuration (`academy/exchange/client_config.py`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ExchangeError;

/// Runtime parameters shared by user and agent exchange clients.
///
/// Serialises as academy-py's pydantic model does:
/// `{"heartbeat_interval": <seconds, float>, "stale_heartbeat_threshold": <int>}`.
///
/// ```
/// use std::time::Duration;
/// use academy_exchange::ExchangeClientConfig;
/// let c = ExchangeClientConfig::default();
/// assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
/// assert_eq!(c.stale_after(), Duration::from_secs(90));
/// let back: ExchangeClientConfig =
///     serde_json::from_str(r#"{"heartbeat_interval": 1.5, "stale_heartbeat_threshold": 2}"#).unwrap();
/// assert_eq!(back.stale_after(), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeClientConfig {
    /// Period of the client's heartbeat loop (default 30 s).
    pub heartbeat_interval: Duration,
    /// Missed heartbeats before a mailbox counts as `INACTIVE` (default 3).
    pub stale_heartbeat_threshold: u32,
}

impl Default for ExchangeClientConfig {
    fn default() -> Self {
        ExchangeClientConfig {
            heartbeat_interval: Duration::from_secs(30),
            stale_heartbeat_threshold: 3,
        }
    }
}

impl ExchangeClientConfig {
    /// The heartbeat age from which an observer reports `INACTIVE`:
    /// `heartbeat_interval × stale_heartbeat_threshold`.
    pub fn stale_after(&self) -> Duration {
        self.heartbeat_interval
            .saturating_mul(self.stale_heartbeat_threshold)
    }

    /// A config with the given interval, checked to be positive and finite.
    pub fn with_interval_secs(seconds: f64, threshold: u32) -> Result<Self, ExchangeError> {
        let interval = Duration::try_from_secs_f64(seconds).map_err(|e| {
            ExchangeError::InvalidMessage(format!("invalid heartbeat_interval {seconds}: {e}"))
        })?;
        if interval.is_zero() {
            return Err(ExchangeError::InvalidMessage(
                "heartbeat_interval must be positive".into(),
            ));
        }
        Ok(ExchangeClientConfig {
            heartbeat_interval: interval,
            stale_heartbeat_threshold: threshold,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default = "default_interval")]
    heartbeat_interval: f64,
    #[serde(default = "default_threshold")]
    stale_heartbeat_threshold: u32,
}

fn default_interval() -> f64 {
    30.0
}

fn default_threshold() -> u32 {
    3
}

impl Serialize for ExchangeClientConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            heartbeat_interval: self.heartbeat_interval.as_secs_f64(),
            stale_heartbeat_threshold: self.stale_heartbeat_threshold,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ExchangeClientConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(deserializer)?;
        ExchangeClientConfig::with_interval_secs(w.heartbeat_interval, w.stale_heartbeat_threshold)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_intervals() {
        for bad in [
            r#"{"heartbeat_interval": -1}"#,
            r#"{"heartbeat_interval": 0}"#,
        ] {
            assert!(
                serde_json::from_str::<ExchangeClientConfig>(bad).is_err(),
                "{bad}"
            );
        }
        let d: ExchangeClientConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(d, ExchangeClientConfig::default());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"heartbeat_interval":30.0,"stale_heartbeat_threshold":3}"#
        );
    }
}
