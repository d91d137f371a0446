//! The WHOIS checker (layer 3, deep): port 43, IANA referral, per-TLD
//! patterns.
//!
//! A check finds the TLD's server ([`Settings::overrides`] first, else the
//! referral server's `refer:` line, cached per TLD), asks it with the
//! registry's query format, and reads the answer until EOF within a size and
//! a time cap. [`patterns`] classifies the answer (throttled before refused
//! before reserved before not-found); an unmatched answer that carries
//! registration data is `Registered`, with facts from [`parse`] read with the
//! registry's layout. An answer that matches nothing and carries no record is
//! `Inconclusive`, reported with its first meaningful line so that users can
//! file it — never "not found". A server that refuses automated clients is
//! left alone for [`REFUSAL_BACKOFF`]. Thin registries (`.com`, `.net`,
//! any answer naming a `Registrar WHOIS Server:`) are asked first; the
//! registrar's server then fills in details, and its failures never change
//! the registry's verdict.

pub mod parse;
pub mod patterns;

use std::{
    collections::HashMap,
    io,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use jiff::Timestamp;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use self::{
    parse::{WhoisRecord, decode, parse_record, parse_record_with, parse_referral},
    patterns::{Classification, classify, first_meaningful_line, layout_for, query_for},
};
use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, Checker, RegistrationFacts},
    config::{CheckerArgs, HostOverrides, HostPort, RateLimit},
    domain_name::DomainName,
    ratelimit::{BackingOff, ServerBudgets},
};

/// Largest answer read. Real records are a few KiB; a server sending more is
/// broken or hostile, and a partial answer must not be classified.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// How long a referral (or the referral server's "no server") is trusted.
/// IANA's table changes a few times a year.
const REFERRAL_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long a server that refuses automated clients is left alone. Asking
/// again sooner only hammers a server that has said it will not answer.
pub const REFUSAL_BACKOFF: Duration = Duration::from_secs(3600);

/// Why a WHOIS exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum WhoisError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to WHOIS server {server}: {source}")]
    Connect {
        /// The server.
        server: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// Sending the query or reading the answer failed (e.g. connection reset).
    #[error("WHOIS exchange with {server} failed: {source}")]
    Exchange {
        /// The server.
        server: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The whole exchange took longer than the configured timeout.
    #[error("WHOIS server {server} did not finish its answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        /// The server.
        server: String,
        /// The timeout (`WHOIS_TIMEOUT`).
        timeout: Duration,
    },
    /// The answer exceeded [`MAX_ANSWER_BYTES`]; reading stopped.
    #[error(
        "answer too large from WHOIS server {server}: more than {limit} bytes, stopped reading"
    )]
    AnswerTooLarge {
        /// The server.
        server: String,
        /// The cap.
        limit: usize,
    },
    /// Neither an override nor the referral server names a server for the TLD.
    #[error(
        "no WHOIS server for .{tld}: {referral} names none (set WHOIS_OVERRIDES={tld}=host:port to add one)"
    )]
    NoServer {
        /// The TLD.
        tld: String,
        /// The referral server asked.
        referral: String,
    },
    /// An answer from a public server named a private or loopback address as
    /// the next server; following it would let the internet steer us into
    /// the cluster network.
    #[error(
        "{from} refers to {to}, a private address; not followed (use WHOIS_OVERRIDES for private servers)"
    )]
    PrivateReferral {
        /// The server whose answer named it.
        from: String,
        /// The server named.
        to: String,
    },
    /// A server is backing us off, or throttled us just now.
    #[error("{server}: {reason}")]
    Throttled {
        /// The server.
        server: String,
        /// The back-off or banner.
        reason: String,
        /// How long we stay away.
        retry_after: Option<Duration>,
    },
}

impl From<(String, BackingOff)> for WhoisError {
    fn from((server, backing_off): (String, BackingOff)) -> Self {
        Self::Throttled {
            server,
            reason: backing_off.to_string(),
            retry_after: Some(backing_off.remaining),
        }
    }
}

/// Settings of the WHOIS checker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server that refers each TLD to its registry's server (IANA).
    pub referral_server: HostPort,
    /// Servers per TLD, used instead of the referral.
    pub overrides: HostOverrides,
    /// Time cap of one whole exchange (connect, send, read to EOF).
    pub timeout: Duration,
    /// Request budget per WHOIS server.
    pub rate_limit: RateLimit,
}

