//! Sequenced traffic between sender/receiver pairs and the bookkeeping that
//! proves "nothing lost, nothing duplicated, per-sender order kept".
//!
//! Each sender sends `per_pair` requests, one at a time, whose arguments
//! are `[pair, seq]`; its receiver listens and records which sequence
//! numbers arrived, how often and in which order. Application-level
//! behaviour is what a careful user program does: a send that fails after
//! the library's own retries is repeated with the *same* message (same
//! tag, so the server can drop a copy it already has), and a listen stream
//! that ends with an error is opened again. Both are counted, so a run
//! also shows how often the library surfaced an outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use academy_exchange::message::{ActionRequest, Body};
use academy_exchange::{ExchangeError, ExchangeFactory, ExchangeTransport, Message};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Mutex;

/// One sender and its receiver.
#[derive(Clone, Debug)]
pub struct Pair {
    /// Sends the sequence.
    pub sender: Arc<dyn ExchangeTransport>,
    /// Receives it.
    pub receiver: Arc<dyn ExchangeTransport>,
}

/// Creates `n` pairs of user mailboxes through `factory`.
pub async fn create_pairs(factory: &dyn ExchangeFactory, n: usize) -> Vec<Pair> {
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        let sender = factory
            .create_user_transport(Some(&format!("sender-{i}")))
            .await
            .unwrap();
        let receiver = factory
            .create_user_transport(Some(&format!("receiver-{i}")))
            .await
            .unwrap();
        pairs.push(Pair { sender, receiver });
    }
    pairs
}

/// Size and patience of a run.
#[derive(Clone, Debug)]
pub struct TrafficConfig {
    /// Messages per pair.
    pub per_pair: u64,
    /// A receiver that sees nothing for this long gives up (the rest is lost).
    pub idle_limit: Duration,
    /// After all arrived, how long each receiver keeps listening for copies.
    pub drain: Duration,
    /// Extra payload bytes per message.
    pub pad: usize,
    /// Distinct deliveries so far, for scenarios that act mid-run.
    pub progress: Option<tokio::sync::watch::Sender<u64>>,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            per_pair: 100,
            idle_limit: Duration::from_secs(60),
            drain: Duration::from_secs(1),
            pad: 64,
            progress: None,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Messages sent (each counted once, however often it was retried).
    pub sent: u64,
    /// Distinct messages received.
    pub delivered: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// Messages never received.
    pub lost: u64,
    /// Messages that arrived after a later one of the same sender.
    pub out_of_order: u64,
    /// Sends that failed after the library's retries (and were repeated).
    pub send_errors: u64,
    /// Listen streams that ended with an error (and were reopened).
    pub listen_errors: u64,
    /// Some of the surfaced errors, for the report.
    pub error_samples: Vec<String>,
    /// Longest time one message took to send, retries included.
    pub max_send: Duration,
    /// Longest silence a receiver saw between two messages.
    pub max_gap: Duration,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// True when every message arrived exactly once, in order.
    pub fn exact(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0
    }
}

