//! Mailbox status and agent statistics.

use serde::{Deserialize, Serialize};

/// State of a mailbox.
///
/// The server only reports `MISSING`, `ACTIVE` and `TERMINATED`; `INACTIVE`
/// is computed by clients from a stale or absent heartbeat.
///
/// ```
/// use academy_exchange::MailboxStatus;
/// let s: MailboxStatus = serde_json::from_str("\"TERMINATED\"").unwrap();
/// assert_eq!(s, MailboxStatus::Terminated);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MailboxStatus {
    /// The mailbox was never created (or its record expired).
    Missing,
    /// The mailbox accepts messages and its owner heart-beats.
    Active,
    /// The mailbox accepts messages but its owner missed heartbeats.
    Inactive,
    /// The mailbox was terminated.
    Terminated,
}

impl MailboxStatus {
    /// The status a client derives from a heartbeat age (`None`: never beat).
    ///
    /// Active iff the age is strictly below `stale_after` (academy-py §6.2).
    pub fn from_heartbeat_age(age_s: Option<f64>, stale_after_s: f64) -> Self {
        match age_s {
            Some(age) if age < stale_after_s => MailboxStatus::Active,
            _ => MailboxStatus::Inactive,
        }
    }
}

/// Request statistics of a mailbox (`academy/stats.py`), in wire order.
///
/// ```
/// use academy_exchange::AgentStats;
/// let s: AgentStats = serde_json::from_str(
///     r#"{"incoming": 3, "outgoing": 1, "completed": 2, "in_progress": 1, "queued": 0}"#,
/// ).unwrap();
/// assert_eq!(s.incoming, 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentStats {
    /// Total requests received (completed + in progress + queued).
    pub incoming: u64,
    /// Requests sent by this mailbox.
    pub outgoing: u64,
    /// Requests answered.
    pub completed: u64,
    /// Requests dequeued and not yet answered.
    pub in_progress: u64,
    /// Messages waiting in the mailbox.
    pub queued: u64,
}
