//! The registrar availability checker (layer 2, reliable).
//!
//! Asks a registrar's availability API whether a name can be registered.
//! Disabled unless `REGISTRAR_PROVIDER` names a provider: then a check is
//! `Skipped`. Two request/response shapes are supported:
//!
//! - [`ProviderKind::Godaddy`]: `GET {base}/v1/domains/available?domain=…&checkType=FAST`
//!   with `Authorization: sso-key {key}:{secret}`; `{"available", "definitive", "price", …}`.
//! - [`ProviderKind::Generic`]: `GET` a URL template with `{domain}`, an
//!   optional bearer token or key header, and JSON pointers to a boolean
//!   availability field and an optional premium/reserved flag.
//!
//! Credentials live in [`Secret`]s and are sent in headers marked sensitive;
//! every detail and error in a report is scrubbed of them before it leaves
//! this module. URLs are reported by origin only (a template may carry a key
//! in its query).

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use jiff::Timestamp;
use reqwest::{
    Response, StatusCode,
    header::{AUTHORIZATION, HeaderName, HeaderValue},
};
use serde::Deserialize;
use url::Url;

use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, Checker, Strength},
    config::{CheckerArgs, ProviderKind, RateLimit, Secret, redact},
    domain_name::DomainName,
    net::{USER_AGENT, ensure_crypto_provider},
    ratelimit::ServerBudgets,
};

/// GoDaddy's production API; its test environment is `https://api.ote-godaddy.com`.
pub const GODADDY_API: &str = "https://api.godaddy.com";

/// Largest answer body read; availability answers are a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The placeholder of the generic provider's URL template.
const DOMAIN_PLACEHOLDER: &str = "{domain}";

/// A registrar setting that cannot work. Messages name the variable and
/// never hold a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The provider needs a setting that is not set.
    #[error("REGISTRAR_PROVIDER={provider} needs {variable}: {why}")]
    Missing {
        /// The provider.
        provider: &'static str,
        /// The missing variable.
        variable: &'static str,
        /// What it is for.
        why: &'static str,
    },
    /// A setting has a value that cannot be used.
    #[error("invalid {variable}: {reason}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A setting is given that the chosen provider does not use: most likely
    /// a mistake in the provider or the variable name.
    #[error("{variable} is set but REGISTRAR_PROVIDER={provider} does not use it")]
    Unused {
        /// The provider.
        provider: &'static str,
        /// The unused variable.
        variable: &'static str,
    },
}

/// Why the checker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistrarError {
    /// The HTTP client could not be created (TLS set-up).
    #[error("cannot build the registrar API HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// How the generic provider sends its key.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `<name>: <key>`.
    Header {
        /// The header.
        name: HeaderName,
        /// The key.
        key: Secret,
    },
}

/// GoDaddy's API.
#[derive(Debug, Clone)]
pub struct GoDaddy {
    /// API base URL.
    pub base_url: Url,
    /// API key.
    pub key: Secret,
    /// API secret.
    pub secret: Secret,
}

/// A JSON API described by configuration.
#[derive(Debug, Clone)]
pub struct Generic {
    /// Request URL with a `{domain}` placeholder.
    pub url_template: String,
    /// How the key is sent, if there is one.
    pub credential: Option<Credential>,
    /// JSON pointer to the boolean "available" field.
    pub available_pointer: String,
    /// JSON pointer to a boolean premium/reserved flag.
    pub reserved_pointer: Option<String>,
}

/// A configured provider.
#[derive(Debug, Clone)]
pub enum Provider {
    /// GoDaddy.
    GoDaddy(GoDaddy),
    /// Generic JSON API.
    Generic(Generic),
}

/// Settings of the registrar checker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The provider; `None` disables the checker.
    pub provider: Option<Provider>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Request budget toward the API.
    pub rate_limit: RateLimit,
}

