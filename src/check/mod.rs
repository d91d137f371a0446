//! The checkers: one file each, behind one small trait ([`Checker`]).
//!
//! A checker gathers evidence about one domain from one kind of server and
//! returns a [`CheckReport`]. It never decides availability: that is the job
//! of [`crate::verdict`], which weighs every report. Checkers never fail with
//! an `Err`: a failure is a report whose outcome is [`CheckOutcome::Error`],
//! so the verdict sees every attempt.
//!
//! | layer | checkers | cost |
//! |---|---|---|
//! | 1, fast | [`dns`], [`http`] | cheap, unthrottled |
//! | 2, reliable | [`rdap`], [`registrar`] | rate-limited per server |
//! | 3, deep | [`whois`] | scarce, heavily rate-limited |

pub mod dns;
pub mod epp;
pub mod http;
pub mod rdap;
pub mod registrar;
pub mod whois;

use std::{fmt, time::Duration};

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use self::epp::{epp_status, epp_statuses};
use crate::domain_name::DomainName;
pub use crate::resource::CheckOutcome;

/// Which checker produced a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// Authoritative DNS: is the name delegated?
    Dns,
    /// A web request to the name: does anything answer?
    Http,
    /// The registry's RDAP service.
    Rdap,
    /// A registrar's availability API.
    Registrar,
    /// WHOIS on port 43.
    Whois,
}

impl CheckKind {
    /// Every checker, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Dns,
        Self::Http,
        Self::Rdap,
        Self::Registrar,
        Self::Whois,
    ];

    /// The name used in status, callbacks and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Http => "http",
            Self::Rdap => "rdap",
            Self::Registrar => "registrar",
            Self::Whois => "whois",
        }
    }

    /// The layer the checker belongs to.
    pub fn layer(self) -> Layer {
        match self {
            Self::Dns | Self::Http => Layer::Fast,
            Self::Rdap | Self::Registrar => Layer::Reliable,
            Self::Whois => Layer::Deep,
        }
    }
}

crate::words!(CheckKind, "checker");

/// The three layers of checkers, cheapest first: a deeper layer runs only
/// when the ones above it leave the verdict open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Layer {
    /// DNS and HTTP.
    Fast = 1,
    /// RDAP and the registrar API.
    Reliable = 2,
    /// WHOIS.
    Deep = 3,
}

/// How strong a "not found" or "registered" answer is. Servers differ: an RDAP
/// 404 from a registry known to answer 404 for registered names, or a bare
/// `NOT FOUND` that throttled servers also send, is weaker evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// The server's answer is specific and trustworthy.
    #[default]
    Strong,
    /// The answer is known to be ambiguous for this server or TLD.
    Weak,
}

/// Registration facts a checker found (RDAP, WHOIS, DNS nameservers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistrationFacts {
    /// Sponsoring registrar.
    pub registrar: Option<String>,
    /// Registration date.
    pub created: Option<Timestamp>,
    /// Expiry date.
    pub expires: Option<Timestamp>,
    /// Last change of the registration (RDAP "last changed" / WHOIS "Updated Date").
    pub last_changed: Option<Timestamp>,
    /// Scheduled deletion (RDAP "deletion" event), when the registry publishes it.
    pub deletion: Option<Timestamp>,
    /// Registry status codes in EPP form (`clientHold`, `redemptionPeriod`, …);
    /// see [`epp_statuses`].
    pub statuses: Vec<String>,
    /// Delegated name servers, lower case, no trailing dot.
    pub nameservers: Vec<String>,
}

impl RegistrationFacts {
    /// True when no fact is known.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// True when the registry status list holds `code` (EPP form).
    pub fn has_status(&self, code: &str) -> bool {
        self.statuses.iter().any(|s| s.eq_ignore_ascii_case(code))
    }
}

