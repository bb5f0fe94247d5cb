//! A loopback TCP proxy that injects faults between an HTTP client and server.
//!
//! Each accepted connection draws one [`Fault`] from the plan (seeded, so a
//! run is repeatable) and the proxy acts it out: pass bytes through, drop the
//! connection mid-request or mid-response, delay, answer `502`/`503` itself
//! (with or without `Retry-After`), or truncate a streaming response. Counters
//! tell a test how many faults of each kind it survived.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What happens to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways untouched.
    Pass,
    /// Forward this many request bytes, then close both sides.
    DropRequestAfter(usize),
    /// Forward the whole request, then close after this many response bytes.
    DropResponseAfter(usize),
    /// Wait this long before forwarding.
    Delay(Duration),
    /// Answer `503 Service Unavailable` (with `Retry-After: <secs>` when set) and close.
    ServiceUnavailable(Option<u32>),
    /// Answer `502 Bad Gateway` and close.
    BadGateway,
}

/// The fault plan: weights for each kind, drawn per connection.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Seed of the pseudo-random draw.
    pub seed: u64,
    /// Probability (0..=1) that a connection gets a fault at all.
    pub fault_rate: f64,
    /// Largest byte offset for the drop faults.
    pub max_offset: usize,
    /// Largest delay.
    pub max_delay: Duration,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            seed: 1,
            fault_rate: 0.2,
            max_offset: 512,
            max_delay: Duration::from_millis(50),
        }
    }
}

/// How many faults of each kind were injected.
#[derive(Debug, Default)]
pub struct FaultCounts {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections dropped mid-request.
    pub dropped_requests: AtomicU64,
    /// Connections dropped mid-response.
    pub dropped_responses: AtomicU64,
    /// Delayed connections.
    pub delays: AtomicU64,
    /// Synthetic 503 answers.
    pub unavailable: AtomicU64,
    /// Synthetic 502 answers.
    pub bad_gateway: AtomicU64,
}

impl FaultCounts {
    /// Total faults injected (delays excluded).
    pub fn faults(&self) -> u64 {
        self.dropped_requests.load(Ordering::Relaxed)
            + self.dropped_responses.load(Ordering::Relaxed)
            + self.unavailable.load(Ordering::Relaxed)
            + self.bad_gateway.load(Ordering::Relaxed)
    }
}

/// A running proxy; stops accepting when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    counts: Arc<FaultCounts>,
    enabled: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1:0 in front of `upstream`.
    pub async fn start(upstream: SocketAddr, plan: FaultPlan) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(FaultCounts::default());
        let enabled = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let rng = Arc::new(Mutex::new(SplitMix64(plan.seed)));
        let task = tokio::spawn({
            let counts = counts.clone();
            let enabled = enabled.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    counts.connections.fetch_add(1, Ordering::Relaxed);
                    let fault = if enabled.load(Ordering::Relaxed) {
                        draw(&plan, &rng)
                    } else {
                        Fault::Pass
                    };
                    tokio::spawn(handle(client, upstream, fault, counts.clone()));
                }
            }
        });
        Ok(FaultProxy {
            addr,
            counts,
            enabled,
            task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The fault counters.
    pub fn counts(&self) -> &FaultCounts {
        &self.counts
    }

    /// Turns fault injection on or off for new connections.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn draw(plan: &FaultPlan, rng: &Mutex<SplitMix64>) -> Fault {
    let mut rng = match rng.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if rng.unit() >= plan.fault_rate {
        return Fault::Pass;
    }
    let offset = 1 + (rng.next() as usize) % plan.max_offset.max(1);
    match rng.next() % 6 {
        0 => Fault::DropRequestAfter(offset),
        1 => Fault::DropResponseAfter(offset),
        2 => Fault::Delay(plan.max_delay.mul_f64(rng.unit())),
        3 => Fault::ServiceUnavailable(Some(1)),
        4 => Fault::ServiceUnavailable(None),
        _ => Fault::BadGateway,
    }
}

async fn handle(client: TcpStream, upstream: SocketAddr, fault: Fault, counts: Arc<FaultCounts>) {
    match fault {
        Fault::ServiceUnavailable(retry_after) => {
            counts.unavailable.fetch_add(1, Ordering::Relaxed);
            let extra = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 503 Service Unavailable\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            answer_and_close(client, head.as_bytes()).await;
        }
        Fault::BadGateway => {
            counts.bad_gateway.fetch_add(1, Ordering::Relaxed);
            let head =
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            answer_and_close(client, head).await;
        }
        Fault::Delay(d) => {
            counts.delays.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(d).await;
            forward(client, upstream, None, None, &counts).await;
        }
        Fault::Pass => forward(client, upstream, None, None, &counts).await,
        Fault::DropRequestAfter(n) => forward(client, upstream, Some(n), None, &counts).await,
        Fault::DropResponseAfter(n) => forward(client, upstream, None, Some(n), &counts).await,
    }
}

/// Reads what the client sent (so it sees a response, not a reset), answers, closes.
async fn answer_and_close(mut client: TcpStream, response: &[u8]) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
    let _ = client.write_all(response).await;
    let _ = client.shutdown().await;
}