impl Settings {
    /// Validates the `REGISTRAR_*` settings as a whole.
    pub fn from_args(args: &CheckerArgs) -> Result<Self, SettingsError> {
        let kind = args.registrar_provider;
        let provider_name = kind.as_str();
        let unused = |variable| SettingsError::Unused {
            provider: provider_name,
            variable,
        };
        let provider = match kind {
            ProviderKind::None => {
                let given = [
                    ("REGISTRAR_API_URL", args.registrar_api_url.is_some()),
                    ("REGISTRAR_API_KEY", args.registrar_api_key.is_some()),
                    ("REGISTRAR_API_SECRET", args.registrar_api_secret.is_some()),
                    (
                        "REGISTRAR_API_KEY_HEADER",
                        args.registrar_api_key_header.is_some(),
                    ),
                    (
                        "REGISTRAR_RESERVED_POINTER",
                        args.registrar_reserved_pointer.is_some(),
                    ),
                ];
                if let Some((variable, _)) = given.iter().find(|(_, set)| *set) {
                    return Err(unused(variable));
                }
                None
            }
            ProviderKind::Godaddy => {
                if args.registrar_api_key_header.is_some() {
                    return Err(unused("REGISTRAR_API_KEY_HEADER"));
                }
                if args.registrar_reserved_pointer.is_some() {
                    return Err(unused("REGISTRAR_RESERVED_POINTER"));
                }
                let missing = |variable, why| SettingsError::Missing {
                    provider: provider_name,
                    variable,
                    why,
                };
                let key = args.registrar_api_key.clone().ok_or_else(|| {
                    missing("REGISTRAR_API_KEY", "the sso-key credential's key part")
                })?;
                let secret = args.registrar_api_secret.clone().ok_or_else(|| {
                    missing(
                        "REGISTRAR_API_SECRET",
                        "the sso-key credential's secret part",
                    )
                })?;
                let raw = args.registrar_api_url.as_deref().unwrap_or(GODADDY_API);
                Some(Provider::GoDaddy(GoDaddy {
                    base_url: http_url(raw)?,
                    key,
                    secret,
                }))
            }
            ProviderKind::Generic => {
                if args.registrar_api_secret.is_some() {
                    return Err(unused("REGISTRAR_API_SECRET"));
                }
                let url_template =
                    args.registrar_api_url
                        .clone()
                        .ok_or(SettingsError::Missing {
                            provider: provider_name,
                            variable: "REGISTRAR_API_URL",
                            why: "the request URL, with {domain} where the name goes",
                        })?;
                if !url_template.contains(DOMAIN_PLACEHOLDER) {
                    return Err(SettingsError::Invalid {
                        variable: "REGISTRAR_API_URL",
                        reason: format!(
                            "{url_template:?} has no {DOMAIN_PLACEHOLDER} placeholder, e.g. https://api.example/check?name={DOMAIN_PLACEHOLDER}"
                        ),
                    });
                }
                http_url(&url_template.replace(DOMAIN_PLACEHOLDER, "example.com"))?;
                let credential = match (&args.registrar_api_key, &args.registrar_api_key_header) {
                    (Some(key), Some(header)) => Some(Credential::Header {
                        name: HeaderName::from_bytes(header.trim().as_bytes()).map_err(|_| {
                            SettingsError::Invalid {
                                variable: "REGISTRAR_API_KEY_HEADER",
                                reason: format!("{header:?} is not an HTTP header name"),
                            }
                        })?,
                        key: key.clone(),
                    }),
                    (Some(key), None) => Some(Credential::Bearer(key.clone())),
                    (None, Some(_)) => {
                        return Err(SettingsError::Missing {
                            provider: provider_name,
                            variable: "REGISTRAR_API_KEY",
                            why: "REGISTRAR_API_KEY_HEADER names the header that carries it",
                        });
                    }
                    (None, None) => None,
                };
                Some(Provider::Generic(Generic {
                    url_template,
                    credential,
                    available_pointer: json_pointer(
                        "REGISTRAR_AVAILABLE_POINTER",
                        &args.registrar_available_pointer,
                    )?,
                    reserved_pointer: args
                        .registrar_reserved_pointer
                        .as_deref()
                        .map(|p| json_pointer("REGISTRAR_RESERVED_POINTER", p))
                        .transpose()?,
                }))
            }
        };
        Ok(Self {
            provider,
            timeout: args.registrar_timeout,
            rate_limit: args.registrar_rate_limit,
        })
    }

