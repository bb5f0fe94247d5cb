//! Test support shared by academy-rs crates.
//!
//! * [`redis::RedisServer`] starts a private `redis-server` on a free loopback
//!   port and stops it on drop, so tests never share state.
//! * [`python::interpreter`] finds the academy-py 1.0.0 peer and applies the
//!   project's rule: interop tests skip with a printed reason under a bare
//!   `cargo test`, and fail when `ACADEMY_REQUIRE_INTEROP=1` (as `cargo xtask test` sets).

pub mod fault_proxy;
pub mod python;
pub mod redis;

/// A TCP port that was free on 127.0.0.1 a moment ago.
///
/// Only for programs that cannot bind port 0 themselves and report it
/// (such as `redis-server`); everything of ours binds port 0.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
