//! The one mapping from HTTP outcomes to [`ExchangeError`]
//! (`globus-exchange-client.md` §5.4, §7.4), shared by both transports.

use std::time::Duration;

use academy_exchange::{EntityId, ExchangeError};
use academy_globus_client::Error as HttpError;

/// The hint every "credentials cannot be renewed" error carries.
pub const LOGIN_AGAIN: &str = "log in again (run `academy login`)";

/// Maps a failed exchange (or Globus Auth) call to an [`ExchangeError`].
///
/// `resource` is the mailbox the call was about (the destination of a
/// send, the queried id, the own id for receive and heartbeat); without
/// one, 404 and 419 become transport errors.
///
/// | Outcome | Error |
/// | --- | --- |
/// | 401 | `Unauthorized` |
/// | 403 | `Forbidden` |
/// | 404 | `BadEntityId(resource)` |
/// | 408 | `Timeout` |
/// | 413 | `MessageTooLarge` (sizes parsed from the server's text when present) |
/// | 419 | `MailboxTerminated(resource)` |
/// | login required | `Unauthorized`, telling the user to log in again |
/// | anything else | `Transport` with the cause as source |
///
/// ```
/// use academy_exchange::{AgentId, EntityId, ExchangeError};
/// use academy_globus_client::{ApiError, Error};
/// use academy_globus_exchange::error_map::map_error;
/// let id = EntityId::from(AgentId::new(None));
/// let api = ApiError::from_response(http::StatusCode::from_u16(419).unwrap(),
///     &http::HeaderMap::new(), b"Mailbox was closed", false);
/// assert!(matches!(map_error(Error::from(api), Some(&id)),
///     ExchangeError::MailboxTerminated(x) if x == id));
/// ```
pub fn map_error(err: HttpError, resource: Option<&EntityId>) -> ExchangeError {
    let status = err.http_status();
    let text = err.api().map(|a| a.text.clone()).unwrap_or_default();
    match (status, resource) {
        (Some(401), _) => ExchangeError::Unauthorized(describe(&err)),
        (Some(403), _) => ExchangeError::Forbidden(describe(&err)),
        (Some(404), Some(id)) => ExchangeError::BadEntityId(id.clone()),
        (Some(419), Some(id)) => ExchangeError::MailboxTerminated(id.clone()),
        (Some(408), _) => ExchangeError::Timeout(Duration::ZERO),
        (Some(413), _) => {
            let (size, limit) = parse_sizes(&text).unwrap_or((0, 0));
            ExchangeError::MessageTooLarge { size, limit }
        }
        _ => match err {
            HttpError::LoginRequired { reason } => {
                ExchangeError::Unauthorized(format!("{reason}; {LOGIN_AGAIN}"))
            }
            other => ExchangeError::transport(describe(&other), other),
        },
    }
}

fn describe(err: &HttpError) -> String {
    err.to_string()
}

/// `Message of size <n> larger than limit <limit>.` (the server's text;
/// academy-py's exception text has "bytes is" in between, accepted too).
fn parse_sizes(text: &str) -> Option<(usize, usize)> {
    let numbers: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers.as_slice() {
        [size, limit] => Some((*size, *limit)),
        _ => None,
    }
}

/// Whether a failed call may succeed when repeated later (connection
/// failures, timeouts, 429 and 5xx).
pub(crate) fn is_transient(err: &HttpError) -> bool {
    match err {
        HttpError::Transport { .. } | HttpError::Timeout => true,
        HttpError::Api(api) => api.http_status == 429 || api.http_status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use academy_exchange::AgentId;
    use academy_globus_client::ApiError;
    use http::{HeaderMap, StatusCode};

    fn api(status: u16, text: &str) -> HttpError {
        HttpError::from(ApiError::from_response(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            text.as_bytes(),
            false,
        ))
    }

    #[test]
    fn table() {
        let id = EntityId::from(AgentId::new(None));
        let r = Some(&id);
        assert!(matches!(
            map_error(api(401, "Missing required headers."), r),
            ExchangeError::Unauthorized(_)
        ));
        assert!(
            matches!(map_error(api(403, "Incorrect permissions"), r), ExchangeError::Forbidden(m) if m.contains("Incorrect permissions"))
        );
        assert!(
            matches!(map_error(api(404, "Unknown mailbox ID"), r), ExchangeError::BadEntityId(x) if x == id)
        );
        assert!(
            matches!(map_error(api(419, "Mailbox was closed"), r), ExchangeError::MailboxTerminated(x) if x == id)
        );
        assert!(matches!(
            map_error(api(408, "Request timeout"), r),
            ExchangeError::Timeout(_)
        ));
        assert!(matches!(
            map_error(
                api(413, "Message of size 614737 larger than limit 524288."),
                r
            ),
            ExchangeError::MessageTooLarge {
                size: 614737,
                limit: 524288
            }
        ));
        assert!(matches!(
            map_error(api(413, "Maximum request body size exceeded."), r),
            ExchangeError::MessageTooLarge { size: 0, limit: 0 }
        ));
        match map_error(api(500, "boom"), r) {
            e @ ExchangeError::Transport { .. } => {
                assert!(std::error::Error::source(&e).is_some());
            }
            other => panic!("{other:?}"),
        }
        // Without a resource id, 404 is not attributed to a mailbox.
        assert!(matches!(
            map_error(api(404, "x"), None),
            ExchangeError::Transport { .. }
        ));
    }

    #[test]
    fn login_required_says_to_log_in_again() {
        let e = HttpError::LoginRequired {
            reason: "the refresh token was rejected".into(),
        };
        match map_error(e, None) {
            ExchangeError::Unauthorized(m) => {
                assert!(m.contains("log in again"), "{m}");
                assert!(m.contains("academy login"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transient_classification() {
        assert!(is_transient(&api(503, "")));
        assert!(is_transient(&api(429, "")));
        assert!(is_transient(&HttpError::Timeout));
        assert!(!is_transient(&api(400, "")));
        assert!(!is_transient(&api(403, "")));
    }
}