impl Settings {
    /// The settings from the command line / environment.
    pub fn from_args(args: &CheckerArgs) -> Self {
        Self {
            referral_server: args.whois_referral_server.clone(),
            overrides: args.whois_overrides.clone(),
            timeout: args.whois_timeout,
            rate_limit: args.whois_rate_limit,
        }
    }
}

/// A cached referral: the server, or `None` when the referral server said
/// the TLD has none.
#[derive(Debug, Clone)]
struct Referral {
    server: Option<HostPort>,
    fetched: Instant,
}

/// One referral slot per TLD; the async lock makes concurrent checks of one
/// TLD ask the referral server once.
type ReferralSlot = Arc<tokio::sync::Mutex<Option<Referral>>>;

/// Checks domains over WHOIS.
#[derive(Debug)]
pub struct WhoisChecker {
    settings: Settings,
    budgets: Arc<ServerBudgets>,
    referrals: Mutex<HashMap<String, ReferralSlot>>,
    /// Servers that refused automated clients: until when, and their words.
    refusals: Mutex<HashMap<String, (Instant, String)>>,
}

impl WhoisChecker {
    /// A checker with its own per-server budgets of `settings.rate_limit`.
    pub fn new(settings: Settings) -> Self {
        let budgets = Arc::new(ServerBudgets::new("whois", settings.rate_limit));
        Self::with_budgets(settings, budgets)
    }

    /// A checker spending from shared `budgets` (e.g. sized by this replica's
    /// share of the shards).
    pub fn with_budgets(settings: Settings, budgets: Arc<ServerBudgets>) -> Self {
        Self {
            settings,
            budgets,
            referrals: Mutex::new(HashMap::new()),
            refusals: Mutex::new(HashMap::new()),
        }
    }

    async fn run(&self, domain: &DomainName) -> CheckReport {
        let started = Timestamp::now();
        let tld = domain.tld();
        // An override for a longer suffix (a private registry such as
        // `uk.com`) wins over the TLD's server.
        let routed = crate::domain_name::longest_suffix_match(domain.as_str(), |s| {
            self.settings.overrides.get(s)
        })
        .cloned();
        let server = match routed {
            Some(server) => server,
            None => match self.server_for(tld).await {
                Ok(server) => server,
                Err(error) => return failure_report(error, started),
            },
        };
        let name = server.to_string();
        if let Some(refusal) = self.refusal(&name) {
            return CheckReport::new(
                CheckKind::Whois,
                CheckOutcome::Inconclusive,
                refusal,
                started,
            )
            .with_server(name);
        }
        let query = query_for(tld, domain.as_str());
        let answer = match self.ask(&server, &query).await {
            Ok(answer) => answer,
            Err(error) => return failure_report(error, started).with_server(name),
        };
        self.interpret(domain, &server, &answer, started)
            .await
            .with_server(name)
    }