    /// True when a provider is configured.
    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }
}

fn http_url(raw: &str) -> Result<Url, SettingsError> {
    let invalid = |reason: String| SettingsError::Invalid {
        variable: "REGISTRAR_API_URL",
        reason,
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(format!("{raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(format!(
            "{raw:?} is not an absolute http:// or https:// URL"
        )));
    }
    Ok(url)
}

fn json_pointer(variable: &'static str, raw: &str) -> Result<String, SettingsError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.starts_with('/') {
        Ok(raw.to_owned())
    } else {
        Err(SettingsError::Invalid {
            variable,
            reason: format!(
                "{raw:?} is not a JSON pointer; pointers start with '/', e.g. /available"
            ),
        })
    }
}

/// Checks domains with a registrar's availability API.
#[derive(Debug)]
pub struct RegistrarChecker {
    settings: Settings,
    client: reqwest::Client,
    budgets: Arc<ServerBudgets>,
}

impl RegistrarChecker {
    /// A checker with its own budget of `settings.rate_limit`.
    pub fn new(settings: Settings) -> Result<Self, RegistrarError> {
        let budgets = Arc::new(ServerBudgets::new("registrar API", settings.rate_limit));
        Self::with_budgets(settings, budgets)
    }

    /// A checker spending from shared `budgets`.
    pub fn with_budgets(
        settings: Settings,
        budgets: Arc<ServerBudgets>,
    ) -> Result<Self, RegistrarError> {
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(settings.timeout)
            // A redirect could carry a custom key header to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RegistrarError::Client)?;
        Ok(Self {
            settings,
            client,
            budgets,
        })
    }

    async fn run(&self, domain: &DomainName) -> CheckReport {
        let Some(provider) = &self.settings.provider else {
            return CheckReport::skipped(CheckKind::Registrar, "no registrar API configured");
        };
        let started = Timestamp::now();
        let report = match self.ask(provider, domain, started).await {
            Ok(report) | Err(report) => report,
        };
        scrub(report, provider)
    }

