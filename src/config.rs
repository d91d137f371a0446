//! Configuration: one typed home for every setting.
//!
//! Each setting is a CLI flag with a matching environment variable, parsed and
//! validated once at start-up. A bad value stops the process with a message
//! that names the variable, the value (secrets redacted) and what is expected.

use std::{
    collections::BTreeMap, fmt, net::SocketAddr, num::NonZeroU32, str::FromStr, time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum, error::ContextKind};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use url::Url;

use crate::resource::{DnssecPolicy, HealthSpec};

/// A configuration problem found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One variable holds a value that cannot be used.
    #[error("invalid {variable} (flag {flag}) = {value}: {expected}")]
    Invalid {
        /// The environment variable.
        variable: String,
        /// The matching flag.
        flag: String,
        /// The value as given, quoted, or `<redacted>` for secrets.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// Two settings contradict each other, or one needs another.
    #[error("inconsistent configuration: {0}")]
    Inconsistent(String),
}

/// Local result alias.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// A value that must never be printed: its `Debug` and `Display` are
/// redacted, its memory is zeroed on drop ([`secrecy::SecretString`]), and
/// comparisons take the same time whatever the value ([`subtle`]).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value that must never be printed.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether `given` is the secret, in time that depends on the lengths
    /// only (a bearer token checked byte by byte would leak its prefix).
    pub fn matches(&self, given: &str) -> bool {
        self.expose().as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl Secret {
    /// `text` with every occurrence of this secret replaced by
    /// `<redacted>`, by the rule of [`redact`].
    pub fn redact(&self, text: &str) -> String {
        redact(text, self.expose())
    }
}

/// Secrets shorter than this many characters are redacted only where they
/// stand alone (see [`redact`]).
pub const SHORT_SECRET_CHARS: usize = 8;

/// `text` with `secret` replaced by `<redacted>`. A secret of at least
/// [`SHORT_SECRET_CHARS`] characters is replaced wherever it occurs. A
/// shorter one is replaced only as a whole token, where neither the
/// character before nor the one after is a letter or digit: a one-letter
/// secret must not turn `registrar` into `regi<redacted>trar`, and a text
/// holding a short secret inside a word cannot reveal which word it was.
/// An empty secret changes nothing.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() || !text.contains(secret) {
        return text.to_owned();
    }
    if secret.chars().count() >= SHORT_SECRET_CHARS {
        return text.replace(secret, REDACTED);
    }
    let in_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut redacted = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(secret) {
        let end = at + secret.len();
        if in_word(text[..at].chars().next_back()) || in_word(text[end..].chars().next()) {
            continue;
        }
        redacted.push_str(&text[copied..at]);
        redacted.push_str(REDACTED);
        copied = end;
    }
    redacted.push_str(&text[copied..]);
    redacted
}

/// What a secret is replaced by, in values, logs and events.
const REDACTED: &str = "<redacted>";

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The `domain-monitor` command line.
#[derive(Debug, Parser)]
#[command(name = "domain-monitor", version, about, long_about = None)]
pub struct Cli {
    /// Logging settings, shared by every subcommand.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator: watch MonitoredDomains, check them, report availability.
    Run(Box<RunArgs>),
    /// Check domains once, locally, with the same layered checks, and print the verdicts.
    Check(Box<CheckArgs>),
    /// Print a CustomResourceDefinition of the operator as YAML.
    Crd(CrdArgs),
}

/// Which CustomResourceDefinition `crd` prints.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// The kind: `monitored-domain` (`crds/monitoreddomain.yaml`) or
    /// `domain-health-check` (`crds/domainhealthcheck.yaml`).
    #[arg(long, value_enum, default_value_t = CrdKind::MonitoredDomain)]
    pub kind: CrdKind,
}

/// A kind the operator defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CrdKind {
    /// `MonitoredDomain`.
    MonitoredDomain,
    /// `DomainHealthCheck`.
    DomainHealthCheck,
}