async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    request_limit: Option<usize>,
    response_limit: Option<usize>,
    counts: &FaultCounts,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let cut = copy_limited(&mut cr, &mut sw, request_limit).await;
        if cut {
            counts.dropped_requests.fetch_add(1, Ordering::Relaxed);
        }
        cut
    };
    let down = async {
        let cut = copy_limited(&mut sr, &mut cw, response_limit).await;
        if cut {
            counts.dropped_responses.fetch_add(1, Ordering::Relaxed);
        }
        cut
    };
    // Whichever side is cut closes the whole connection.
    tokio::select! {
        cut = up => { if !cut { let _ = sw.shutdown().await; } }
        _ = down => {}
    }
}

/// Copies until EOF, or until `limit` bytes; returns true when it cut the stream.
async fn copy_limited<R, W>(r: &mut R, w: &mut W, limit: Option<usize>) -> bool
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut left = limit.unwrap_or(usize::MAX);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let take = n.min(left);
        if w.write_all(&buf[..take]).await.is_err() {
            return false;
        }
        left -= take;
        if left == 0 {
            return true;
        }
    }
}

/// Small seeded generator: repeatable fault sequences without a rand dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn pass_forwards_and_503_answers_itself() {
        let upstream = echo_server().await;
        let plan = FaultPlan {
            fault_rate: 0.0,
            ..FaultPlan::default()
        };
        let proxy = FaultProxy::start(upstream, plan).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"hello");

        let counts = Arc::new(FaultCounts::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let t = tokio::spawn({
            let counts = counts.clone();
            async move {
                let (c, _) = listener.accept().await.unwrap();
                handle(c, upstream, Fault::ServiceUnavailable(Some(2)), counts).await;
            }
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut text))
            .await
            .unwrap()
            .unwrap();
        t.await.unwrap();
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(text.contains("Retry-After: 2"));
        assert_eq!(counts.unavailable.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn drop_response_cuts_after_n_bytes() {
        let upstream = echo_server().await;
        let counts = Arc::new(FaultCounts::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let t = tokio::spawn({
            let counts = counts.clone();
            async move {
                let (c, _) = listener.accept().await.unwrap();
                handle(c, upstream, Fault::DropResponseAfter(3), counts).await;
            }
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"abcdefgh").await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        t.await.unwrap();
        assert_eq!(got, b"abc");
        assert_eq!(counts.dropped_responses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn draw_is_repeatable_for_a_seed() {
        let plan = FaultPlan {
            fault_rate: 0.5,
            ..FaultPlan::default()
        };
        let a = Mutex::new(SplitMix64(plan.seed));
        let b = Mutex::new(SplitMix64(plan.seed));
        let xs: Vec<Fault> = (0..50).map(|_| draw(&plan, &a)).collect();
        let ys: Vec<Fault> = (0..50).map(|_| draw(&plan, &b)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|f| *f != Fault::Pass));
        assert!(xs.contains(&Fault::Pass));
    }
}