    /// One budgeted request. `Err` carries the report of a failure, so that
    /// `?` reads naturally; both sides are reports.
    async fn ask(
        &self,
        provider: &Provider,
        domain: &DomainName,
        started: Timestamp,
    ) -> Result<CheckReport, CheckReport> {
        let kind = CheckKind::Registrar;
        let (url, credential) = match provider {
            Provider::GoDaddy(godaddy) => {
                let value = format!(
                    "sso-key {}:{}",
                    godaddy.key.expose(),
                    godaddy.secret.expose()
                );
                (
                    godaddy_url(&godaddy.base_url, domain),
                    Some((AUTHORIZATION, value)),
                )
            }
            Provider::Generic(generic) => {
                let raw = generic
                    .url_template
                    .replace(DOMAIN_PLACEHOLDER, domain.as_str());
                let url = Url::parse(&raw).map_err(|e| {
                    CheckReport::error(
                        kind,
                        format!("registrar API URL for {domain} is invalid: {e}"),
                        started,
                    )
                })?;
                let credential = match &generic.credential {
                    Some(Credential::Bearer(token)) => {
                        Some((AUTHORIZATION, format!("Bearer {}", token.expose())))
                    }
                    Some(Credential::Header { name, key }) => {
                        Some((name.clone(), key.expose().to_owned()))
                    }
                    None => None,
                };
                (url, credential)
            }
        };
        let mut request = self.client.get(url.clone());
        if let Some((name, value)) = credential {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                CheckReport::error(
                    kind,
                    "registrar API credential holds characters not allowed in an HTTP header",
                    started,
                )
            })?;
            // Kept out of reqwest's and hyper's debug output.
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let origin = url.origin().ascii_serialization();
        let result: Result<CheckReport, CheckReport> = async {
            self.budgets.acquire(&origin).await.map_err(|backing_off| {
                CheckReport::new(
                    kind,
                    CheckOutcome::RateLimited,
                    backing_off.to_string(),
                    started,
                )
                .with_retry_after(Some(backing_off.remaining))
            })?;
            let response = request
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| self.request_failed(&origin, e, started))?;
            self.interpret(provider, domain, &origin, response, started)
                .await
        }
        .await;
        let (Ok(report) | Err(report)) = result;
        Ok(report.with_server(origin))
    }

    async fn interpret(
        &self,
        provider: &Provider,
        domain: &DomainName,
        origin: &str,
        response: Response,
        started: Timestamp,
    ) -> Result<CheckReport, CheckReport> {
        let kind = CheckKind::Registrar;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let asked = crate::net::retry_after(response.headers(), Timestamp::now());
            let wait = self.budgets.back_off(origin, asked);
            return Ok(CheckReport::new(
                kind,
                CheckOutcome::RateLimited,
                format!(
                    "registrar API {origin} answered HTTP 429; backing off {}",
                    humantime::format_duration(wait)
                ),
                started,
            )
            .with_retry_after(Some(wait)));
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(CheckReport::error(
                kind,
                format!(
                    "registrar API {origin} rejected the credentials (HTTP {}): check REGISTRAR_API_KEY{}",
                    status.as_u16(),
                    if matches!(provider, Provider::GoDaddy(_)) {
                        " and REGISTRAR_API_SECRET"
                    } else {
                        ""
                    }
                ),
                started,
            ));
        }
        let body = read_body(response).await.map_err(|e| {
            CheckReport::error(kind, format!("registrar API {origin}: {e}"), started)
        })?;
        if !status.is_success() {
            let code = error_code(&body);
            let detail = format!(
                "registrar API {origin} cannot check {domain}: HTTP {}{code}",
                status.as_u16()
            );
            return Err(if status.is_client_error() {
                // 400/404/422: the API does not handle this name (e.g. an
                // unsupported TLD); nothing is known either way.
                CheckReport::new(kind, CheckOutcome::Inconclusive, detail, started)
            } else {
                CheckReport::error(kind, detail, started)
            });
        }
        self.budgets.record_success(origin);
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            CheckReport::error(
                kind,
                format!("registrar API {origin} answered with invalid JSON: {e}"),
                started,
            )
        })?;
        let reading = match provider {
            Provider::GoDaddy(_) => read_godaddy(json),
            Provider::Generic(generic) => read_generic(&json, generic),
        };
        Ok(match reading {
            Ok(reading) => CheckReport::new(kind, reading.outcome, reading.detail, started)
                .with_strength(reading.strength),
            Err(problem) => CheckReport::new(
                kind,
                CheckOutcome::Inconclusive,
                format!("registrar API {origin}: {problem}"),
                started,
            ),
        })
    }

    fn request_failed(
        &self,
        origin: &str,
        error: reqwest::Error,
        started: Timestamp,
    ) -> CheckReport {
        let message = if error.is_timeout() {
            format!(
                "registrar API {origin} did not answer within {}",
                humantime::format_duration(self.settings.timeout)
            )
        } else {
            // Without the URL: a template may carry a key in its query.
            format!(
                "registrar API request to {origin} failed: {}",
                error.without_url()
            )
        };
        CheckReport::error(CheckKind::Registrar, message, started)
    }
}

impl Checker for RegistrarChecker {
    fn kind(&self) -> CheckKind {
        CheckKind::Registrar
    }

