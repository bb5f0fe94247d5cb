//! The tower layers of the client HTTP stack, outermost first:
//! [`base_url`] → [`retry`] → [`auth`] → [`timeout`] → [`trace`].
//! [`crate::http::HttpClient::builder`] assembles them.

pub mod auth;
pub mod base_url;
pub mod retry;
pub mod timeout;
pub mod trace;

pub use auth::{AuthLayer, AuthService};
pub use base_url::{BaseUrlLayer, BaseUrlService};
pub use retry::{NoRetry, RetryLayer, RetryPolicy, RetryService};
pub use timeout::{TimeoutLayer, TimeoutService};
pub use trace::{TraceLayer, TraceService};

use std::future::Future;
use std::pin::Pin;

/// The boxed future every layer returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Clones a buffered request so it can be sent again.
pub(crate) fn clone_request(req: &crate::http::HttpRequest) -> crate::http::HttpRequest {
    let mut out = http::Request::new(req.body().clone());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    *out.extensions_mut() = req.extensions().clone();
    out
}