/// Log output settings.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info` or `domain_monitor=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", value_parser = parse_log_filter, global = true)]
    pub log_filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings of the layered checks, shared by `run` and `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckerArgs {
    /// DNS servers to ask instead of the TLD's authoritative servers, as
    /// comma-separated `ip[:port]` (for tests and private setups).
    #[arg(long, env = "DNS_RESOLVERS", value_delimiter = ',', value_parser = parse_socket_addr)]
    pub dns_resolvers: Vec<SocketAddr>,
    /// Timeout of one DNS query.
    #[arg(long, env = "DNS_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub dns_timeout: Duration,
    /// The port a domain's own name servers are asked on by health mode's
    /// delegation probe.
    #[arg(long, env = "NAMESERVER_PORT", default_value_t = 53, value_parser = clap::value_parser!(u16).range(1..))]
    pub nameserver_port: u16,
    /// DNSSEC trust anchors for health mode: a file of DNSKEY records in
    /// zone-file form (`. IN DNSKEY 257 3 8 AwEAAa…`, `;` comments), read
    /// at start-up. Unset: the IANA root zone KSKs (tags 20326 and 38696).
    #[arg(long, env = "DNSSEC_TRUST_ANCHORS", value_parser = parse_trust_anchors)]
    pub dnssec_trust_anchors: Option<TrustAnchorFile>,
    /// Registry grace period after expiry (auto-renew grace) used to predict drops.
    #[arg(long, env = "AUTO_RENEW_GRACE", default_value = "45days", value_parser = parse_duration)]
    pub auto_renew_grace: Duration,
    /// Length of the redemption period used to predict drops.
    #[arg(long, env = "REDEMPTION_PERIOD", default_value = "30days", value_parser = parse_duration)]
    pub redemption_period: Duration,
    /// Length of pendingDelete used to predict drops.
    #[arg(long, env = "PENDING_DELETE_PERIOD", default_value = "5days", value_parser = parse_duration)]
    pub pending_delete_period: Duration,
    /// Timeout of one HTTP probe of a domain.
    #[arg(long, env = "HTTP_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub http_timeout: Duration,
    /// Let the HTTP checker, and RDAP redirects to other hosts, connect to
    /// loopback and private addresses (tests only: the domain list is user
    /// input and must not reach into the cluster).
    #[arg(long, env = "HTTP_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub http_allow_private: bool,
    /// Where to fetch the IANA RDAP bootstrap file.
    #[arg(long, env = "RDAP_BOOTSTRAP_URL", default_value = "https://data.iana.org/rdap/dns.json", value_parser = parse_http_url)]
    pub rdap_bootstrap_url: Url,
    /// RDAP base URLs for TLDs missing from (or wrong in) the bootstrap file, as
    /// comma-separated `tld=url`.
    #[arg(long, env = "RDAP_OVERRIDES", default_value = "", value_parser = parse_url_overrides)]
    pub rdap_overrides: UrlOverrides,
    /// TLDs whose RDAP servers have answered 404 for registered names: their
    /// "not found" is weak evidence, never enough on its own (comma-separated).
    #[arg(
        long,
        env = "RDAP_WEAK_NOT_FOUND_TLDS",
        value_delimiter = ',',
        default_value = "io,co"
    )]
    pub rdap_weak_not_found_tlds: Vec<String>,
    /// Timeout of one RDAP request.
    #[arg(long, env = "RDAP_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub rdap_timeout: Duration,
    /// The WHOIS server that refers each TLD to its registry's server.
    #[arg(long, env = "WHOIS_REFERRAL_SERVER", default_value = "whois.iana.org:43", value_parser = parse_host_port)]
    pub whois_referral_server: HostPort,
    /// WHOIS servers per TLD, as comma-separated `tld=host[:port]`.
    #[arg(long, env = "WHOIS_OVERRIDES", default_value = "", value_parser = parse_host_overrides)]
    pub whois_overrides: HostOverrides,
    /// Timeout of one WHOIS exchange.
    #[arg(long, env = "WHOIS_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub whois_timeout: Duration,
    /// Request budget per DNS server, e.g. `200/s`.
    #[arg(long, env = "DNS_RATE_LIMIT", default_value = "200/s", value_parser = parse_rate_limit)]
    pub dns_rate_limit: RateLimit,
    /// Request budget per web host probed by the HTTP checker.
    #[arg(long, env = "HTTP_RATE_LIMIT", default_value = "5/s", value_parser = parse_rate_limit)]
    pub http_rate_limit: RateLimit,
    /// Request budget per RDAP server.
    #[arg(long, env = "RDAP_RATE_LIMIT", default_value = "10/s", value_parser = parse_rate_limit)]
    pub rdap_rate_limit: RateLimit,
    /// Request budget per WHOIS server.
    #[arg(long, env = "WHOIS_RATE_LIMIT", default_value = "1/s", value_parser = parse_rate_limit)]
    pub whois_rate_limit: RateLimit,
    /// Request budget toward the registrar availability API.
    #[arg(long, env = "REGISTRAR_RATE_LIMIT", default_value = "1/s", value_parser = parse_rate_limit)]
    pub registrar_rate_limit: RateLimit,
    /// Confidence (0.0–1.0) a verdict of `Available` needs before anyone is
    /// notified; below it a free-looking name reads `Unconfirmed`. The weights
    /// are set for 0.9: above 0.908 a drop confirmed by DNS and RDAP alone
    /// (no WHOIS, no registrar) is never notified.
    #[arg(long, env = "CONFIDENCE_THRESHOLD", default_value = "0.9", value_parser = parse_fraction)]
    pub confidence_threshold: f64,
    /// How long after the registry's first RDAP "not in the registry
    /// database" a second one confirms a drop where no WHOIS or registrar
    /// corroborates it (the confirmation over time of README's evidence model).
    #[arg(long, env = "REGISTRY_CONFIRM_AFTER", default_value = "30s", value_parser = parse_confirm_after)]
    pub registry_confirm_after: Duration,
    /// Reserved and premium name lists to add to the built-in ICANN
    /// Specification 5 reservations, as comma-separated file paths. Each
    /// line: a name (`vip.example`), a label under every suffix (`casino.*`)
    /// or a release (`!france.example`), optionally followed by words saying
    /// why; `#` starts a comment.
    #[arg(long, env = "RESERVED_NAMES", default_value = "", value_parser = parse_path_list)]
    pub reserved_names: PathList,
    /// Registrar availability API: `none` (disabled), `godaddy`, or `generic`.
    #[arg(long, env = "REGISTRAR_PROVIDER", value_enum, default_value_t = ProviderKind::None)]
    pub registrar_provider: ProviderKind,
    /// Registrar API URL: the base URL for `godaddy` (default
    /// https://api.godaddy.com), or the request URL with a `{domain}`
    /// placeholder for `generic`.
    #[arg(long, env = "REGISTRAR_API_URL")]
    pub registrar_api_url: Option<String>,
    /// Registrar API key (`godaddy`), or the token of the `generic` provider.
    #[arg(long, env = "REGISTRAR_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub registrar_api_key: Option<Secret>,
    /// Registrar API secret (`godaddy`).
    #[arg(long, env = "REGISTRAR_API_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub registrar_api_secret: Option<Secret>,
    /// Header that carries the `generic` provider's key as is (e.g. `X-Api-Key`);
    /// without it the key is sent as `Authorization: Bearer <key>`.
    #[arg(long, env = "REGISTRAR_API_KEY_HEADER")]
    pub registrar_api_key_header: Option<String>,
    /// JSON pointer to the boolean availability field of a `generic` answer.
    #[arg(
        long,
        env = "REGISTRAR_AVAILABLE_POINTER",
        default_value = "/available"
    )]
    pub registrar_available_pointer: String,
    /// JSON pointer to a boolean premium/reserved flag of a `generic` answer.
    #[arg(long, env = "REGISTRAR_RESERVED_POINTER")]
    pub registrar_reserved_pointer: Option<String>,
    /// Timeout of one registrar API request.
    #[arg(long, env = "REGISTRAR_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub registrar_timeout: Duration,
}

/// Which registrar API to ask (`REGISTRAR_PROVIDER`); the checker is
/// `check::registrar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProviderKind {
    /// No registrar API: the checker is skipped.
    #[default]
    None,
    /// GoDaddy's domain availability API.
    Godaddy,
    /// Any JSON API, described by a URL template and JSON pointers.
    Generic,
}

