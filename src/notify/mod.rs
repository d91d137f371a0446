//! Callbacks to the user's API (`API_CALLBACK_URL`): per-check results, best effort,
//! and availability notifications, delivered at least once.
//!
//! The durable half of the outbox lives in the resource's status (see
//! `controller`): a notification is recorded there as `Pending` before the
//! first attempt, so a restarted operator finds and delivers it. This module
//! only knows how to send one body and how to classify the answer.

pub mod outbox;
pub mod payload;

use crate::backoff::Backoff;
use std::time::Duration;

use reqwest::{StatusCode, header};
use url::Url;

use crate::config::Secret;

/// First retry delay of an availability notification.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// Longest delay between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(10 * 60);
/// Characters of a receiver's error body kept in the error message.
const MAX_ERROR_BODY: usize = 512;
/// Bytes of an error body read at most (the excerpt is cut from these).
const MAX_ERROR_READ: usize = 16 * 1024;

/// Why the notifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be created.
    #[error("cannot build the callback HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver answered 2xx.
    Delivered {
        /// The status code.
        status: u16,
    },
    /// A transient failure (network, timeout, 408, 429, 5xx): try again.
    Retry {
        /// What went wrong (never contains the token).
        error: String,
        /// The receiver's Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// The receiver rejected the body for good (a 4xx other than 408/429).
    Rejected {
        /// The status code.
        status: u16,
        /// What the receiver said, shortened.
        error: String,
    },
}

/// Sends callbacks to `API_CALLBACK_URL` with the bearer token.
#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    url: Url,
    token: Secret,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("url", &redacted_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier posting to `url` with `token`, each attempt capped at `timeout`.
    pub fn new(url: Url, token: Secret, timeout: Duration) -> Result<Self, Error> {
        crate::net::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(crate::net::USER_AGENT)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::Client)?;
        Ok(Self { client, url, token })
    }

    /// Posts one JSON body. `idempotency_key` goes in the `Idempotency-Key`
    /// header so the receiver can drop duplicates.
    pub async fn post(&self, body: String, idempotency_key: Option<&str>) -> Delivery {
        let mut request = self
            .client
            .post(self.url.clone())
            .bearer_auth(self.token.expose())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                return Delivery::Retry {
                    error: format!(
                        "cannot reach {}: {}",
                        redacted_url(&self.url),
                        err.without_url()
                    ),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Delivery::Delivered {
                status: status.as_u16(),
            };
        }
        let retry_after = crate::net::retry_after(response.headers(), jiff::Timestamp::now());
        // Receivers echo requests in their error pages: the token must not
        // travel on into status, events and logs. Redact before cutting, so
        // that no prefix of it survives either.
        let text = self
            .token
            .redact(&read_capped(response, MAX_ERROR_READ).await);
        let excerpt: String = text.chars().take(MAX_ERROR_BODY).collect();
        let error = format!("receiver answered {status}: {}", excerpt.trim());
        if is_transient(status) {
            Delivery::Retry { error, retry_after }
        } else {
            Delivery::Rejected {
                status: status.as_u16(),
                error,
            }
        }
    }
}

/// The start of an error body, at most `cap` bytes (what is read beyond that
/// is dropped), decoded lossily.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk[..chunk.len().min(cap - bytes.len())])
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Delay before attempt `attempts + 1`: 5 s doubling per attempt up to
/// 10 min, ±25 % jitter, and never shorter than the receiver's Retry-After.
pub fn retry_delay(attempts: u32, retry_after: Option<Duration>) -> Duration {
    let jittered = Backoff::new(FIRST_RETRY, MAX_RETRY)
        .with_jitter(0.25)
        .delay(attempts);
    Backoff::honouring(jittered, retry_after, Duration::from_secs(3600))
}

/// The URL without user info or query, for logs and errors.
pub fn redacted_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_honours_retry_after() {
        let first = retry_delay(1, None);
        assert!(first >= Duration::from_millis(3750) && first <= Duration::from_millis(6250));
        let later = retry_delay(5, None);
        assert!(later >= Duration::from_secs(60), "{later:?}");
        assert!(retry_delay(50, None) <= MAX_RETRY.mul_f64(1.25));
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn transient_statuses_are_retried() {
        assert!(is_transient(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_transient(StatusCode::REQUEST_TIMEOUT));
        assert!(is_transient(StatusCode::BAD_GATEWAY));
        assert!(!is_transient(StatusCode::BAD_REQUEST));
        assert!(!is_transient(StatusCode::UNAUTHORIZED));
    }

    #[test]
    fn urls_in_messages_lose_credentials() {
        let url = Url::parse("https://user:pw@hooks.example/cb?token=abc").unwrap();
        assert_eq!(redacted_url(&url), "https://hooks.example/cb");
    }
}