    /// Turns the registry's decoded answer into a report.
    async fn interpret(
        &self,
        domain: &DomainName,
        server: &HostPort,
        answer: &str,
        started: Timestamp,
    ) -> CheckReport {
        let kind = CheckKind::Whois;
        if answer.trim().is_empty() {
            return CheckReport::new(
                kind,
                CheckOutcome::Inconclusive,
                format!("empty answer from {server}"),
                started,
            );
        }
        match classify(domain.tld(), answer, Timestamp::now()) {
            Classification::RateLimited {
                evidence,
                retry_after,
            } => {
                let wait = self.budgets.back_off(&server.to_string(), retry_after);
                CheckReport::new(
                    kind,
                    CheckOutcome::RateLimited,
                    format!(
                        "throttled by {server}: {evidence:?}; backing off {}",
                        humantime::format_duration(wait)
                    ),
                    started,
                )
                .with_retry_after(Some(wait))
            }
            Classification::Refused { evidence } => {
                let until = Instant::now() + REFUSAL_BACKOFF;
                let detail = format!(
                    "{server} refuses automated queries: {evidence:?}; not asked again for {}",
                    humantime::format_duration(REFUSAL_BACKOFF)
                );
                self.refusals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(server.to_string(), (until, evidence));
                CheckReport::new(kind, CheckOutcome::Inconclusive, detail, started)
            }
            Classification::Reserved { evidence } => {
                self.budgets.record_success(&server.to_string());
                CheckReport::new(
                    kind,
                    CheckOutcome::Reserved,
                    format!("reserved per {server}: {evidence:?}"),
                    started,
                )
            }
            Classification::NotFound { evidence, strength } => {
                self.budgets.record_success(&server.to_string());
                let facts = parse_record_with(answer, &layout_for(domain.tld())).facts;
                if facts.registrar.is_some() || facts.created.is_some() {
                    // A not-found phrase next to registration data is a
                    // contradiction, not evidence of a free name.
                    return CheckReport::new(
                        kind,
                        CheckOutcome::Inconclusive,
                        format!(
                            "answer from {server} says {evidence:?} but carries registration data"
                        ),
                        started,
                    )
                    .with_registration(facts);
                }
                CheckReport::new(
                    kind,
                    CheckOutcome::Available,
                    format!("not found per {server}: {evidence:?}"),
                    started,
                )
                .with_strength(strength)
            }
            Classification::Unmatched => {
                self.budgets.record_success(&server.to_string());
                let record = parse_record_with(answer, &layout_for(domain.tld()));
                if record.facts.is_empty() {
                    let first = first_meaningful_line(answer).unwrap_or_default();
                    return CheckReport::new(
                        kind,
                        CheckOutcome::Inconclusive,
                        format!(
                            "answer from {server} ({} bytes) matched no known wording and carried no registration data; \
                             it begins {first:?} (please report it so the .{} patterns can learn it)",
                            answer.len(),
                            domain.tld()
                        ),
                        started,
                    );
                }
                let (facts, note) = self.with_registrar_details(domain, server, record).await;
                CheckReport::new(
                    kind,
                    CheckOutcome::Registered,
                    format!("registration record from {server}{note}"),
                    started,
                )
                .with_registration(facts)
            }
        }
    }

    /// For thin registries: asks the registrar's server the record names and
    /// fills the registry's gaps with its facts. Returns the facts and a note
    /// for the report; a registrar failure only changes the note.
    async fn with_registrar_details(
        &self,
        domain: &DomainName,
        registry: &HostPort,
        record: WhoisRecord,
    ) -> (RegistrationFacts, String) {
        let Some(registrar) = record.registrar_server.filter(|r| r != registry) else {
            return (record.facts, String::new());
        };
        if !may_follow(registry, &registrar) {
            let refused = WhoisError::PrivateReferral {
                from: registry.to_string(),
                to: registrar.to_string(),
            };
            return (record.facts, format!("; {refused}"));
        }
        let details = match self.ask(&registrar, domain.as_str()).await {
            Ok(answer) => answer,
            Err(error) => {
                return (
                    record.facts,
                    format!("; registrar server {registrar} gave no details: {error}"),
                );
            }
        };
        // The registrar's server is not the registry: no TLD profile applies.
        match classify("", &details, Timestamp::now()) {
            Classification::RateLimited { retry_after, .. } => {
                let wait = self.budgets.back_off(&registrar.to_string(), retry_after);
                (
                    record.facts,
                    format!(
                        "; registrar server {registrar} throttled us (backing off {})",
                        humantime::format_duration(wait)
                    ),
                )
            }
            Classification::Unmatched => {
                self.budgets.record_success(&registrar.to_string());
                let extra = parse_record(&details).facts;
                if extra.is_empty() {
                    (
                        record.facts,
                        format!("; registrar server {registrar} had no details"),
                    )
                } else {
                    (
                        merge_facts(record.facts, extra),
                        format!("; details from registrar server {registrar}"),
                    )
                }
            }
            Classification::Refused { evidence } => (
                record.facts,
                format!("; registrar server {registrar} refuses automated queries: {evidence:?}"),
            ),
            Classification::Reserved { .. } | Classification::NotFound { .. } => {
                self.budgets.record_success(&registrar.to_string());
                (
                    record.facts,
                    format!("; registrar server {registrar} has no record of it"),
                )
            }
        }
    }

    /// Why `server` is not asked now, while its refusal of automated
    /// clients is recent.
    fn refusal(&self, server: &str) -> Option<String> {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let (until, evidence) = refusals.get(server)?;
        let now = Instant::now();
        if *until <= now {
            refusals.remove(server);
            return None;
        }
        Some(format!(
            "{server} refuses automated queries: {evidence:?}; not asked again for {}",
            humantime::format_duration(Duration::from_secs((*until - now).as_secs()))
        ))
    }