    fn check<'a>(&'a self, domain: &'a DomainName) -> BoxFuture<'a, CheckReport> {
        Box::pin(self.run(domain))
    }
}

/// `{base}/v1/domains/available?domain=…&checkType=FAST`, keeping any path
/// prefix of the base URL.
fn godaddy_url(base: &Url, domain: &DomainName) -> Url {
    let mut url = base.clone();
    let path = format!("{}/v1/domains/available", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.query_pairs_mut()
        .append_pair("domain", domain.as_str())
        .append_pair("checkType", "FAST");
    url
}

async fn read_body(mut response: Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!("answer larger than {MAX_BODY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `: CODE` from an error body's `code` field (GoDaddy's shape), if short
/// and plain.
fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json.get("code")?.as_str().map(str::to_owned))
        .filter(|code| {
            code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .map(|code| format!(" {code}"))
        .unwrap_or_default()
}

/// What an availability answer says.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    outcome: CheckOutcome,
    strength: Strength,
    detail: String,
}

/// GoDaddy's availability answer.
#[derive(Debug, Deserialize)]
struct GoDaddyAvailability {
    available: bool,
    definitive: Option<bool>,
    /// Micro-units of `currency`.
    price: Option<u64>,
    currency: Option<String>,
    #[serde(default)]
    premium: bool,
}

fn read_godaddy(json: serde_json::Value) -> Result<Reading, String> {
    let answer: GoDaddyAvailability = serde_json::from_value(json)
        .map_err(|e| format!("unexpected availability answer ({e})"))?;
    let price = match (answer.price, answer.currency.as_deref()) {
        (Some(micros), Some(currency)) if currency.bytes().all(|b| b.is_ascii_alphabetic()) => {
            format!(
                " at {}.{:02} {currency}",
                micros / 1_000_000,
                micros % 1_000_000 / 10_000
            )
        }
        _ => String::new(),
    };
    Ok(if answer.premium {
        Reading {
            outcome: CheckOutcome::Reserved,
            strength: Strength::Strong,
            detail: format!("premium name per registrar API{price}"),
        }
    } else if answer.available {
        // Only a definitive answer was checked against the registry; FAST
        // checks may come from a cache.
        let definitive = answer.definitive == Some(true);
        Reading {
            outcome: CheckOutcome::Available,
            strength: if definitive {
                Strength::Strong
            } else {
                Strength::Weak
            },
            detail: format!(
                "available per registrar API{price}{}",
                if definitive { "" } else { " (not definitive)" }
            ),
        }
    } else {
        Reading {
            outcome: CheckOutcome::Registered,
            strength: Strength::Strong,
            detail: "not available per registrar API".to_owned(),
        }
    })
}

fn read_generic(json: &serde_json::Value, generic: &Generic) -> Result<Reading, String> {
    let flag = |pointer: &str| -> Result<bool, String> {
        match json.pointer(pointer) {
            Some(serde_json::Value::Bool(b)) => Ok(*b),
            Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(format!("the value at {pointer} is not a boolean")),
            None => Err(format!("the answer has no {pointer}")),
        }
    };
    if let Some(pointer) = &generic.reserved_pointer
        && flag(pointer).unwrap_or(false)
    {
        return Ok(Reading {
            outcome: CheckOutcome::Reserved,
            strength: Strength::Strong,
            detail: format!("premium/reserved per registrar API ({pointer} is true)"),
        });
    }
    let pointer = &generic.available_pointer;
    Ok(if flag(pointer)? {
        Reading {
            outcome: CheckOutcome::Available,
            strength: Strength::Strong,
            detail: format!("available per registrar API ({pointer} is true)"),
        }
    } else {
        Reading {
            outcome: CheckOutcome::Registered,
            strength: Strength::Strong,
            detail: format!("not available per registrar API ({pointer} is false)"),
        }
    })
}

/// Removes every credential from a report's texts. Belt and braces: no code
/// path puts one there, but an API echoing headers back must not leak them.
fn scrub(mut report: CheckReport, provider: &Provider) -> CheckReport {
    let secrets: Vec<&str> = match provider {
        Provider::GoDaddy(g) => vec![g.key.expose(), g.secret.expose()],
        Provider::Generic(g) => match &g.credential {
            Some(Credential::Bearer(token)) => vec![token.expose()],
            Some(Credential::Header { key, .. }) => vec![key.expose()],
            None => Vec::new(),
        },
    };
    report.detail = without_secrets(&report.detail, &secrets);
    report.error = report
        .error
        .as_deref()
        .map(|error| without_secrets(error, &secrets));
    report
}

fn without_secrets(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .fold(text.to_owned(), |text, secret| redact(&text, secret))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn generic(reserved: Option<&str>) -> Generic {
        Generic {
            url_template: "http://api.example/{domain}".to_owned(),
            credential: None,
            available_pointer: "/result/free".to_owned(),
            reserved_pointer: reserved.map(str::to_owned),
        }
    }

    #[test]
    fn godaddy_answers_map_to_outcomes() {
        let available = read_godaddy(
            json!({"available": true, "definitive": true, "domain": "a.com",
            "price": 11_990_000, "currency": "USD", "period": 1}),
        )
        .unwrap();
        assert_eq!(available.outcome, CheckOutcome::Available);
        assert_eq!(available.strength, Strength::Strong);
        assert_eq!(available.detail, "available per registrar API at 11.99 USD");

        let cached = read_godaddy(json!({"available": true, "definitive": false})).unwrap();
        assert_eq!(cached.strength, Strength::Weak);
        let taken = read_godaddy(json!({"available": false, "definitive": true})).unwrap();
        assert_eq!(taken.outcome, CheckOutcome::Registered);
        let premium = read_godaddy(json!({"available": true, "premium": true})).unwrap();
        assert_eq!(premium.outcome, CheckOutcome::Reserved);
        assert!(read_godaddy(json!({"domain": "a.com"})).is_err());
    }

    #[test]
    fn generic_answers_follow_the_pointers() {
        let free = json!({"result": {"free": true, "premium": false}});
        assert_eq!(
            read_generic(&free, &generic(None)).unwrap().outcome,
            CheckOutcome::Available
        );
        let premium = json!({"result": {"free": true, "premium": true}});
        assert_eq!(
            read_generic(&premium, &generic(Some("/result/premium")))
                .unwrap()
                .outcome,
            CheckOutcome::Reserved
        );
        let taken = json!({"result": {"free": "false"}});
        assert_eq!(
            read_generic(&taken, &generic(None)).unwrap().outcome,
            CheckOutcome::Registered
        );
        let odd = json!({"result": {"free": 1}});
        assert_eq!(
            read_generic(&odd, &generic(None)).unwrap_err(),
            "the value at /result/free is not a boolean"
        );
        assert_eq!(
            read_generic(&json!({}), &generic(None)).unwrap_err(),
            "the answer has no /result/free"
        );
    }

    #[test]
    fn godaddy_url_keeps_the_base_path() {
        let domain = DomainName::parse("example.com").unwrap();
        let url = godaddy_url(
            &Url::parse("http://127.0.0.1:8080/proxy/").unwrap(),
            &domain,
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/proxy/v1/domains/available?domain=example.com&checkType=FAST"
        );
        let url = godaddy_url(&Url::parse(GODADDY_API).unwrap(), &domain);
        assert_eq!(
            url.as_str(),
            "https://api.godaddy.com/v1/domains/available?domain=example.com&checkType=FAST"
        );
    }

    #[test]
    fn error_codes_are_short_and_plain() {
        assert_eq!(
            error_code(br#"{"code":"UNSUPPORTED_TLD","message":"x"}"#),
            " UNSUPPORTED_TLD"
        );
        assert_eq!(error_code(br#"{"code":"<script>"}"#), "");
        assert_eq!(error_code(b"not json"), "");
    }
}