impl ProviderKind {
    /// Every provider, in declaration order.
    pub const ALL: [Self; 3] = [Self::None, Self::Godaddy, Self::Generic];

    /// The word of `REGISTRAR_PROVIDER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Godaddy => "godaddy",
            Self::Generic => "generic",
        }
    }
}

impl CheckerArgs {
    /// The DNSSEC trust anchors: those of `DNSSEC_TRUST_ANCHORS`, else the
    /// IANA root zone KSKs.
    pub fn trust_anchors(&self) -> std::sync::Arc<hickory_proto::dnssec::TrustAnchors> {
        self.dnssec_trust_anchors.as_ref().map_or_else(
            || std::sync::Arc::new(hickory_proto::dnssec::TrustAnchors::default()),
            |file| std::sync::Arc::clone(&file.anchors),
        )
    }
}

/// Arguments of `domain-monitor check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The domains to check.
    #[arg(required = true, value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Also report each domain's health, as health mode would
    /// (`spec.health`): registration, registry lock, expiry, delegation.
    #[arg(long)]
    pub health: bool,
    /// With `--health`: a name server the domains should be delegated to
    /// (`spec.health.expectedNameservers`; repeat for each).
    #[arg(long = "expected-nameserver", value_name = "HOST", requires = "health", value_parser = parse_expected_nameserver)]
    pub expected_nameservers: Vec<String>,
    /// With `--health`: how long before expiry `ExpiringSoon` turns true
    /// (`spec.health.expiryWarning`, default 30d).
    #[arg(long, value_name = "DURATION", requires = "health", value_parser = parse_expiry_warning)]
    pub expiry_warning: Option<String>,
    /// With `--health`: whether the domains must be signed
    /// (`spec.health.dnssec`: `required`, `optional` or `ignore`; the
    /// default, `ignore`, is the resource's). `optional` validates the chain
    /// of a signed domain and accepts an unsigned one.
    #[arg(long, value_name = "POLICY", requires = "health", default_value = "ignore", value_parser = parse_dnssec_policy)]
    pub dnssec: DnssecPolicy,
    /// Checker settings.
    #[command(flatten)]
    pub checks: CheckerArgs,
}

/// How a watch gets its initial list of objects.
///
/// A streaming list (`watch` with `sendInitialEvents=true`, KEP-3157
/// "WatchList") is served from the API server's watch cache in one
/// response, and the operator checks each domain as it arrives; a
/// paginated list asks for 500 objects per request, one request after the
/// other. Measured with 10^5 domains on two cores (`just bench`, scale):
/// the first pass took 22.5 s streamed against 39.5 s paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchList {
    /// Stream when the API server's version has WatchList on by default
    /// (Kubernetes 1.32, and 1.34 or later; 1.33 turned it off), else
    /// page; a stream the server refuses (a 4xx answer before the first
    /// list ends) falls back to pages for the rest of the process.
    Auto,
    /// Always stream; for servers with the `WatchList` gate turned on by hand.
    Stream,
    /// Always page (`list` with `limit=500`, then a watch).
    Paginate,
}

impl WatchList {
    /// Whether to stream to an API server of version `major`.`minor`
    /// (`/version`'s fields; the minor may carry a suffix, as in `34+`).
    /// `None` (the version is unknown) pages.
    pub fn streams(self, version: Option<(&str, &str)>) -> bool {
        match self {
            Self::Stream => true,
            Self::Paginate => false,
            Self::Auto => version.is_some_and(|(major, minor)| {
                let digits = |s: &str| -> Option<u32> {
                    s.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse()
                        .ok()
                };
                match (digits(major), digits(minor)) {
                    (Some(1), Some(minor)) => minor == 32 || minor >= 34,
                    (Some(major), Some(_)) => major > 1,
                    _ => false,
                }
            }),
        }
    }
}

/// How `check` prints its verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One aligned line per domain.
    Table,
    /// One JSON document with every verdict and its evidence.
    Json,
}

