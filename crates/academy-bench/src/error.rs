//! The one error type of the benchmark harness.

use std::path::PathBuf;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A child process could not be started or talked to.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A child process misbehaved (exited, printed garbage, timed out).
    #[error("{0}")]
    Child(String),
    /// Our exchange client failed.
    #[error("exchange client: {0}")]
    Client(#[from] academy_globus_client::Error),
    /// A message could not be built or parsed.
    #[error("exchange: {0}")]
    Exchange(#[from] academy_exchange::ExchangeError),
    /// Our server failed to start.
    #[error("exchange server: {0}")]
    Server(#[from] academy_exchange_server::ServerError),
    /// The Globus Auth emulator failed.
    #[error("globus emulator: {0}")]
    Emulator(String),
    /// Redis could not be started.
    #[error("redis: {0}")]
    Redis(String),
    /// A JSON document could not be parsed or written.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// `ACADEMY_PY_PYTHON` does not name an interpreter.
    #[error("the academy-py interpreter is missing: {0}")]
    Python(String),
    /// An output file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The SVG plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
    /// A scenario exceeded its wall-clock cap before it could report.
    #[error("{0} did not finish within its time cap")]
    Timeout(String),
}

impl BenchError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}