    /// The WHOIS server of `tld`: the override, else the (cached) referral.
    async fn server_for(&self, tld: &str) -> Result<HostPort, WhoisError> {
        if let Some(server) = self.settings.overrides.get(tld) {
            return Ok(server.clone());
        }
        let slot = {
            let mut slots = self.referrals.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(tld.to_owned()).or_default().clone()
        };
        let mut cached = slot.lock().await;
        let referral_server = &self.settings.referral_server;
        let no_server = || WhoisError::NoServer {
            tld: tld.to_owned(),
            referral: referral_server.to_string(),
        };
        if let Some(referral) = cached
            .as_ref()
            .filter(|r| r.fetched.elapsed() < REFERRAL_TTL)
        {
            return referral.server.clone().ok_or_else(no_server);
        }
        let answer = self.ask(referral_server, tld).await?;
        if answer.trim().is_empty() {
            // Not cached: an empty answer is a failure, not a statement.
            return Err(no_server());
        }
        if let Classification::RateLimited {
            evidence,
            retry_after,
        } = classify("", &answer, Timestamp::now())
        {
            let wait = self
                .budgets
                .back_off(&referral_server.to_string(), retry_after);
            return Err(WhoisError::Throttled {
                server: referral_server.to_string(),
                reason: format!("referral server throttled us: {evidence:?}"),
                retry_after: Some(wait),
            });
        }
        self.budgets.record_success(&referral_server.to_string());
        let server = parse_referral(&answer);
        if let Some(to) = server
            .as_ref()
            .filter(|to| !may_follow(referral_server, to))
        {
            return Err(WhoisError::PrivateReferral {
                from: referral_server.to_string(),
                to: to.to_string(),
            });
        }
        *cached = Some(Referral {
            server: server.clone(),
            fetched: Instant::now(),
        });
        server.ok_or_else(no_server)
    }

    /// One budgeted exchange: waits for `server`'s budget (or refuses while it
    /// backs us off), sends `query`, returns the decoded answer.
    async fn ask(&self, server: &HostPort, query: &str) -> Result<String, WhoisError> {
        let name = server.to_string();
        self.budgets
            .acquire(&name)
            .await
            .map_err(|backing_off| WhoisError::from((name.clone(), backing_off)))?;
        let exchange = exchange(server, query);
        match tokio::time::timeout(self.settings.timeout, exchange).await {
            Ok(Ok(bytes)) => Ok(decode(&bytes)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(WhoisError::Timeout {
                server: name,
                timeout: self.settings.timeout,
            }),
        }
    }
}

impl Checker for WhoisChecker {
    fn kind(&self) -> CheckKind {
        CheckKind::Whois
    }

    fn check<'a>(&'a self, domain: &'a DomainName) -> BoxFuture<'a, CheckReport> {
        Box::pin(self.run(domain))
    }
}

/// Connects, sends `query` + CRLF, reads to EOF within [`MAX_ANSWER_BYTES`].
async fn exchange(server: &HostPort, query: &str) -> Result<Vec<u8>, WhoisError> {
    let name = || server.to_string();
    let mut stream = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(|source| WhoisError::Connect {
            server: name(),
            source,
        })?;
    let failed = |source| WhoisError::Exchange {
        server: name(),
        source,
    };
    stream
        .write_all(format!("{query}\r\n").as_bytes())
        .await
        .map_err(failed)?;
    let mut answer = Vec::with_capacity(16 * 1024);
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).await.map_err(failed)?;
        if read == 0 {
            return Ok(answer);
        }
        if answer.len() + read > MAX_ANSWER_BYTES {
            return Err(WhoisError::AnswerTooLarge {
                server: name(),
                limit: MAX_ANSWER_BYTES,
            });
        }
        answer.extend_from_slice(&chunk[..read]);
    }
}

/// Whether a server named in `from`'s answer may be contacted: an address
/// that is not public unicast (private, loopback, link-local...: the
/// ranges [`crate::net::refused_range`] names) only when `from` is itself
/// on one (tests and private setups); host names and public addresses
/// always.
fn may_follow(from: &HostPort, to: &HostPort) -> bool {
    let private = |server: &HostPort| {
        server
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| crate::net::refused_range(ip).is_some())
    };
    !private(to) || private(from)
}