/// Arguments of `domain-monitor run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where availability notifications and per-check results are POSTed.
    #[arg(long, env = "API_CALLBACK_URL", value_parser = parse_http_url)]
    pub api_callback_url: Option<Url>,
    /// Bearer token for the callback receiver and the HTTP endpoints that
    /// change something or name watched domains.
    #[arg(long, env = "API_AUTH_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub api_auth_token: Option<Secret>,
    /// The user's API that lists the domains to monitor.
    #[arg(long, env = "DOMAIN_API_URL", value_parser = parse_http_url)]
    pub domain_api_url: Option<Url>,
    /// How often the domain list is fetched (seconds, or a duration such as `5m`).
    #[arg(long, env = "DOMAIN_API_REFRESH_INTERVAL", default_value = "300", value_parser = parse_refresh_interval)]
    pub domain_api_refresh_interval: Duration,
    /// Sentry DSN; errors and panics go to Sentry only when it is set.
    #[arg(long, env = "SENTRY_DSN", hide_env_values = true, value_parser = parse_sentry_dsn)]
    pub sentry_dsn: Option<Secret>,
    /// Name of this replica in logs, metrics and leases (defaults to the pod name).
    #[arg(long, env = "INSTANCE_ID", default_value_t = default_instance_id(), value_parser = parse_instance_id)]
    pub instance_id: String,
    /// Namespace where synced MonitoredDomains are created.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default", value_parser = parse_namespace)]
    pub namespace: String,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "WATCH_NAMESPACE", value_parser = parse_namespace)]
    pub watch_namespace: Option<String>,
    /// Check interval of ordinary domains.
    #[arg(long, env = "CHECK_INTERVAL", default_value = "1h", value_parser = parse_duration)]
    pub check_interval: Duration,
    /// Check interval of priority domains.
    #[arg(long, env = "PRIORITY_CHECK_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub priority_check_interval: Duration,
    /// Check interval inside a predicted drop window.
    #[arg(long, env = "DROP_WINDOW_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub drop_window_interval: Duration,
    /// A status whose visible content did not change is rewritten at most
    /// this often (its `lastCheckedAt` then says the verdict still holds).
    /// The latest check time is always served by `/domains` and `/domain/{d}`.
    #[arg(long, env = "STATUS_HEARTBEAT", default_value = "24h", value_parser = parse_duration)]
    pub status_heartbeat: Duration,
    /// How many domains are checked at the same time.
    #[arg(long, env = "MAX_CONCURRENT_CHECKS", default_value = "200", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_checks: u16,
    /// Which per-check results are POSTed to the callback URL.
    #[arg(long, env = "PER_CHECK_CALLBACKS", value_enum, default_value_t = PerCheckCallbacks::Changes)]
    pub per_check_callbacks: PerCheckCallbacks,
    /// Largest share (0.0–1.0) of synced domains one sync may delete.
    #[arg(long, env = "SYNC_MAX_DELETE_SHARE", default_value = "0.25", value_parser = parse_fraction)]
    pub sync_max_delete_share: f64,
    /// Let a sync delete more than `SYNC_MAX_DELETE_SHARE`.
    #[arg(long, env = "SYNC_ALLOW_MASS_DELETE", default_value_t = false, action = clap::ArgAction::Set)]
    pub sync_allow_mass_delete: bool,
    /// Watch DomainHealthChecks and probe their records (the chart grants
    /// the rights for them only with this on).
    #[arg(long, env = "DOMAIN_HEALTH_CHECKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub domain_health_checks: bool,
    /// Resolvers of DomainHealthChecks that name none, as comma-separated
    /// `name=ip[:port]`.
    #[arg(long, env = "DHC_RESOLVERS", value_delimiter = ',')]
    pub dhc_resolvers: Vec<NamedResolver>,
    /// A PEM file of CA certificates trusted for DomainHealthChecks'
    /// `spec.tls` certificates besides the system roots (an internal CA).
    #[arg(long, env = "DHC_CA_BUNDLE", value_parser = CaBundle::read)]
    pub dhc_ca_bundle: Option<CaBundle>,
    /// How the watch of `MonitoredDomain`s gets its initial list (at start,
    /// at every relist and when the held shards change): `auto` streams
    /// it when the API server supports that, `stream` always does,
    /// `paginate` always lists in pages.
    #[arg(long, env = "WATCH_LIST", value_enum, default_value_t = WatchList::Auto)]
    pub watch_list: WatchList,
    /// Number of shards the domain space is split into (the same on every replica).
    #[arg(long, env = "SHARDS", default_value = "16", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub shards: u32,
    /// How long a shard Lease stays valid without renewal; a dead replica's
    /// shards are taken over after this.
    #[arg(long, env = "SHARD_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub shard_lease_duration: Duration,
    /// A replica stops working a shard it could not renew for this long
    /// (shorter than the lease duration).
    #[arg(long, env = "SHARD_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub shard_renew_deadline: Duration,
    /// Time between shard coordination rounds.
    #[arg(long, env = "SHARD_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub shard_retry_period: Duration,
    /// Let `/domains` and `/domain/{domain}` answer without the bearer
    /// token: anyone who reaches `LISTEN_ADDR` may then read the watchlist.
    /// Off, they need `Authorization: Bearer <API_AUTH_TOKEN>`.
    #[arg(long, env = "OPEN_WATCHLIST", default_value_t = false, action = clap::ArgAction::Set)]
    pub open_watchlist: bool,
    /// Address of the HTTP operations surface.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8000", value_parser = parse_listen_addr)]
    pub listen_addr: SocketAddr,
    /// Checker settings.
    #[command(flatten)]
    pub checks: CheckerArgs,
    /// OpenTelemetry export settings.
    #[command(flatten)]
    pub otel: OtelArgs,
}

/// OpenTelemetry export (OTLP over HTTP/protobuf), configured by the standard
/// `OTEL_*` variables. Nothing is exported unless an endpoint is set. The
/// SDK also reads `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER` (and their per-signal
/// forms) itself.
#[derive(Debug, Clone, Args)]
pub struct OtelArgs {
    /// Base URL of the OTLP/HTTP receiver; `/v1/metrics` and `/v1/traces` are appended.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = parse_http_url)]
    pub otlp_endpoint: Option<Url>,
    /// Full URL metrics are sent to (overrides the base endpoint for metrics).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", value_parser = parse_http_url)]
    pub otlp_metrics_endpoint: Option<Url>,
    /// Full URL traces are sent to (overrides the base endpoint for traces).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_parser = parse_http_url)]
    pub otlp_traces_endpoint: Option<Url>,
    /// OTLP transport; only `http/protobuf` is built in.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf", value_parser = parse_otlp_protocol)]
    pub otlp_protocol: String,
    /// `otlp` exports metrics when an endpoint is set; `none` never does.
    #[arg(long, env = "OTEL_METRICS_EXPORTER", value_enum, default_value_t = OtelExporter::Otlp)]
    pub metrics_exporter: OtelExporter,
    /// `otlp` exports traces of reconciles and checks when an endpoint is set; `none` never does.
    #[arg(long, env = "OTEL_TRACES_EXPORTER", value_enum, default_value_t = OtelExporter::Otlp)]
    pub traces_exporter: OtelExporter,
    /// Turns every OpenTelemetry export off.
    #[arg(long, env = "OTEL_SDK_DISABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub sdk_disabled: bool,
    /// Time between metric exports, in milliseconds.
    #[arg(long, env = "OTEL_METRIC_EXPORT_INTERVAL", default_value = "60000", value_parser = parse_millis)]
    pub metric_export_interval: Duration,
    /// `service.name` of the exported telemetry (default `domain-monitor`,
    /// unless `OTEL_RESOURCE_ATTRIBUTES` names one).
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
}

impl OtelArgs {
    /// Where metrics go, if they are exported.
    pub fn metrics_endpoint(&self) -> Option<Url> {
        self.endpoint(
            self.metrics_exporter,
            self.otlp_metrics_endpoint.as_ref(),
            "v1/metrics",
        )
    }

    /// Where traces go, if they are exported.
    pub fn traces_endpoint(&self) -> Option<Url> {
        self.endpoint(
            self.traces_exporter,
            self.otlp_traces_endpoint.as_ref(),
            "v1/traces",
        )
    }

