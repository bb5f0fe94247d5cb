//! A failover front: one loopback address for several exchange servers.
//! Each new connection goes to the next upstream that accepts, so when one
//! server dies its clients reconnect to another (as behind a load
//! balancer with health checks by connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running front; stops accepting when dropped.
#[derive(Debug)]
pub struct Front {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Front {
    /// Starts a front on 127.0.0.1:0 over `upstreams`.
    pub async fn start(upstreams: Vec<SocketAddr>) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstreams = upstreams.clone();
                let start = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    for i in 0..upstreams.len() {
                        let target = upstreams[(start + i) % upstreams.len()];
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Front { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}
