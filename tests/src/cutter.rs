//! A connection cutter: a loopback TCP relay that closes every connection
//! after a random number of bytes (both directions counted), as a load
//! balancer or NAT with short connection lifetimes would, at an arbitrary
//! point: mid-request, mid-response or in the middle of an event stream.
//!
//! It sits in front of `academy_testkit::fault_proxy::FaultProxy`, whose
//! faults are drawn once per *connection*: without the cutter, a pooled
//! keep-alive connection that drew "pass" would carry all later traffic
//! and the run would see only a handful of faults.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A running cutter; stops accepting when dropped.
#[derive(Debug)]
pub struct Cutter {
    addr: SocketAddr,
    cuts: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Cutter {
    /// Relays 127.0.0.1:0 to `upstream`, cutting each connection after
    /// `min_bytes..=max_bytes` bytes (seeded draw).
    pub async fn start(upstream: SocketAddr, seed: u64, min_bytes: u64, max_bytes: u64) -> Cutter {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(Mutex::new(seed | 1));
        let task = tokio::spawn({
            let cuts = cuts.clone();
            let connections = connections.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::Relaxed);
                    let budget = {
                        let mut s = rng.lock().await;
                        // xorshift64*
                        *s ^= *s >> 12;
                        *s ^= *s << 25;
                        *s ^= *s >> 27;
                        let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
                        min_bytes + r % (max_bytes - min_bytes + 1)
                    };
                    let cuts = cuts.clone();
                    tokio::spawn(async move {
                        if relay(client, upstream, budget).await {
                            cuts.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
        });
        Cutter {
            addr,
            cuts,
            connections,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays until either side closes or `budget` bytes passed; true if cut.
async fn relay(client: TcpStream, upstream: SocketAddr, budget: u64) -> bool {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return false;
    };
    let left = AtomicU64::new(budget);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Whichever direction ends first ends the connection; dropping the
    // halves closes both sockets.
    tokio::select! {
        cut = pump(&mut cr, &mut sw, &left) => cut,
        cut = pump(&mut sr, &mut cw, &left) => cut,
    }
}

async fn pump<R, W>(r: &mut R, w: &mut W, left: &AtomicU64) -> bool
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n as u64,
        };
        let before = left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_sub(n))
            })
            .unwrap_or(0);
        let take = n.min(before) as usize;
        if take > 0 && w.write_all(&buf[..take]).await.is_err() {
            return false;
        }
        if before <= n {
            return true;
        }
    }
}