    /// The signal's own URL as given, else the base URL with `path` appended
    /// (as the OTLP specification resolves them).
    fn endpoint(&self, exporter: OtelExporter, signal: Option<&Url>, path: &str) -> Option<Url> {
        if self.sdk_disabled || exporter == OtelExporter::None {
            return None;
        }
        if let Some(url) = signal {
            return Some(url.clone());
        }
        let mut base = self.otlp_endpoint.clone()?;
        let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
        base.set_path(&joined);
        Some(base)
    }
}

/// Whether a signal is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtelExporter {
    /// OTLP over HTTP/protobuf.
    Otlp,
    /// Not exported.
    None,
}

/// Which per-check results go to the callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PerCheckCallbacks {
    /// Every check result.
    All,
    /// Only results that differ from the checker's previous result.
    Changes,
    /// None; only availability notifications.
    Off,
}

impl Cli {
    /// Parses the process arguments and environment. `--help` and `--version`
    /// print and exit; usage errors exit with clap's message; bad values become
    /// a [`ConfigError`] that names the variable.
    pub fn from_env_and_args() -> Result<Self> {
        Self::from_args(std::env::args_os())
    }

    /// Like [`Cli::from_env_and_args`] with explicit arguments (environment
    /// variables are still read).
    pub fn from_args<I, T>(args: I) -> Result<Self>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = match <Self as Parser>::try_parse_from(args) {
            Ok(cli) => cli,
            Err(err) => return Err(explain_clap_error(err)),
        };
        if let Command::Run(run) = &cli.command {
            run.validate()?;
        }
        Ok(cli)
    }
}

impl RunArgs {
    /// Checks the settings that only make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.api_callback_url.is_some() && self.api_auth_token.is_none() {
            return Err(ConfigError::Inconsistent(
                "API_CALLBACK_URL is set but API_AUTH_TOKEN is not: the receiver needs the bearer token"
                    .to_owned(),
            ));
        }
        if let (Some(watched), Some(_)) = (&self.watch_namespace, &self.domain_api_url)
            && watched != &self.namespace
        {
            return Err(ConfigError::Inconsistent(format!(
                "WATCH_NAMESPACE ({watched}) differs from POD_NAMESPACE ({}), where the domain list sync creates resources: they would never be checked",
                self.namespace
            )));
        }
        if self.shard_renew_deadline >= self.shard_lease_duration {
            return Err(ConfigError::Inconsistent(format!(
                "SHARD_RENEW_DEADLINE ({}) must be shorter than SHARD_LEASE_DURATION ({}): a replica has to stop working a shard before another may take it",
                humantime::format_duration(self.shard_renew_deadline),
                humantime::format_duration(self.shard_lease_duration)
            )));
        }
        if self.shard_retry_period >= self.shard_renew_deadline {
            return Err(ConfigError::Inconsistent(format!(
                "SHARD_RETRY_PERIOD ({}) must be shorter than SHARD_RENEW_DEADLINE ({}): leases are renewed every retry period",
                humantime::format_duration(self.shard_retry_period),
                humantime::format_duration(self.shard_renew_deadline)
            )));
        }
        if self.priority_check_interval > self.check_interval {
            return Err(ConfigError::Inconsistent(format!(
                "PRIORITY_CHECK_INTERVAL ({}) is longer than CHECK_INTERVAL ({}): priority domains must be checked at least as often",
                humantime::format_duration(self.priority_check_interval),
                humantime::format_duration(self.check_interval)
            )));
        }
        if self.drop_window_interval > self.priority_check_interval {
            return Err(ConfigError::Inconsistent(format!(
                "DROP_WINDOW_INTERVAL ({}) is longer than PRIORITY_CHECK_INTERVAL ({}): checks intensify inside a drop window",
                humantime::format_duration(self.drop_window_interval),
                humantime::format_duration(self.priority_check_interval)
            )));
        }
        Ok(())
    }
}

/// Turns a clap value error into one that names the environment variable and
/// redacts secrets; any other clap error (help, version, usage) exits as clap does.
fn explain_clap_error(err: clap::Error) -> ConfigError {
    use clap::error::ErrorKind;
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        err.exit();
    }
    let rendered_arg = err
        .get(ContextKind::InvalidArg)
        .map(ToString::to_string)
        .unwrap_or_default();
    let command = <Cli as clap::CommandFactory>::command();
    let arg = find_arg(&command, &rendered_arg);
    let variable = arg
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| rendered_arg.clone());
    let secret = arg.is_some_and(clap::Arg::is_hide_env_values_set);
    let raw_value = err
        .get(ContextKind::InvalidValue)
        .map(ToString::to_string)
        .unwrap_or_default();
    let value = if secret {
        "<redacted>".to_owned()
    } else {
        format!("{raw_value:?}")
    };
    let expected = match std::error::Error::source(&err) {
        Some(source) => source.to_string(),
        None => match err.get(ContextKind::ValidValue) {
            Some(valid) => format!("expected one of {valid}"),
            None => "not accepted".to_owned(),
        },
    };
    let flag = arg
        .and_then(clap::Arg::get_long)
        .map(|l| format!("--{l}"))
        .unwrap_or(rendered_arg);
    ConfigError::Invalid {
        variable,
        flag,
        value,
        expected,
    }
}

fn find_arg<'a>(command: &'a clap::Command, rendered: &str) -> Option<&'a clap::Arg> {
    let matches = |arg: &clap::Arg| {
        arg.get_long().is_some_and(|long| {
            let flag = format!("--{long}");
            rendered == flag
                || rendered.starts_with(&format!("{flag} "))
                || rendered.starts_with(&format!("{flag}="))
        })
    };
    command.get_arguments().find(|a| matches(a)).or_else(|| {
        command
            .get_subcommands()
            .find_map(|sub| find_arg(sub, rendered))
    })
}

fn default_instance_id() -> String {
    // The chart sets INSTANCE_ID from the pod name; outside a pod the host name
    // is the closest stable identity.
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "domain-monitor".to_owned())
}

/// A request budget: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per period.
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.per))
    }
}

/// TLD → URL table (`tld=url,…`).
pub type UrlOverrides = BTreeMap<String, Url>;
/// TLD → server table (`tld=host[:port],…`).
pub type HostOverrides = BTreeMap<String, HostPort>;

