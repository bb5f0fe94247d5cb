//! The demo's report: latency percentiles, throughput, and what was
//! created and cleaned up, as JSON (`--json`) or a short text.

use std::time::Duration;

use serde::Serialize;

use crate::output::{Colour, Output};

/// Round-trip latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (empty → zeros).
    ///
    /// ```
    /// use std::time::Duration;
    /// use academy_cli::demo::report::Latency;
    /// let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    /// let l = Latency::from_samples(&s);
    /// assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
    /// ```
    pub fn from_samples(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let idx = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[idx.clamp(1, ms.len()) - 1]
        };
        Latency {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

/// Something the demo created, and whether it was cleaned up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Item {
    /// What it is (`user mailbox`, `agent mailbox`, `Globus client`, …).
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Whether it is gone at the end.
    pub cleaned_up: bool,
    /// How it was cleaned up, or why not.
    pub how: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when every request was answered correctly and everything was cleaned up.
    pub ok: bool,
    /// Whether the servers were embedded.
    pub embedded: bool,
    /// Exchange URL.
    pub exchange: String,
    /// Globus Auth URL (`null` without Globus).
    pub auth: Option<String>,
    /// Who logged in.
    pub user: Option<String>,
    /// Requests sent.
    pub requests: usize,
    /// Correct responses received.
    pub responses: usize,
    /// Failed or wrong responses.
    pub errors: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Round trips, milliseconds.
    pub latency_ms: Latency,
    /// Request/response round trips per second.
    pub requests_per_second: f64,
    /// Messages (requests + responses) per second.
    pub messages_per_second: f64,
    /// Time spent sending requests, seconds.
    pub load_seconds: f64,
    /// Whole demo, seconds.
    pub total_seconds: f64,
    /// Agent statistics from the exchange at the end of the run.
    pub agent_stats: Option<serde_json::Value>,
    /// The agent process's exit code.
    pub agent_exit_code: Option<i32>,
    /// Logins performed.
    pub logins: Vec<String>,
    /// What was created, and its cleanup.
    pub created: Vec<Item>,
    /// The first errors met, if any.
    pub problems: Vec<String>,
}

impl Report {
    /// The human text.
    pub fn render(&self, out: &Output) -> String {
        let verdict = if self.ok {
            out.paint("demo passed", Colour::Green)
        } else {
            out.paint("demo FAILED", Colour::Red)
        };
        let l = &self.latency_ms;
        let mut text = format!(
            "\n{verdict}: {}/{} requests answered ({} errors) with {} in flight\n\n",
            self.responses, self.requests, self.errors, self.concurrency
        );
        let mut pairs = vec![
            ("exchange", self.exchange.clone()),
            (
                "auth",
                self.auth
                    .clone()
                    .unwrap_or_else(|| "none (--no-auth)".into()),
            ),
        ];
        if let Some(u) = &self.user {
            pairs.push(("user", u.clone()));
        }
        pairs.extend([
            (
                "round trip",
                format!(
                    "p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
                    l.p50, l.p90, l.p99, l.max
                ),
            ),
            (
                "throughput",
                format!(
                    "{:.0} requests/s, {:.0} messages/s",
                    self.requests_per_second, self.messages_per_second
                ),
            ),
            (
                "time",
                format!(
                    "{:.2} s of requests, {:.2} s in all",
                    self.load_seconds, self.total_seconds
                ),
            ),
            (
                "agent exit",
                self.agent_exit_code
                    .map_or_else(|| "unknown".into(), |c| c.to_string()),
            ),
        ]);
        text.push_str(&out.fields(&pairs));
        text.push('\n');
        text.push_str(
            &out.table(
                &["created", "id", "cleaned up"],
                self.created
                    .iter()
                    .map(|i| {
                        let mark = if i.cleaned_up {
                            out.paint("yes", Colour::Green)
                        } else {
                            out.paint("NO", Colour::Red)
                        };
                        vec![i.kind.clone(), i.id.clone(), format!("{mark} ({})", i.how)]
                    })
                    .collect(),
            ),
        );
        for p in &self.problems {
            text.push_str(&format!("\n{} {p}", out.paint("problem:", Colour::Red)));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_few_samples() {
        let l = Latency::from_samples(&[Duration::from_millis(3)]);
        assert_eq!((l.p50, l.p99, l.max), (3.0, 3.0, 3.0));
        let l = Latency::from_samples(&[
            Duration::from_millis(1),
            Duration::from_millis(2),
            Duration::from_millis(10),
        ]);
        assert_eq!((l.p50, l.p90, l.max), (2.0, 10.0, 10.0));
        assert_eq!(Latency::from_samples(&[]), Latency::default());
    }
}