/// What one checker found about one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Which checker.
    pub kind: CheckKind,
    /// What the evidence says.
    pub outcome: CheckOutcome,
    /// How much the outcome can be trusted.
    #[serde(default)]
    pub strength: Strength,
    /// The key evidence in a few words, e.g. `NXDOMAIN from 127.0.0.1:5353`.
    pub detail: String,
    /// The error when the outcome is `Error` (or a transient failure behind
    /// `Inconclusive`).
    pub error: Option<String>,
    /// The server that answered (host, IP:port or base URL).
    pub server: Option<String>,
    /// When the check started.
    pub checked_at: Timestamp,
    /// How long it took.
    pub duration: Duration,
    /// How long the server asked us to wait (Retry-After, throttle banners).
    pub retry_after: Option<Duration>,
    /// Distinct servers that gave this outcome within the check: the dns
    /// checker asks a second authoritative server before it reports
    /// NXDOMAIN; 0 when the servers asked disagreed (a zone change on its
    /// way to all of them); 1 for every other answer.
    #[serde(default = "one")]
    pub servers_agreeing: u8,
    /// Registration facts found on the way.
    pub registration: Option<RegistrationFacts>,
}

impl CheckReport {
    /// A report with the given outcome and detail, timed from `started`.
    pub fn new(
        kind: CheckKind,
        outcome: CheckOutcome,
        detail: impl Into<String>,
        started: Timestamp,
    ) -> Self {
        Self {
            kind,
            outcome,
            strength: Strength::Strong,
            detail: detail.into(),
            error: None,
            server: None,
            checked_at: started,
            duration: elapsed_since(started),
            retry_after: None,
            servers_agreeing: 1,
            registration: None,
        }
    }

    /// A failed check.
    pub fn error(kind: CheckKind, error: impl fmt::Display, started: Timestamp) -> Self {
        let error = error.to_string();
        let mut report = Self::new(kind, CheckOutcome::Error, error.clone(), started);
        report.error = Some(error);
        report
    }

    /// A checker that was not run, with the reason.
    pub fn skipped(kind: CheckKind, reason: impl Into<String>) -> Self {
        Self::new(kind, CheckOutcome::Skipped, reason, Timestamp::now())
    }

    /// Sets the answering server.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Marks the answer as one the servers asked disagreed on
    /// (`servers_agreeing` 0).
    pub fn disagreed(mut self) -> Self {
        self.servers_agreeing = 0;
        self
    }

    /// Sets the strength.
    pub fn with_strength(mut self, strength: Strength) -> Self {
        self.strength = strength;
        self
    }

    /// Attaches registration facts (ignored when empty).
    pub fn with_registration(mut self, facts: RegistrationFacts) -> Self {
        if !facts.is_empty() {
            self.registration = Some(facts);
        }
        self
    }

    /// Sets the server's requested wait.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

fn one() -> u8 {
    1
}

/// Time since `started`, never negative.
pub fn elapsed_since(started: Timestamp) -> Duration {
    Timestamp::now()
        .duration_since(started)
        .try_into()
        .unwrap_or_default()
}

/// One source of evidence about a domain.
pub trait Checker: Send + Sync {
    /// Which checker this is.
    fn kind(&self) -> CheckKind;

    /// Gathers evidence about `domain`. Never panics on hostile answers and
    /// never returns early with an error: failures are reports.
    fn check<'a>(&'a self, domain: &'a DomainName) -> BoxFuture<'a, CheckReport>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_spec() {
        assert_eq!(CheckKind::Dns.layer(), Layer::Fast);
        assert_eq!(CheckKind::Registrar.layer(), Layer::Reliable);
        assert_eq!(CheckKind::Whois.layer(), Layer::Deep);
        assert!(Layer::Fast < Layer::Deep);
    }

    #[test]
    fn checker_names_parse_back_and_are_the_serde_names() {
        crate::words::assert_words(&CheckKind::ALL, CheckKind::as_str);
    }
}