/// A server address that may be a name: `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

// === value parsers: each error says what a valid value looks like ===

/// Parses `90s`, `15m`, `1h30m` (humantime) or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let expected = "expected a duration such as 30s, 15m, 1h30m, or a number of seconds";
    let duration = match raw.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(raw).map_err(|_| expected.to_owned())?,
    };
    if duration.is_zero() {
        return Err("expected a duration greater than zero".to_owned());
    }
    Ok(duration)
}

fn parse_refresh_interval(raw: &str) -> Result<Duration, String> {
    let interval = parse_duration(raw)?;
    if interval < Duration::from_secs(10) {
        return Err(
            "expected at least 10 seconds (the domain API is fetched this often)".to_owned(),
        );
    }
    Ok(interval)
}

fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("expected an absolute http:// or https:// URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an absolute http:// or https:// URL with a host".to_owned());
    }
    Ok(url)
}

fn parse_otlp_protocol(raw: &str) -> Result<String, String> {
    match raw.trim() {
        "http/protobuf" => Ok("http/protobuf".to_owned()),
        _ => Err("expected http/protobuf (grpc and http/json are not built in)".to_owned()),
    }
}

fn parse_millis(raw: &str) -> Result<Duration, String> {
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err("expected a whole number of milliseconds greater than 0".to_owned()),
    }
}

fn parse_secret(raw: &str) -> Result<Secret, String> {
    if raw.trim().is_empty() {
        return Err("expected a non-empty value (leave the variable unset instead)".to_owned());
    }
    Ok(Secret::new(raw.trim()))
}

fn parse_sentry_dsn(raw: &str) -> Result<Secret, String> {
    let expected =
        "expected a Sentry DSN such as https://<public key>@sentry.example.com/<project id>";
    let dsn = Url::parse(raw.trim()).map_err(|_| expected)?;
    let project = dsn.path().trim_matches('/');
    let valid = matches!(dsn.scheme(), "http" | "https")
        && dsn.host().is_some()
        && !dsn.username().is_empty()
        && !project.is_empty();
    if valid {
        Ok(Secret::new(raw.trim()))
    } else {
        Err(expected.to_owned())
    }
}

/// Parses a share or confidence between 0.0 and 1.0.
pub fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number from 0.0 to 1.0".to_owned()),
    }
}

fn parse_log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| {
            format!("expected a tracing filter such as info or domain_monitor=debug ({e})")
        })
}

fn parse_socket_addr(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| {
            raw.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| {
            "expected IP addresses with optional ports, e.g. 127.0.0.1:5353,[::1]:53".to_owned()
        })
}

fn parse_listen_addr(raw: &str) -> Result<SocketAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected an IP address and port, e.g. 0.0.0.0:8000".to_owned())
}

fn parse_instance_id(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(
            "expected 1–63 characters of letters, digits, '-', '.' or '_' (it names leases)"
                .to_owned(),
        )
    }
}

fn parse_namespace(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("expected a Kubernetes namespace name (lower-case letters, digits and '-')".to_owned())
    }
}

fn parse_rate_limit(raw: &str) -> Result<RateLimit, String> {
    let expected = "expected requests per period such as 10/s, 100/m or 1000/h (count ≥ 1)";
    let (count, unit) = raw.trim().split_once('/').ok_or(expected)?;
    let count = count.trim().parse::<NonZeroU32>().map_err(|_| expected)?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => parse_duration(other).map_err(|_| expected)?,
    };
    Ok(RateLimit { count, per })
}

fn parse_host_port(raw: &str) -> Result<HostPort, String> {
    let expected = "expected host[:port], e.g. whois.example.net or 127.0.0.1:4343";
    let raw = raw.trim();
    if raw.is_empty() || raw.contains('/') || raw.chars().any(char::is_whitespace) {
        return Err(expected.to_owned());
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    match raw.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Ok(HostPort {
            host: host.to_owned(),
            port: port.parse().map_err(|_| expected)?,
        }),
        _ => Ok(HostPort {
            host: raw.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port: 43,
        }),
    }
}

fn parse_overrides<T>(
    raw: &str,
    value_kind: &str,
    parse_value: impl Fn(&str) -> Result<T, String>,
) -> Result<BTreeMap<String, T>, String> {
    let mut table = BTreeMap::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (tld, value) = entry.split_once('=').ok_or_else(|| {
            format!("expected comma-separated tld={value_kind} entries; {entry:?} has no '='")
        })?;
        let tld = tld.trim().trim_start_matches('.').to_ascii_lowercase();
        if tld.is_empty() {
            return Err(format!("entry {entry:?} has an empty TLD"));
        }
        let value = parse_value(value).map_err(|e| format!("entry for {tld:?}: {e}"))?;
        table.insert(tld, value);
    }
    Ok(table)
}

/// Comma-separated file paths; empty entries are skipped, so an empty
/// variable means "none".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathList(pub Vec<std::path::PathBuf>);

fn parse_path_list(raw: &str) -> Result<PathList, String> {
    Ok(PathList(
        raw.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
            .collect(),
    ))
}

/// A file of DNSSEC trust anchors and the anchors it holds.
#[derive(Clone)]
pub struct TrustAnchorFile {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its DNSKEY records.
    pub anchors: std::sync::Arc<hickory_proto::dnssec::TrustAnchors>,
}

impl fmt::Debug for TrustAnchorFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchorFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads the DNSKEY records of the file at `raw`; at least one.
fn parse_trust_anchors(raw: &str) -> Result<TrustAnchorFile, String> {
    let path = std::path::PathBuf::from(raw.trim());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("expected a readable file of DNSKEY records: {e}"))?;
    let anchors: hickory_proto::dnssec::TrustAnchors = text
        .parse()
        .map_err(|e| format!("expected DNSKEY records in zone-file form: {e}"))?;
    // `len` counts the root's keys only; an anchor below the root counts too.
    if anchors.is_empty() && !text.lines().any(|l| l.contains("DNSKEY")) {
        return Err("expected at least one DNSKEY record".to_owned());
    }
    Ok(TrustAnchorFile {
        path,
        anchors: std::sync::Arc::new(anchors),
    })
}

