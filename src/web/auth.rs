//! Who may call which endpoint: the bearer token check.
//!
//! One token guards the surface: `API_AUTH_TOKEN`, the one the operator
//! already sends to the callback receiver. Endpoints that change something
//! always need it; endpoints that name watched domains need it unless
//! `OPEN_WATCHLIST` is on (see [`super::routes::Access`]).

use warp::http::StatusCode;

use crate::config::Secret;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header (401).
    Missing,
    /// A bearer token that is not `API_AUTH_TOKEN` (401).
    Wrong,
    /// `API_AUTH_TOKEN` is not set, so no request can pass (403).
    NoTokenSet,
}

impl Refusal {
    /// The HTTP status: 401 for a missing or wrong token, 403 when no token
    /// could ever pass.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Wrong => StatusCode::UNAUTHORIZED,
            Self::NoTokenSet => StatusCode::FORBIDDEN,
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3), none for a 403.
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Self::Missing => Some("Bearer realm=\"domain-monitor\""),
            Self::Wrong => Some("Bearer realm=\"domain-monitor\", error=\"invalid_token\""),
            Self::NoTokenSet => None,
        }
    }
}

/// Checks `Authorization: Bearer <token>` against `token`. The scheme is
/// matched without regard to case (RFC 9110 §11.1); the token is compared
/// in constant time, so response times say nothing about how much of a
/// guessed token was right (only its length may show).
pub fn check(token: Option<&Secret>, authorization: Option<&str>) -> Result<(), Refusal> {
    let Some(token) = token else {
        return Err(Refusal::NoTokenSet);
    };
    let given = authorization
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    let Some(given) = given else {
        return Err(Refusal::Missing);
    };
    if token.matches(given) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = Secret::new("secret");
        assert_eq!(check(Some(&token), Some("Bearer secret")), Ok(()));
        assert_eq!(check(Some(&token), Some("bearer  secret")), Ok(()));
        for wrong in ["Bearer secreT", "Bearer secret2", "Bearer ", "Bearer x"] {
            assert_eq!(
                check(Some(&token), Some(wrong)),
                Err(Refusal::Wrong),
                "{wrong}"
            );
        }
        for missing in [None, Some("secret"), Some("Basic c2VjcmV0"), Some("")] {
            assert_eq!(
                check(Some(&token), missing),
                Err(Refusal::Missing),
                "{missing:?}"
            );
        }
        assert_eq!(check(None, Some("Bearer secret")), Err(Refusal::NoTokenSet));
    }
}