/// The report of a check that got no usable answer.
fn failure_report(error: WhoisError, started: Timestamp) -> CheckReport {
    let kind = CheckKind::Whois;
    match error {
        WhoisError::NoServer { .. } => {
            CheckReport::new(kind, CheckOutcome::Inconclusive, error.to_string(), started)
        }
        WhoisError::Throttled { retry_after, .. } => {
            CheckReport::new(kind, CheckOutcome::RateLimited, error.to_string(), started)
                .with_retry_after(retry_after)
        }
        WhoisError::Connect { .. }
        | WhoisError::PrivateReferral { .. }
        | WhoisError::Exchange { .. }
        | WhoisError::Timeout { .. }
        | WhoisError::AnswerTooLarge { .. } => CheckReport::error(kind, error, started),
    }
}

/// The registry's facts, with gaps filled from the registrar's. The registry
/// is authoritative for what it publishes.
fn merge_facts(registry: RegistrationFacts, registrar: RegistrationFacts) -> RegistrationFacts {
    let pick_list = |a: Vec<String>, b: Vec<String>| if a.is_empty() { b } else { a };
    RegistrationFacts {
        registrar: registry.registrar.or(registrar.registrar),
        created: registry.created.or(registrar.created),
        expires: registry.expires.or(registrar.expires),
        last_changed: registry.last_changed.or(registrar.last_changed),
        deletion: registry.deletion.or(registrar.deletion),
        statuses: pick_list(registry.statuses, registrar.statuses),
        nameservers: pick_list(registry.nameservers, registrar.nameservers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_facts_win_and_registrar_fills_gaps() {
        let registry = RegistrationFacts {
            registrar: Some("Registry Says".to_owned()),
            statuses: vec!["clientHold".to_owned()],
            ..RegistrationFacts::default()
        };
        let registrar = RegistrationFacts {
            registrar: Some("Registrar Says".to_owned()),
            created: Some(Timestamp::UNIX_EPOCH),
            statuses: vec!["ok".to_owned()],
            nameservers: vec!["ns1.example.net".to_owned()],
            ..RegistrationFacts::default()
        };
        let merged = merge_facts(registry, registrar);
        assert_eq!(merged.registrar.as_deref(), Some("Registry Says"));
        assert_eq!(merged.created, Some(Timestamp::UNIX_EPOCH));
        assert_eq!(merged.statuses, ["clientHold"]);
        assert_eq!(merged.nameservers, ["ns1.example.net"]);
    }

    #[test]
    fn answers_from_public_servers_cannot_point_into_private_networks() {
        let server = |raw: &str| parse::parse_server(raw).unwrap();
        let public = server("whois.verisign-grs.com");
        for private in [
            "127.0.0.1:6379",
            "10.0.0.5",
            "192.168.1.1:43",
            "[::1]:43",
            "[fd00::1]:43",
        ] {
            assert!(!may_follow(&public, &server(private)), "{private}");
        }
        assert!(may_follow(&public, &server("whois.registrar.example")));
        assert!(may_follow(&public, &server("93.184.216.34:4343")));
        // Every range the HTTP checker refuses, not only the private ones.
        assert!(!may_follow(&public, &server("100.64.0.1")));
        assert!(!may_follow(&public, &server("169.254.169.254")));
        assert!(may_follow(
            &server("127.0.0.1:4343"),
            &server("127.0.0.1:4444")
        ));
    }

    #[test]
    fn failures_map_to_outcomes_and_never_to_available() {
        let started = Timestamp::now();
        let no_server = WhoisError::NoServer {
            tld: "example".to_owned(),
            referral: "whois.iana.org:43".to_owned(),
        };
        let report = failure_report(no_server, started);
        assert_eq!(report.outcome, CheckOutcome::Inconclusive);
        assert!(report.detail.contains("no WHOIS server for .example"));
        assert!(report.detail.contains("WHOIS_OVERRIDES=example=host:port"));
        let too_large = WhoisError::AnswerTooLarge {
            server: "w:43".to_owned(),
            limit: MAX_ANSWER_BYTES,
        };
        let report = failure_report(too_large, started);
        assert_eq!(report.outcome, CheckOutcome::Error);
        assert!(report.error.unwrap().contains("answer too large"));
    }
}