/// At least a second: the second registry answer must be a second look, not
/// the same moment asked twice.
fn parse_confirm_after(raw: &str) -> Result<Duration, String> {
    let duration = parse_duration(raw)?;
    if duration < Duration::from_secs(1) {
        return Err(
            "expected at least 1s: a shorter wait asks the registry the same question twice at once"
                .to_owned(),
        );
    }
    Ok(duration)
}

fn parse_url_overrides(raw: &str) -> Result<UrlOverrides, String> {
    parse_overrides(raw, "url", parse_http_url)
}

fn parse_host_overrides(raw: &str) -> Result<HostOverrides, String> {
    parse_overrides(raw, "host[:port]", parse_host_port)
}

/// A `spec.health.dnssec` policy, any case: `required`, `optional`, `ignore`.
fn parse_dnssec_policy(raw: &str) -> Result<DnssecPolicy, String> {
    // The flag takes the CRD's words (one capitalised word each) in any
    // case: `required`, `REQUIRED` and `Required` all read `Required`.
    let mut word = raw.to_ascii_lowercase();
    if let Some(first) = word.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    word.parse()
        .map_err(|_| "expected required, optional or ignore".to_owned())
}

/// An `--expected-nameserver` as the CRD accepts `expectedNameservers`: a
/// host name, any case, trailing dot allowed.
fn parse_expected_nameserver(raw: &str) -> Result<String, String> {
    HealthSpec {
        expected_nameservers: vec![raw.to_owned()],
        ..Default::default()
    }
    .validated()
    .map(|_| raw.to_owned())
    .map_err(|_| format!("{raw:?} is not a host name such as ns1.example.net"))
}

/// An `expiryWarning` as the CRD accepts it (`30d`, `720h`, `14d12h`).
fn parse_expiry_warning(raw: &str) -> Result<String, String> {
    let units_ok = !raw.is_empty()
        && raw.ends_with(|c: char| "dhms".contains(c))
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || "dhms".contains(c))
        && raw.starts_with(|c: char| c.is_ascii_digit());
    if units_ok && humantime::parse_duration(raw).is_ok() {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} is not a duration such as 30d, 720h or 14d12h (units d, h, m, s)"
        ))
    }
}

// === settings of DomainHealthChecks ===

/// A recursive resolver with its name: one entry of `DHC_RESOLVERS`
/// (`name=address`), or of a check's `spec.resolvers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedResolver {
    /// The name in status and metrics.
    pub name: String,
    /// Its address and port.
    pub address: SocketAddr,
}

impl FromStr for NamedResolver {
    type Err = String;

    /// `name=ip`, `name=ip:port` or `name=[v6]:port`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (name, address) = raw.trim().split_once('=').ok_or_else(|| {
            format!(
                "expected name=address such as google=8.8.8.8 or local=127.0.0.1:5353, not {raw:?}"
            )
        })?;
        let valid_name = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid_name {
            return Err(format!(
                "resolver name {name:?} must be a short label of letters, digits, '.', '_' or '-'"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            address: parse_resolver_address(address)?,
        })
    }
}

/// A resolver address: an IP address with an optional port (default 53),
/// `[v6]:port` for IPv6 with a port.
///
/// # Errors
/// A message quoting the address and the accepted forms.
pub fn parse_resolver_address(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            format!("resolver address {raw:?} must be an IP address with an optional port, such as 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:5353")
        })
}

/// The certificates of `DHC_CA_BUNDLE`: a PEM file of CA certificates
/// trusted besides the system roots (an internal CA, a test CA).
#[derive(Clone)]
pub struct CaBundle {
    path: String,
    certificates: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CaBundle({}, {} certificates)",
            self.path,
            self.certificates.len()
        )
    }
}