#[derive(Default)]
struct Shared {
    send_errors: AtomicU64,
    listen_errors: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Shared {
    async fn sample(&self, e: &ExchangeError) {
        let mut s = self.samples.lock().await;
        if s.len() < 8 {
            s.push(e.to_string());
        }
    }
}

/// Runs the traffic to completion (or until receivers go idle).
pub async fn run(pairs: &[Pair], config: &TrafficConfig) -> Outcome {
    let started = Instant::now();
    let shared = Arc::new(Shared::default());
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (k, pair) in pairs.iter().enumerate() {
        senders.push(tokio::spawn(send_all(
            k,
            pair.clone(),
            config.clone(),
            shared.clone(),
        )));
        receivers.push(tokio::spawn(receive_all(
            k,
            pair.clone(),
            config.clone(),
            shared.clone(),
        )));
    }
    let mut out = Outcome::default();
    for s in senders {
        let (sent, max_send) = s.await.unwrap();
        out.sent += sent;
        out.max_send = out.max_send.max(max_send);
    }
    for r in receivers {
        let counts = r.await.unwrap();
        let mut highest_seen = None::<usize>;
        for (i, &(seq, _)) in counts.arrivals.iter().enumerate() {
            let first = counts.first_arrival_index[seq] == Some(i);
            if first && highest_seen.is_some_and(|h| seq < h) {
                out.out_of_order += 1;
            }
            highest_seen = Some(highest_seen.map_or(seq, |h| h.max(seq)));
        }
        for c in &counts.per_seq {
            match *c {
                0 => out.lost += 1,
                n => {
                    out.delivered += 1;
                    out.duplicated += u64::from(n - 1);
                }
            }
        }
        out.max_gap = out.max_gap.max(counts.max_gap);
    }
    out.send_errors = shared.send_errors.load(Ordering::SeqCst);
    out.listen_errors = shared.listen_errors.load(Ordering::SeqCst);
    out.error_samples = shared.samples.lock().await.clone();
    out.elapsed = started.elapsed();
    out
}

async fn send_all(
    k: usize,
    pair: Pair,
    config: TrafficConfig,
    shared: Arc<Shared>,
) -> (u64, Duration) {
    let src = pair.sender.mailbox_id().clone();
    let dest = pair.receiver.mailbox_id().clone();
    let pad = "x".repeat(config.pad);
    let mut max_send = Duration::ZERO;
    for seq in 0..config.per_pair {
        let body = Body::ActionRequest(ActionRequest::json(
            "seq",
            &[json!(k), json!(seq)],
            &json!({ "pad": pad }),
        ));
        let message = Message::request(src.clone(), dest.clone(), body, None);
        let t = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            match pair.sender.send(&message).await {
                Ok(()) => break,
                Err(e) => {
                    shared.send_errors.fetch_add(1, Ordering::SeqCst);
                    shared.sample(&e).await;
                    assert!(
                        !matches!(
                            e,
                            ExchangeError::BadEntityId(_)
                                | ExchangeError::MailboxTerminated(_)
                                | ExchangeError::Forbidden(_)
                        ),
                        "permanent send error: {e}"
                    );
                    // Retry backoff of the application, not synchronisation.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        max_send = max_send.max(t.elapsed());
    }
    (config.per_pair, max_send)
}

struct Received {
    per_seq: Vec<u32>,
    arrivals: Vec<(usize, Instant)>,
    first_arrival_index: Vec<Option<usize>>,
    max_gap: Duration,
}

async fn receive_all(k: usize, pair: Pair, config: TrafficConfig, shared: Arc<Shared>) -> Received {
    let n = config.per_pair as usize;
    let mut r = Received {
        per_seq: vec![0; n],
        arrivals: Vec::with_capacity(n),
        first_arrival_index: vec![None; n],
        max_gap: Duration::ZERO,
    };
    let mut distinct = 0usize;
    let mut last = Instant::now();
    let expected_src = pair.sender.mailbox_id().clone();
    let progress = config.progress.clone();
    let record = |m: &Message, r: &mut Received, distinct: &mut usize, last: &mut Instant| {
        assert_eq!(m.src(), &expected_src, "message from a stranger");
        let Ok(Body::ActionRequest(req)) = m.body() else {
            panic!("unexpected body {:?}", m.raw_body());
        };
        let args = req.args().unwrap();
        assert_eq!(args[0], json!(k), "message of another pair");
        let seq = args[1].as_u64().unwrap() as usize;
        if r.per_seq[seq] == 0 {
            *distinct += 1;
            r.first_arrival_index[seq] = Some(r.arrivals.len());
            if let Some(p) = &progress {
                p.send_modify(|v| *v += 1);
            }
        }
        r.per_seq[seq] += 1;
        r.arrivals.push((seq, Instant::now()));
        r.max_gap = r.max_gap.max(last.elapsed());
        *last = Instant::now();
    };
    'outer: while distinct < n {
        let mut stream = pair.receiver.listen(None);
        loop {
            let left = config.idle_limit.saturating_sub(last.elapsed());
            match tokio::time::timeout(left, stream.next()).await {
                Err(_) => break 'outer, // idle: the rest is lost
                Ok(None) => break,
                Ok(Some(Ok(m))) => {
                    record(&m, &mut r, &mut distinct, &mut last);
                    if distinct == n {
                        break 'outer;
                    }
                }
                Ok(Some(Err(e))) => {
                    shared.listen_errors.fetch_add(1, Ordering::SeqCst);
                    shared.sample(&e).await;
                    assert!(
                        !matches!(
                            e,
                            ExchangeError::BadEntityId(_)
                                | ExchangeError::MailboxTerminated(_)
                                | ExchangeError::Forbidden(_)
                        ),
                        "permanent listen error: {e}"
                    );
                    break;
                }
            }
        }
        // Reopening right after an error: the library already backed off.
    }
    // Late copies: whatever still arrives is a duplicate.
    let deadline = Instant::now() + config.drain;
    while Instant::now() < deadline {
        match pair
            .receiver
            .recv(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10)),
            ))
            .await
        {
            Ok(m) => record(&m, &mut r, &mut distinct, &mut last),
            Err(_) => break,
        }
    }
    r
}
