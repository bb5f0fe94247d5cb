//! The demo's load: `echo` and `add` requests through a [`Handle`], a
//! bounded number in flight, each round trip timed and its answer checked.

use std::time::{Duration, Instant};

use academy_exchange::Handle;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

/// What the load produced.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Round-trip times of the correct answers.
    pub latencies: Vec<Duration>,
    /// Wrong answers and failures.
    pub errors: usize,
    /// The first few failures, described.
    pub problems: Vec<String>,
    /// Wall time of the whole load.
    pub elapsed: Duration,
}

/// A progress bar on stderr, or a hidden one when `visible` is false.
pub fn progress_bar(len: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner:.green} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} requests (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The request number `i` and the answer it must get.
fn request(i: usize) -> (&'static str, Vec<Value>, Value) {
    if i.is_multiple_of(2) {
        let text = format!("hello #{i}");
        ("echo", vec![json!(text)], json!(text))
    } else {
        ("add", vec![json!(i), json!(1000)], json!(i + 1000))
    }
}

/// Sends `n` requests with at most `concurrency` in flight.
pub async fn run(handle: &Handle, n: usize, concurrency: usize, bar: &ProgressBar) -> LoadResult {
    let start = Instant::now();
    let outcomes: Vec<(usize, Duration, Result<Value, String>, Value)> =
        futures::stream::iter(0..n)
            .map(|i| {
                let handle = handle.clone();
                async move {
                    let (action, args, expected) = request(i);
                    let t = Instant::now();
                    let result = handle
                        .action(action, args, Map::new())
                        .await
                        .map_err(|e| e.to_string());
                    (i, t.elapsed(), result, expected)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .inspect(|_| bar.inc(1))
            .collect()
            .await;
    let mut result = LoadResult {
        elapsed: start.elapsed(),
        ..LoadResult::default()
    };
    for (i, took, got, expected) in outcomes {
        match got {
            Ok(v) if v == expected => result.latencies.push(took),
            Ok(v) => {
                result.errors += 1;
                if result.problems.len() < 5 {
                    result
                        .problems
                        .push(format!("request {i}: expected {expected}, got {v}"));
                }
            }
            Err(e) => {
                result.errors += 1;
                if result.problems.len() < 5 {
                    result.problems.push(format!("request {i} failed: {e}"));
                }
            }
        }
    }
    bar.finish_and_clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_alternate_and_know_their_answer() {
        assert_eq!(request(0).0, "echo");
        assert_eq!(request(0).2, json!("hello #0"));
        assert_eq!(request(3).0, "add");
        assert_eq!(request(3).2, json!(1003));
    }
}