impl CaBundle {
    /// Reads the PEM file at `path` (every `CERTIFICATE` block).
    ///
    /// # Errors
    /// A message naming the file when it cannot be read, holds a block that
    /// is not PEM, or holds no certificate.
    pub fn read(path: &str) -> Result<Self, String> {
        let certificates = CertificateDer::pem_file_iter(std::path::Path::new(path))
            .map_err(|e| format!("cannot read the CA bundle {path}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the CA bundle {path} is not PEM: {e}"))?;
        if certificates.is_empty() {
            return Err(format!(
                "the CA bundle {path} holds no certificate (expected PEM blocks BEGIN CERTIFICATE)"
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            certificates,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its certificates, in file order.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dnssec_flag_reads_the_crd_words_in_any_case() {
        for (raw, policy) in [
            ("required", DnssecPolicy::Required),
            ("REQUIRED", DnssecPolicy::Required),
            ("Optional", DnssecPolicy::Optional),
            ("ignore", DnssecPolicy::Ignore),
        ] {
            assert_eq!(parse_dnssec_policy(raw), Ok(policy), "{raw}");
        }
        for bad in ["", "on", "require", "ignored"] {
            assert_eq!(
                parse_dnssec_policy(bad),
                Err("expected required, optional or ignore".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn auto_streams_only_where_watchlist_is_on_by_default() {
        let auto = |major, minor| WatchList::Auto.streams(Some((major, minor)));
        assert!(auto("1", "35"));
        assert!(auto("1", "34+"), "a provider's suffix is ignored");
        assert!(auto("1", "32"));
        assert!(!auto("1", "33"), "1.33 turned WatchList off by default");
        assert!(!auto("1", "31"));
        assert!(!auto("1", "x"));
        assert!(!WatchList::Auto.streams(None), "an unknown version pages");
        assert!(WatchList::Stream.streams(Some(("1", "28"))));
        assert!(!WatchList::Paginate.streams(Some(("1", "35"))));
    }

    #[test]
    fn trust_anchors_are_read_from_a_file_of_dnskey_records() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("anchors");
        // As ldns-keygen writes a key, comment included.
        std::fs::write(
            &file,
            ".\tIN\tDNSKEY\t257 3 13 ff5Brhjb6e1zkYbcRfKQ6nOj1KsObUAnB7YGq7yf8zmd/N3MzKCe/fXrbYflXX8SnwGeRBiQQm5vmkz4WSUftw== ;{id = 27116 (ksk), size = 256b}\n",
        )
        .unwrap();
        let read = parse_trust_anchors(file.to_str().unwrap()).unwrap();
        assert_eq!(read.anchors.len(), 1);
        assert!(
            parse_trust_anchors(dir.path().join("missing").to_str().unwrap())
                .unwrap_err()
                .contains("readable file")
        );
        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(parse_trust_anchors(file.to_str().unwrap()).is_err());
        std::fs::write(&file, ". IN DNSKEY 257 3 13 !!notbase64\n").unwrap();
        assert!(parse_trust_anchors(file.to_str().unwrap()).is_err());
    }

    #[test]
    fn reserved_lists_and_the_confirmation_delay_are_checked() {
        assert_eq!(parse_path_list("").unwrap(), PathList::default());
        assert_eq!(parse_path_list(" , ").unwrap(), PathList::default());
        assert_eq!(
            parse_path_list("/a.txt, /b.txt").unwrap().0,
            [std::path::PathBuf::from("/a.txt"), "/b.txt".into()]
        );
        assert!(
            parse_confirm_after("1ms")
                .unwrap_err()
                .contains("at least 1s")
        );
        assert_eq!(parse_confirm_after("30s").unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("0").is_err());
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("duration such as")
        );
    }

    #[test]
    fn rate_limits_parse_units() {
        let limit = parse_rate_limit("100/m").unwrap();
        assert_eq!(limit.count.get(), 100);
        assert_eq!(limit.per, Duration::from_secs(60));
        assert_eq!(
            parse_rate_limit("5/10s").unwrap().per,
            Duration::from_secs(10)
        );
        assert!(parse_rate_limit("0/s").is_err());
        assert!(parse_rate_limit("fast").is_err());
    }

    #[test]
    fn overrides_parse_into_tables() {
        let table = parse_host_overrides(".Test=127.0.0.1:4343, example=whois.example").unwrap();
        assert_eq!(table["test"].to_string(), "127.0.0.1:4343");
        assert_eq!(table["example"].port, 43);
        let urls = parse_url_overrides("io=https://rdap.example/io/").unwrap();
        assert_eq!(urls["io"].as_str(), "https://rdap.example/io/");
        assert!(parse_url_overrides("io").unwrap_err().contains("no '='"));
        assert!(
            parse_url_overrides("io=ftp://x")
                .unwrap_err()
                .contains("\"io\"")
        );
    }

    #[test]
    fn otlp_endpoints_resolve_as_the_specification_says() {
        let parse = |env: &[(&str, &str)]| {
            let mut args = vec!["domain-monitor".to_owned(), "run".to_owned()];
            for (flag, value) in env {
                args.push(format!("--{flag}={value}"));
            }
            match Cli::from_args(args).expect("valid").command {
                Command::Run(run) => run.otel,
                _ => unreachable!(),
            }
        };
        let none = parse(&[]);
        assert_eq!(
            (none.metrics_endpoint(), none.traces_endpoint()),
            (None, None)
        );
        let base = parse(&[("otlp-endpoint", "http://collector:4318/otlp/")]);
        assert_eq!(
            base.metrics_endpoint().unwrap().as_str(),
            "http://collector:4318/otlp/v1/metrics"
        );
        assert_eq!(
            base.traces_endpoint().unwrap().as_str(),
            "http://collector:4318/otlp/v1/traces"
        );
        let own = parse(&[
            ("otlp-endpoint", "http://collector:4318"),
            ("otlp-metrics-endpoint", "https://metrics.example/ingest"),
            ("traces-exporter", "none"),
        ]);
        assert_eq!(
            own.metrics_endpoint().unwrap().as_str(),
            "https://metrics.example/ingest"
        );
        assert_eq!(own.traces_endpoint(), None);
        let off = parse(&[
            ("otlp-endpoint", "http://collector:4318"),
            ("sdk-disabled", "true"),
        ]);
        assert_eq!(
            (off.metrics_endpoint(), off.traces_endpoint()),
            (None, None)
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
    }

    #[test]
    fn long_secrets_are_redacted_anywhere() {
        let secret = Secret::new("tok-SECRET-1");
        assert_eq!(
            secret.redact("Bearer tok-SECRET-1 and xtok-SECRET-1x"),
            "Bearer <redacted> and x<redacted>x"
        );
        assert_eq!(secret.redact("nothing here"), "nothing here");
    }

    #[test]
    fn short_secrets_are_redacted_only_as_whole_tokens() {
        let one = Secret::new("s");
        assert_eq!(
            one.redact("registrar s rejected key=s; s"),
            "registrar <redacted> rejected key=<redacted>; <redacted>"
        );
        let short = Secret::new("abc12");
        assert_eq!(
            short.redact("token abc12 refused, not abc123 nor xabc12 (\"abc12\")"),
            "token <redacted> refused, not abc123 nor xabc12 (\"<redacted>\")"
        );
        assert_eq!(redact("anything", ""), "anything");
        assert_eq!(redact("é s é", "s"), "é <redacted> é");
    }

    #[test]
    fn secrets_match_only_themselves() {
        let secret = Secret::new("hunter2");
        assert!(secret.matches("hunter2"));
        for other in ["hunter3", "Hunter2", "hunter", "hunter22", ""] {
            assert!(!secret.matches(other), "{other:?}");
        }
        assert_eq!(secret, Secret::new("hunter2"));
        assert_ne!(secret, Secret::new("hunter"));
    }

    #[test]
    fn named_resolvers_parse_with_and_without_port() {
        let google: NamedResolver = "google=8.8.8.8".parse().unwrap();
        assert_eq!(google.address, "8.8.8.8:53".parse().unwrap());
        let local: NamedResolver = "local=[::1]:5353".parse().unwrap();
        assert_eq!(local.address, "[::1]:5353".parse().unwrap());
        assert!(
            "8.8.8.8"
                .parse::<NamedResolver>()
                .unwrap_err()
                .contains("name=address")
        );
        assert!(
            "x=localhost"
                .parse::<NamedResolver>()
                .unwrap_err()
                .contains("IP address")
        );
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        let err = CaBundle::read(empty.to_str().unwrap()).unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = CaBundle::read(missing.to_str().unwrap()).unwrap_err();
        assert!(err.contains("cannot read the CA bundle"), "{err}");
    }
}
