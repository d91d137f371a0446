//! Security scenarios of issue 9 (items 7–10), each against real servers:
//!
//! - `fuzz_parsers`: hostile input to every parser of outside data, and the
//!   caps on what a WHOIS or RDAP server can make the checkers read;
//! - `ssrf`: names resolving into private space are never contacted, and
//!   redirects are never followed;
//! - `secrets_never_leak`: the token, registrar keys, the domain API's
//!   credentials and the Sentry key appear in no output of a running operator;
//! - `http_surface_hardening`: the operations surface under abuse.
//!
//! Each scenario records its figures with [`support::chaos::record`] before it
//! asserts; `CHAOS_SCALE=full` (`just chaos`) runs them longer and larger.

mod support;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use domain_monitor::{
    check::{
        CheckOutcome, CheckReport, Checker,
        http::{HttpChecker, Settings as HttpSettings},
        rdap::{
            RdapChecker, Settings as RdapSettings,
            bootstrap::{Bootstrap, freshness_lifetime, parse_http_date},
            parse::parse_domain,
        },
        whois::{
            MAX_ANSWER_BYTES as WHOIS_MAX_ANSWER_BYTES, Settings as WhoisSettings, WhoisChecker,
            parse::{
                decode, parse_date, parse_record, parse_referral, parse_retry_after, parse_server,
            },
            patterns::{Classification, classify},
        },
    },
    config::{HostPort, RateLimit},
    domain_name::DomainName,
    resource::MonitoredDomain,
    sync::plan::parse_domain_list,
};
use jiff::Timestamp;
use kube::{Api, api::ListParams, api::PostParams};
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use support::{
    chaos::{Figures, by_scale, record},
    cluster::{TestNamespace, pinned},
    http_stub::{HttpStub, Reply},
    nsd::{Nsd, Zone},
    operator::Operator,
    world::{TOKEN, World},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use url::Url;

const RDAP_JSON: &str = "application/rdap+json";

fn rate_limit(count: u32) -> RateLimit {
    RateLimit {
        count: std::num::NonZeroU32::new(count).expect("non-zero"),
        per: Duration::from_secs(1),
    }
}

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).expect("valid test domain")
}

/// `n` random lower-case hex digits: secrets unique to one run.
fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit"))
        .collect()
}

// =====================================================================
// 7. fuzz_parsers
// =====================================================================

/// The parsers of outside data, by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// RDAP domain objects (`parse_domain`).
    Rdap,
    /// The IANA RDAP bootstrap file, and HTTP caching headers.
    Bootstrap,
    /// The user's domain list (`parse_domain_list`).
    DomainList,
    /// WHOIS answers: `decode`, `parse_record`, `parse_referral`,
    /// `parse_retry_after`, dates, servers, and `classify` per TLD.
    Whois,
    /// Domain names as users and servers write them.
    DomainName,
}

const TARGETS: [Target; 5] = [
    Target::Rdap,
    Target::Bootstrap,
    Target::DomainList,
    Target::Whois,
    Target::DomainName,
];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Self::Rdap => "rdap",
            Self::Bootstrap => "rdap_bootstrap",
            Self::DomainList => "domain_list",
            Self::Whois => "whois",
            Self::DomainName => "domain_name",
        }
    }

    fn is_json(self) -> bool {
        matches!(self, Self::Rdap | Self::Bootstrap | Self::DomainList)
    }
}

const RDAP_ACTIVE: &str = r#"{
  "objectClassName": "domain",
  "ldhName": "Example.COM.",
  "unicodeName": "example.com",
  "status": ["client transfer prohibited", "client hold", "auto renew period"],
  "events": [
    {"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"},
    {"eventAction": "expiration", "eventDate": "2026-08-13T04:00:00.123456Z"},
    {"eventAction": "last changed", "eventDate": "2024-08-14T07:01:34"},
    {"eventAction": "deletion", "eventDate": "2026-09-27"},
    {"eventAction": "last update of RDAP database", "eventDate": "2025-01-01T00:00:00Z"}
  ],
  "nameservers": [
    {"objectClassName": "nameserver", "ldhName": "A.IANA-SERVERS.NET."},
    {"objectClassName": "nameserver", "ldhName": "b.iana-servers.net"}
  ],
  "entities": [
    {"objectClassName": "entity", "handle": "376", "roles": ["registrar"],
     "publicIds": [{"type": "IANA Registrar ID", "identifier": "376"}],
     "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "RESERVED-Internet Assigned Numbers Authority"]]],
     "entities": [{"objectClassName": "entity", "roles": ["abuse"],
       "vcardArray": ["vcard", [["fn", {}, "text", ""], ["tel", {"type": "voice"}, "uri", "tel:+1.0000000000"]]]}]}
  ],
  "secureDNS": {"delegationSigned": true, "dsData": [{"keyTag": 370, "algorithm": 13, "digest": "BE74", "digestType": 2}]},
  "notices": [{"title": "Terms of Use", "description": ["Service subject to Terms of Use."],
    "links": [{"href": "https://www.verisign.com/domain-names/registration-data-access-protocol/terms-service/index.xhtml", "type": "text/html"}]}],
  "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_0"]
}"#;

const RDAP_SEEDS: &[&str] = &[
    RDAP_ACTIVE,
    r#"{"objectClassName":"domain","ldhName":"x.test","status":["pending delete"],"events":[{"eventAction":"expiration","eventDate":"2026-01-01"}]}"#,
    r#"{"errorCode":404,"title":"Not Found","description":["The object does not exist."]}"#,
    r#"{"objectClassName":"nameserver","ldhName":"ns1.example.net","ipAddresses":{"v4":["192.0.2.1"]}}"#,
    r#"{"objectClassName":"domain"}"#,
];

const BOOTSTRAP_SEEDS: &[&str] = &[
    r#"{"description":"RDAP bootstrap file for Domain Name System registrations","publication":"2026-01-01T00:00:00Z",
      "services":[[["com","net"],["https://rdap.verisign.com/com/v1/"]],[["org"],["https://rdap.publicinterestregistry.org/rdap/","http://rdap.pir.org/"]],
      [["co.uk","uk"],["https://rdap.nominet.uk/uk/"]]],"version":"1.0"}"#,
    r#"{"services":[[["test"],["http://127.0.0.1:1/rdap"]]]}"#,
];

const DOMAIN_LIST_SEEDS: &[&str] = &[
    r#"{"domains":["example.com","Bücher.example",{"domain":"a.test","priority":true},{"domain":"b.test"},"bad domain",42,null,{"priority":true}]}"#,
    r#"{"domains":[]}"#,
];

const WHOIS_SEEDS: &[&str] = &[
    "   Domain Name: EXAMPLE.COM\r\n   Registry Domain ID: 2336799_DOMAIN_COM-VRSN\r\n   Registrar WHOIS Server: whois.example-registrar.net\r\n   Updated Date: 2024-08-14T07:01:34Z\r\n   Creation Date: 1995-08-14T04:00:00Z\r\n   Registry Expiry Date: 2027-08-13T04:00:00Z\r\n   Registrar: Example Registrar, Inc.\r\n   Domain Status: clientHold https://icann.org/epp#clientHold\r\n   Name Server: A.IANA-SERVERS.NET\r\n   DNSSEC: signedDelegation\r\n>>> Last update of whois database: 2026-01-01T00:00:00Z <<<\r\n",
    "\n    Domain name:\n        example.co.uk\n\n    Registrar:\n        Example Registrar Ltd [Tag = EXAMPLE]\n        URL: https://registrar.example\n\n    Relevant dates:\n        Registered on: 26-Aug-1996\n        Expiry date:  26-Aug-2027\n\n    Name servers:\n        ns1.example.co.uk\n        ns2.example.co.uk   192.0.2.2\n\n",
    "Domain: example.eu\nScript: LATIN\n\nRegistrar:\n        Name: Example Registrar BV\n        Website: https://registrar.example\n\nName servers:\n        ns1.example.eu\n",
    "Domain:             example.it\nStatus:             ok\nCreated:            1999-12-10 00:00:00\nExpire Date:        2027-01-04\n\nRegistrar\n  Organization:     Example S.r.l.\n\nNameservers\n  dns.example.it\n",
    "Domain Information:\na. [Domain Name]                EXAMPLE.JP\np. [Name Server]                ns1.example.jp\n[State]                         Connected (2027/03/31)\n[Registered Date]               2001/03/12\n[Last Update]                   2025/04/01 01:05:03 (JST)\n",
    "Domain: example.de\nNserver: ns1.example.de\nStatus: CONNECT\nChanged: 2018-03-12T21:44:25+01:00\n",
    "No match for \"EXAMPLE-FREE.COM\".\r\n>>> Last update of WHOIS database: 2026-11-21T00:00:00Z <<<\r\n",
    "Domain not found.\r\n",
    "NOT FOUND\r\n",
    "The queried object does not exist: DOMAIN NOT FOUND\r\n",
    "Domain: free-name.de\nStatus: free\n",
    "free-name.nl is free\n",
    "query_status: 220 Available\n",
    "No match!!\n",
    "Number of allowed queries exceeded.\nNOT FOUND\n",
    "Your access is too fast, please try again later.\n",
    "Rate limit exceeded. Try again after: 2026-01-01 00:01:00\nNo match for \"X.COM\".\n",
    "The WHOIS query quota for 192.0.2.1 has been exceeded and will be replenished in 23 seconds.\n",
    "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS\nNOT FOUND\n",
    "This name is reserved by the Registry in accordance with ICANN Policy.\n",
    "% IANA WHOIS server\n% for more information on IANA, visit http://www.iana.org\n\nrefer:        whois.verisign-grs.com\n\ndomain:       COM\n\nwhois:        whois.verisign-grs.com\n\nstatus:       ACTIVE\n",
    "Domain Name: TAKEN.TEST\r\nRegistrar: Demo Registrar Inc.\r\nCreation Date: 2020-01-15T10:00:00Z\r\nNo match for \"TAKEN.TEST\".\r\n",
];

/// Registration lines of the seeds: an answer that still carries one of them
/// unchanged is a registration record, whatever else it says.
const REGISTRATION_LINES: &[&str] = &[
    "Registrar: Example Registrar, Inc.",
    "Creation Date: 1995-08-14T04:00:00Z",
    "Registrar: Demo Registrar Inc.",
    "Creation Date: 2020-01-15T10:00:00Z",
];

const DOMAIN_NAME_SEEDS: &[&str] = &[
    "example.com",
    "Bücher.example",
    "xn--bcher-kva.example",
    "a.b.c.d.e.f.example",
    "EXAMPLE.COM.",
    "-bad-.com",
    "127.0.0.1",
    "ex_ample.com",
];

const HTTP_DATE_SEEDS: &[&str] = &[
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "max-age=3600, public",
    "no-cache",
];

/// Wording TESTING.md documents for "not found" (lower case). A WHOIS answer
/// classified as not found must show one of these; the pattern table is
/// allowed to be stricter, never looser.
const NOT_FOUND_WORDING: &[&str] = &[
    "no match",
    "not found",
    "does not exist",
    "no entries found",
    "no data found",
    "no object found",
    "status: free",
    "status: available",
    "is free",
    "220 available",
    "is available for registration",
    "is available for purchase",
];

/// Throttle banners TESTING.md documents (lower case): an answer showing one
/// of them must never read as "not found".
const THROTTLE_WORDING: &[&str] = &[
    "number of allowed queries exceeded",
    "your access is too fast",
    "quota exceeded",
    "excessive querying",
    "rate limit exceeded",
];

const TLDS: &[&str] = &[
    "com", "org", "io", "de", "uk", "eu", "it", "nl", "nz", "jp", "xyz", "dev", "test", "",
];

/// Dictionary tokens spliced into inputs.
const TOKENS: &[&str] = &[
    "1e999999",
    "-1e-999999",
    "184467440737095516161844674407370955161600",
    "-0",
    "\"\\ud800\\udfff\\ud800\"",
    "\"\\u0000\\u001b[31m\"",
    "null",
    "{}",
    "[]",
    "\"objectClassName\":\"domain\",",
    "\"eventDate\":\"+009999-12-31T23:59:59.999999999-25:59\"",
    "\"ldhName\":\"..\"",
    "Registrar:",
    "Registrar: ",
    "Creation Date: 9999999999-01-01",
    "Try again after: 99999999 hours",
    "wait 18446744073709551615 seconds",
    "retry after: 0 s",
    "[Domain Name]",
    "a. [",
    ". [",
    "]",
    "refer: [",
    "whois: http://[::1",
    "whois: rwhois://",
    "NOT FOUND",
    "No match for \"",
    "Status: free",
    "\u{130}\u{130}\u{130}",
    "\u{1e9e}",
    "\u{feff}",
    "\u{202e}",
    "\r",
    "\r\n\r\n",
    "\t\t:",
    "%",
    "xn--",
    "xn--zz",
    ".",
    "..",
];

/// Invalid UTF-8 sequences.
const BAD_UTF8: &[&[u8]] = &[
    &[0xff],
    &[0xc3],
    &[0xe2, 0x82],
    &[0xf0, 0x9f, 0x98],
    &[0xed, 0xa0, 0x80],
    &[0xc0, 0xaf],
    &[0xf8, 0x88, 0x80, 0x80, 0x80],
];

/// Largest input the mutator builds (a very long line fits).
const MAX_INPUT: usize = 2 * 1024 * 1024;

fn corpus(target: Target) -> Vec<Vec<u8>> {
    let seeds: &[&str] = match target {
        Target::Rdap => RDAP_SEEDS,
        Target::Bootstrap => BOOTSTRAP_SEEDS,
        Target::DomainList => DOMAIN_LIST_SEEDS,
        Target::Whois => WHOIS_SEEDS,
        Target::DomainName => DOMAIN_NAME_SEEDS,
    };
    let mut corpus: Vec<Vec<u8>> = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    if target == Target::Bootstrap {
        corpus.extend(HTTP_DATE_SEEDS.iter().map(|s| s.as_bytes().to_vec()));
    }
    corpus
}

/// A raw JSON text that is hostile to parsers: deep nesting, huge numbers,
/// lone surrogates, huge strings, impossible dates.
fn hostile_json(rng: &mut StdRng) -> String {
    let depth = rng.random_range(50..6000);
    match rng.random_range(0..10) {
        0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
        2 => "[".repeat(depth),
        3 => TOKENS[rng.random_range(0..5)].to_owned(),
        4 => format!("\"{}\"", "A".repeat(rng.random_range(1000..200_000))),
        5 => "\"9999999-99-99T99:99:99Z\"".to_owned(),
        6 => format!("[{}]", vec!["1"; rng.random_range(1000..50_000)].join(",")),
        7 => "\"\\ud800\"".to_owned(),
        8 => format!(
            "{{{}}}",
            (0..rng.random_range(100..5000))
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => ["null", "true", "{}", "[]", "\"\"", "0"][rng.random_range(0..6)].to_owned(),
    }
}

/// Replaces one random node of a JSON seed with [`hostile_json`].
fn json_mutation(rng: &mut StdRng, seed: &[u8]) -> Option<Vec<u8>> {
    const HOLE: &str = "\u{1}hole\u{1}";
    let mut value: Value = serde_json::from_slice(seed).ok()?;
    let mut node = &mut value;
    loop {
        let children = match &*node {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        };
        if children == 0 || rng.random_bool(0.3) {
            break;
        }
        let pick = rng.random_range(0..children);
        node = match node {
            Value::Array(items) => &mut items[pick],
            Value::Object(map) => map.values_mut().nth(pick)?,
            _ => return None,
        };
    }
    *node = Value::String(HOLE.to_owned());
    let text = serde_json::to_string(&value).ok()?;
    let hole = serde_json::to_string(HOLE).ok()?;
    Some(text.replacen(&hole, &hostile_json(rng), 1).into_bytes())
}

fn byte_mutation(rng: &mut StdRng, data: &mut Vec<u8>) {
    let at = |rng: &mut StdRng, data: &Vec<u8>| rng.random_range(0..=data.len());
    match rng.random_range(0..12) {
        0 if !data.is_empty() => {
            let i = rng.random_range(0..data.len());
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if !data.is_empty() => {
            let i = rng.random_range(0..data.len());
            data[i] = *b"\0\xff\x80\xc0\n\r:[]{}\"\\. \t%"
                .get(rng.random_range(0..18))
                .unwrap_or(&0);
        }
        2 => {
            let i = at(rng, data);
            let mut bytes = vec![0_u8; rng.random_range(1..17)];
            rng.fill_bytes(&mut bytes);
            data.splice(i..i, bytes);
        }
        3 if !data.is_empty() => {
            let start = rng.random_range(0..data.len());
            let end = rng.random_range(start..=data.len().min(start + 64));
            data.drain(start..end);
        }
        4 if !data.is_empty() => {
            let start = rng.random_range(0..data.len());
            let end = rng.random_range(start..=data.len().min(start + 256));
            let copy = data[start..end].to_vec();
            let i = at(rng, data);
            data.splice(i..i, copy);
        }
        5 => {
            let i = at(rng, data);
            data.truncate(i);
        }
        6 | 7 => {
            let i = at(rng, data);
            let token = TOKENS[rng.random_range(0..TOKENS.len())]
                .as_bytes()
                .to_vec();
            data.splice(i..i, token);
        }
        8 => {
            let i = at(rng, data);
            data.splice(i..i, BAD_UTF8[rng.random_range(0..BAD_UTF8.len())].to_vec());
        }
        9 => {
            let text = String::from_utf8_lossy(data);
            let replaced = match rng.random_range(0..3) {
                0 => text.replace("\r\n", "\n"),
                1 => text.replace('\n', "\r"),
                _ => text.replace(": ", ":\n\t"),
            };
            *data = replaced.into_bytes();
        }
        10 if rng.random_bool(0.05) => {
            // A very long line: up to 1 MiB without a line break.
            let i = at(rng, data);
            let len = if rng.random_bool(0.1) {
                1024 * 1024
            } else {
                rng.random_range(1024..64 * 1024)
            };
            let fill = [b'A', b' ', b':', b'.', b'0'][rng.random_range(0..5)];
            data.splice(i..i, std::iter::repeat_n(fill, len));
        }
        _ => {
            // Case games: registries shout, parsers must not care.
            if rng.random_bool(0.5) {
                data.make_ascii_uppercase();
            } else {
                data.make_ascii_lowercase();
            }
        }
    }
    data.truncate(MAX_INPUT);
}

/// One hostile input derived from `seed`.
fn mutate(rng: &mut StdRng, seed: &[u8], json: bool) -> Vec<u8> {
    if rng.random_bool(0.03) {
        let mut bytes = vec![0_u8; rng.random_range(0..4096)];
        rng.fill_bytes(&mut bytes);
        return bytes;
    }
    let mut data = if json && rng.random_bool(0.4) {
        json_mutation(rng, seed).unwrap_or_else(|| seed.to_vec())
    } else {
        seed.to_vec()
    };
    for _ in 0..rng.random_range(1..=4) {
        byte_mutation(rng, &mut data);
    }
    data
}

/// Whether `phrase` occurs in `line` as whole words (the edges of the phrase
/// that are alphanumeric meet non-alphanumeric characters).
fn has_words(line: &str, phrase: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (phrase.chars().next(), phrase.chars().next_back());
    line.match_indices(phrase).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + phrase.len()..].chars().next();
        let runs_into_word = (alnum(first) && alnum(before)) || (alnum(last) && alnum(after));
        !runs_into_word
    })
}

/// The lines of an answer as a reader compares them: trimmed, single-spaced,
/// lower case.
fn normalised_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            line.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .filter(|line| !line.is_empty())
        .collect()
}

fn shows_any(lines: &[String], wording: &[&str]) -> bool {
    lines
        .iter()
        .any(|line| wording.iter().any(|phrase| has_words(line, phrase)))
}

/// Why a "not found" reading of `text` would be a false "available", if it would.
fn false_not_found(text: &str) -> Option<&'static str> {
    let lines = normalised_lines(text);
    if !shows_any(&lines, NOT_FOUND_WORDING) {
        return Some("no documented not-found wording");
    }
    if shows_any(&lines, THROTTLE_WORDING) {
        return Some("a throttle banner");
    }
    None
}

/// What one input revealed besides "no panic".
#[derive(Default)]
struct Finding {
    false_available: Option<String>,
    violation: Option<String>,
}

fn exercise(target: Target, input: &[u8], tlds: &[&str], now: Timestamp) -> Finding {
    let mut finding = Finding::default();
    match target {
        Target::Rdap => {
            if let Ok(answer) = parse_domain(input)
                && let Some(name) = answer.ldh_name
                && (name.ends_with('.') || name.chars().any(|c| c.is_ascii_uppercase()))
            {
                finding.violation = Some(format!("ldhName not normalised: {name:?}"));
            }
        }
        Target::Bootstrap => {
            if let Ok(table) = Bootstrap::parse(input) {
                for name in ["example.com", "a.b.co.uk", "x.test", ".", ""] {
                    let _ = table.base_url_for(name);
                }
            }
            let text = String::from_utf8_lossy(input);
            let _ = parse_http_date(&text);
            if let Ok(value) = reqwest::header::HeaderValue::from_bytes(input) {
                let mut headers = reqwest::header::HeaderMap::new();
                headers.insert(reqwest::header::CACHE_CONTROL, value.clone());
                headers.insert(reqwest::header::EXPIRES, value.clone());
                headers.insert(reqwest::header::DATE, value);
                let _ = freshness_lifetime(&headers, now);
            }
        }
        Target::DomainList => {
            if let Ok(list) = parse_domain_list(input) {
                for name in list.domains.keys() {
                    if DomainName::parse(name.as_str()).ok().as_ref() != Some(name) {
                        finding.violation = Some(format!(
                            "listed domain {name} does not parse back to itself"
                        ));
                    }
                }
            }
        }
        Target::Whois => {
            let text = decode(input);
            if let Some(c) = text
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                finding.violation = Some(format!("decode let a control character through: {c:?}"));
            }
            let _ = parse_record(&text);
            let _ = parse_referral(&text);
            let _ = parse_retry_after(&text, now);
            for line in text.lines().take(32) {
                let _ = parse_date(line);
                let _ = parse_server(line);
            }
            for tld in tlds {
                if let Classification::NotFound { evidence, .. } = classify(tld, &text, now)
                    && let Some(why) = false_not_found(&text)
                {
                    finding.false_available = Some(format!(
                        ".{tld}: not found on {why} (evidence {evidence:?})"
                    ));
                }
            }
        }
        Target::DomainName => {
            let text = String::from_utf8_lossy(input);
            if let Ok(name) = DomainName::parse(&text) {
                let again = DomainName::parse(name.as_str());
                let plain = name.as_str().is_ascii()
                    && !name.as_str().chars().any(|c| c.is_ascii_uppercase())
                    && name.as_str().len() <= 253;
                if again.ok().as_ref() != Some(&name) || !plain {
                    finding.violation = Some(format!(
                        "{text:?} parsed to {name}, which is not a stable A-label"
                    ));
                }
            }
        }
    }
    finding
}

#[derive(Default)]
struct FuzzTally {
    cases: BTreeMap<&'static str, u64>,
    bytes: u64,
    panics: u64,
    false_available: u64,
    violations: u64,
    problems: Vec<String>,
}

fn save_input(kind: &str, target: Target, n: u64, input: &[u8]) -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/chaos-results/fuzz-inputs");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{}-{n}.bin", target.name()));
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}

/// Runs the parsers on mutated seeds until `budget` is spent or `max_cases`
/// inputs ran. Pure CPU: run it off the async workers.
fn run_parser_fuzz(seed: u64, budget: Duration, max_cases: u64) -> FuzzTally {
    let mut rng = StdRng::seed_from_u64(seed);
    let corpora: Vec<(Target, Vec<Vec<u8>>)> = TARGETS.iter().map(|t| (*t, corpus(*t))).collect();
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().expect("timestamp");
    let mut tally = FuzzTally::default();
    let started = Instant::now();
    let mut n = 0_u64;
    while n < max_cases && started.elapsed() < budget {
        let (target, seeds) = &corpora[(n % corpora.len() as u64) as usize];
        let seed_input = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate(&mut rng, seed_input, target.is_json());
        let tlds: Vec<&str> = (0..3)
            .map(|_| TLDS[rng.random_range(0..TLDS.len())])
            .collect();
        n += 1;
        *tally.cases.entry(target.name()).or_default() += 1;
        tally.bytes += input.len() as u64;
        match std::panic::catch_unwind(AssertUnwindSafe(|| exercise(*target, &input, &tlds, now))) {
            Ok(finding) => {
                if let Some(why) = finding.false_available {
                    tally.false_available += 1;
                    let path = save_input("false-available", *target, n, &input);
                    tally
                        .problems
                        .push(format!("{}: {why} ({path})", target.name()));
                }
                if let Some(why) = finding.violation {
                    tally.violations += 1;
                    let path = save_input("violation", *target, n, &input);
                    tally
                        .problems
                        .push(format!("{}: {why} ({path})", target.name()));
                }
            }
            Err(_) => {
                tally.panics += 1;
                let path = save_input("panic", *target, n, &input);
                tally
                    .problems
                    .push(format!("{}: panic on {path}", target.name()));
            }
        }
    }
    tally
}

// === servers that never finish ===

/// How an [`EndlessServer`] answers.
#[derive(Clone)]
enum Endless {
    /// Writes `prefix`, then `fill` in 64 KiB chunks for ever.
    Flood { prefix: Vec<u8>, fill: Vec<u8> },
    /// Writes `prefix`, then one byte of `fill` per `every`, for ever.
    Trickle {
        prefix: Vec<u8>,
        fill: Vec<u8>,
        every: Duration,
    },
}

/// A TCP server that reads the request (a WHOIS line or an HTTP head) and
/// then never finishes its answer. It counts what it sent and notices when
/// the client hangs up.
struct EndlessServer {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    hung_up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EndlessServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EndlessServer {
    async fn start(mode: Endless) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let sent = Arc::new(AtomicU64::new(0));
        let hung_up = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let sent = Arc::clone(&sent);
            let hung_up = Arc::clone(&hung_up);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (mode, sent, hung_up) =
                        (mode.clone(), Arc::clone(&sent), Arc::clone(&hung_up));
                    tokio::spawn(async move {
                        if endless_answer(stream, mode, &sent).await.is_err() {
                            hung_up.store(true, Ordering::SeqCst);
                        }
                    });
                }
            }
        });
        Self {
            addr,
            sent,
            hung_up,
            task,
        }
    }

    fn host_port(&self) -> HostPort {
        HostPort {
            host: "127.0.0.1".to_owned(),
            port: self.addr.port(),
        }
    }

    /// Waits up to `patience` for the client to hang up.
    async fn wait_hung_up(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        while !self.hung_up.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.hung_up.load(Ordering::SeqCst)
    }
}

async fn endless_answer(
    mut stream: TcpStream,
    mode: Endless,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    // The request: a WHOIS line or an HTTP head, whichever ends first.
    let mut request = Vec::new();
    let mut buf = [0_u8; 4096];
    while !(request.ends_with(b"\r\n\r\n")
        || (request.ends_with(b"\r\n") && !request.starts_with(b"GET ")))
    {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&buf[..n]);
    }
    match mode {
        Endless::Flood { prefix, fill } => {
            stream.write_all(&prefix).await?;
            // Whole copies of `fill`, so chunked framing stays valid.
            let chunk = fill.repeat((64 * 1024 / fill.len()).max(1));
            loop {
                stream.write_all(&chunk).await?;
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
        Endless::Trickle {
            prefix,
            fill,
            every,
        } => {
            stream.write_all(&prefix).await?;
            for byte in fill.iter().cycle() {
                stream.write_all(&[*byte]).await?;
                stream.flush().await?;
                sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(every).await;
            }
            Ok(())
        }
    }
}

/// One cap case: what the checker did against a server that never finishes.
struct CapCase {
    name: &'static str,
    report: CheckReport,
    elapsed: Duration,
    server_sent: u64,
    hung_up: bool,
    /// Phrases of which the report's error must show one (any error when empty).
    expected: &'static [&'static str],
}

impl CapCase {
    fn holds(&self, timeout: Duration) -> bool {
        let error = self.report.error.as_deref().unwrap_or(&self.report.detail);
        self.report.outcome == CheckOutcome::Error
            && (self.expected.is_empty() || self.expected.iter().any(|e| error.contains(e)))
            && self.elapsed < timeout + Duration::from_secs(5)
            && self.hung_up
    }

    fn figures(&self) -> Value {
        json!({
            "case": self.name,
            "outcome": format!("{:?}", self.report.outcome),
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "server_sent_bytes": self.server_sent,
            "client_hung_up": self.hung_up,
            "error": self.report.error,
        })
    }
}

async fn cap_case(
    name: &'static str,
    server: EndlessServer,
    expected: &'static [&'static str],
    check: impl std::future::Future<Output = CheckReport>,
) -> CapCase {
    let started = Instant::now();
    let report = check.await;
    let elapsed = started.elapsed();
    let hung_up = server.wait_hung_up(Duration::from_secs(5)).await;
    CapCase {
        name,
        report,
        elapsed,
        server_sent: server.sent.load(Ordering::SeqCst),
        hung_up,
        expected,
    }
}

fn whois_checker(server: HostPort, tlds: &[&str], timeout: Duration) -> WhoisChecker {
    WhoisChecker::new(WhoisSettings {
        // Nothing listens on the discard port: a referral lookup would fail.
        referral_server: HostPort {
            host: "127.0.0.1".to_owned(),
            port: 9,
        },
        overrides: tlds
            .iter()
            .map(|tld| ((*tld).to_owned(), server.clone()))
            .collect(),
        timeout,
        rate_limit: rate_limit(10_000),
    })
}

fn rdap_checker(base: &str, timeout: Duration) -> RdapChecker {
    guarded_rdap_checker(
        base,
        timeout,
        vec![SocketAddr::from(([127, 0, 0, 1], 53))],
        false,
    )
}

/// An RDAP checker whose redirects to other hosts resolve through
/// `dns_servers`, private addresses allowed or not.
fn guarded_rdap_checker(
    base: &str,
    timeout: Duration,
    dns_servers: Vec<SocketAddr>,
    allow_private: bool,
) -> RdapChecker {
    RdapChecker::new(RdapSettings {
        bootstrap_url: Url::parse("http://127.0.0.1:9/dns.json").expect("URL"),
        overrides: [("test".to_owned(), Url::parse(base).expect("URL"))]
            .into_iter()
            .collect(),
        timeout,
        rate_limit: rate_limit(10_000),
        dns_servers,
        allow_private,
        weak_404_tlds: Vec::new(),
    })
    .expect("RDAP checker")
}

/// The WHOIS and RDAP checkers against servers that stream endlessly or
/// trickle: each gives up within its size or time cap, with an error.
async fn cap_cases(timeout: Duration) -> Vec<CapCase> {
    const TOO_LARGE: &[&str] = &["too large", "exceeds"];
    const TIMED_OUT: &[&str] = &["did not finish"];
    // reqwest words a timeout mid-answer as "error sending request" or "error
    // decoding response body": the time the check took is the evidence.
    const ANY_ERROR: &[&str] = &[];
    let mut cases = Vec::new();
    let x = domain("x.test");

    let whois_floods = [
        ("whois: endless line without a break", b"A".to_vec()),
        (
            "whois: endless registration lines",
            b"Domain Status: ok\r\n".to_vec(),
        ),
    ];
    for (name, fill) in whois_floods {
        let server = EndlessServer::start(Endless::Flood {
            prefix: b"Domain Name: X.TEST\r\n".to_vec(),
            fill,
        })
        .await;
        let checker = whois_checker(server.host_port(), &["test"], timeout);
        cases.push(cap_case(name, server, TOO_LARGE, checker.check(&x)).await);
    }
    let server = EndlessServer::start(Endless::Trickle {
        prefix: Vec::new(),
        fill: b"No match for \"X.TEST\".\r\n".to_vec(),
        every: Duration::from_millis(100),
    })
    .await;
    let checker = whois_checker(server.host_port(), &["test"], timeout);
    cases.push(
        cap_case(
            "whois: not-found trickled slower than the timeout",
            server,
            TIMED_OUT,
            checker.check(&x),
        )
        .await,
    );

    let head = |extra: &str| {
        format!("HTTP/1.1 200 OK\r\nContent-Type: {RDAP_JSON}\r\n{extra}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let mut body_start = head("");
    body_start.extend_from_slice(br#"{"objectClassName":"domain","ldhName":"x.test","remarks":[""#);
    let rdap_cases: Vec<(&'static str, Endless, &'static [&'static str])> = vec![
        (
            "rdap: endless body without a length",
            Endless::Flood {
                prefix: body_start.clone(),
                fill: b"A".to_vec(),
            },
            TOO_LARGE,
        ),
        (
            "rdap: endless chunked body",
            Endless::Flood {
                prefix: head("Transfer-Encoding: chunked\r\n"),
                fill: [&b"1000\r\n"[..], &[b'A'; 4096], b"\r\n"].concat(),
            },
            TOO_LARGE,
        ),
        (
            "rdap: endless 1-byte chunks",
            Endless::Flood {
                prefix: head("Transfer-Encoding: chunked\r\n"),
                fill: b"1\r\nA\r\n".to_vec(),
            },
            ANY_ERROR,
        ),
        (
            "rdap: a declared terabyte",
            Endless::Trickle {
                prefix: head("Content-Length: 1099511627776\r\n"),
                fill: b"{".to_vec(),
                every: Duration::from_millis(100),
            },
            TOO_LARGE,
        ),
        (
            "rdap: body trickled slower than the timeout",
            Endless::Trickle {
                prefix: head("Content-Length: 100000\r\n"),
                fill: b" ".to_vec(),
                every: Duration::from_millis(100),
            },
            ANY_ERROR,
        ),
        (
            "rdap: head trickled slower than the timeout",
            Endless::Trickle {
                prefix: b"HTTP/1.1 200 OK\r\n".to_vec(),
                fill: b"X-Slow: a\r\n".to_vec(),
                every: Duration::from_millis(100),
            },
            ANY_ERROR,
        ),
    ];
    for (name, mode, expected) in rdap_cases {
        let server = EndlessServer::start(mode).await;
        let checker = rdap_checker(&format!("http://{}/rdap/", server.addr), timeout);
        cases.push(cap_case(name, server, expected, checker.check(&x)).await);
    }
    cases
}

/// A WHOIS server whose one answer the test swaps between checks.
struct SwappableWhois {
    addr: SocketAddr,
    answer: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SwappableWhois {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SwappableWhois {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let answer = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let answer = Arc::clone(&answer);
            async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let bytes = answer.lock().expect("answer lock").clone();
                    tokio::spawn(async move {
                        let mut buf = [0_u8; 1024];
                        let _ = stream.read(&mut buf).await;
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.shutdown().await;
                    });
                }
            }
        });
        Self { addr, answer, task }
    }
}

/// End to end: the WHOIS and RDAP checkers on garbage answers. Returns
/// (cases, false "available" verdicts with reasons).
async fn checker_garbage(seed: u64, cases: usize) -> (usize, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0bad_cafe);
    let timeout = Duration::from_secs(3);
    let mut false_available = Vec::new();

    let whois = SwappableWhois::start().await;
    let tlds = ["test", "com", "org", "de"];
    let server = HostPort {
        host: "127.0.0.1".to_owned(),
        port: whois.addr.port(),
    };
    let mut checker = whois_checker(server.clone(), &tlds, timeout);
    // Registrar servers named in records point at the discard port: a
    // follow-up query fails at once instead of waiting on name resolution.
    let seeds: Vec<Vec<u8>> = corpus(Target::Whois)
        .into_iter()
        .map(|s| {
            String::from_utf8_lossy(&s)
                .replace("whois.example-registrar.net", "127.0.0.1:9")
                .into_bytes()
        })
        .collect();
    for _ in 0..cases {
        let pick = rng.random_range(0..seeds.len());
        let input = mutate(&mut rng, &seeds[pick], false);
        input.clone_into(&mut whois.answer.lock().expect("answer lock"));
        let tld = tlds[rng.random_range(0..tlds.len())];
        let report = checker.check(&domain(&format!("x.{tld}"))).await;
        if report.outcome == CheckOutcome::Available {
            let text = decode(&input);
            let record = text
                .lines()
                .any(|line| REGISTRATION_LINES.contains(&line.trim()));
            let why = false_not_found(&text).or(record.then_some("an intact registration record"));
            if let Some(why) = why {
                let path = save_input(
                    "false-available-checker",
                    Target::Whois,
                    false_available.len() as u64,
                    &input,
                );
                false_available.push(format!("whois .{tld}: Available on {why} ({path})"));
            }
        }
        if report.outcome == CheckOutcome::RateLimited {
            // The checker now backs this server off; start afresh.
            checker = whois_checker(server.clone(), &tlds, timeout);
        }
    }

    let stub = HttpStub::start().await;
    let base = stub.url("/rdap/");
    let mut checker = rdap_checker(&base, timeout);
    let seeds = corpus(Target::Rdap);
    for _ in 0..cases {
        let pick = rng.random_range(0..seeds.len());
        let body = mutate(&mut rng, &seeds[pick], true);
        let status = [200, 200, 200, 200, 404, 500, 429, 400, 302, 410][rng.random_range(0..10)];
        stub.set("/rdap/domain/x.test", Reply::json(status, RDAP_JSON, body));
        let report = checker.check(&domain("x.test")).await;
        if report.outcome == CheckOutcome::Available && status != 404 {
            false_available.push(format!(
                "rdap: Available on HTTP {status}: {}",
                report.detail
            ));
        }
        if matches!(report.outcome, CheckOutcome::RateLimited) || report.retry_after.is_some() {
            checker = rdap_checker(&base, timeout);
        }
    }
    (2 * cases, false_available)
}

fn fuzz_seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5ec0_0009)
}

/// Hostile input never panics a parser, never breaks their invariants, and
/// never reads as "available"; servers that never finish are cut off.
///
/// What "false available" means here, honestly: the WHOIS classifier may
/// only say "not found" when the answer shows wording TESTING.md documents
/// for it, and never next to a documented throttle banner; the WHOIS checker
/// additionally never says `Available` beside an intact registration line;
/// the RDAP checker says `Available` only on a 404. Within those rules a
/// mutated not-found answer may still legitimately read as not found.
/// `FUZZ_SEED` replays a run; offending inputs are saved under
/// `target/chaos-results/fuzz-inputs/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_parsers() {
    let seed = fuzz_seed();
    let budget = by_scale(Duration::from_secs(10), Duration::from_secs(150));
    let max_cases = by_scale(50_000, 10_000_000);
    let tally = tokio::task::spawn_blocking(move || run_parser_fuzz(seed, budget, max_cases))
        .await
        .expect("the fuzz loop itself never panics");
    let cap_timeout = Duration::from_secs(2);
    let caps = cap_cases(cap_timeout).await;
    let (checker_cases, checker_false) = checker_garbage(seed, by_scale(300, 5_000)).await;

    let caps_failed: Vec<&str> = caps
        .iter()
        .filter(|c| !c.holds(cap_timeout))
        .map(|c| c.name)
        .collect();
    let mut figures = Figures {
        false_available: tally.false_available + checker_false.len() as u64,
        ..Figures::default()
    };
    let cases_run: u64 = tally.cases.values().sum();
    figures.note("seed", json!(seed));
    figures.note("parser_cases", json!(cases_run));
    figures.note("parser_cases_by_target", json!(tally.cases));
    figures.note("parser_input_bytes", json!(tally.bytes));
    figures.note("panics", json!(tally.panics));
    figures.note("invariant_violations", json!(tally.violations));
    figures.note("checker_garbage_cases", json!(checker_cases));
    figures.note(
        "cap_cases",
        json!(caps.iter().map(CapCase::figures).collect::<Vec<_>>()),
    );
    figures.note("caps_failed", json!(caps_failed));
    figures.note("whois_cap_bytes", json!(WHOIS_MAX_ANSWER_BYTES));
    figures.note(
        "rdap_cap_bytes",
        json!(domain_monitor::check::rdap::MAX_ANSWER_BYTES),
    );
    let passed = tally.panics == 0
        && tally.violations == 0
        && figures.false_available == 0
        && caps_failed.is_empty()
        && cases_run >= 1000;
    record(
        "fuzz_parsers",
        "mutated RDAP/bootstrap/domain-list/WHOIS/domain-name inputs (bit flips, splices, truncation, deep nesting, huge numbers, invalid UTF-8, 1 MiB lines); WHOIS and RDAP servers that stream endlessly or trickle",
        &figures,
        passed,
    );

    let problems = tally
        .problems
        .iter()
        .chain(&checker_false)
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(tally.panics, 0, "parsers panicked:\n{problems}");
    assert_eq!(tally.violations, 0, "invariants broken:\n{problems}");
    assert_eq!(
        figures.false_available, 0,
        "garbage read as available:\n{problems}"
    );
    assert!(cases_run >= 1000, "only {cases_run} cases ran");
    for case in &caps {
        assert!(
            case.holds(cap_timeout),
            "{}: {:?} after {:?}, server sent {} bytes, client hung up: {}; error {:?}",
            case.name,
            case.report.outcome,
            case.elapsed,
            case.server_sent,
            case.hung_up,
            case.report.error
        );
    }
}

// =====================================================================
// 8. ssrf
// =====================================================================

/// A listener on every local address (IPv4 and IPv6) of one port that
/// counts connections and answers each with a bare `200`.
struct CountingListener {
    port: u16,
    connections: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl CountingListener {
    /// `reply` is the whole answer written to every connection.
    async fn start(reply: String) -> Self {
        let v6 = TcpListener::bind("[::]:0").await.expect("bind [::]");
        let port = v6.local_addr().expect("address").port();
        // Dual-stack sockets take IPv4 too; otherwise bind IPv4 separately.
        let v4 = TcpListener::bind(("0.0.0.0", port)).await.ok();
        let connections = Arc::new(AtomicUsize::new(0));
        let tasks = std::iter::once(v6)
            .chain(v4)
            .map(|listener| {
                let connections = Arc::clone(&connections);
                let reply = reply.clone();
                tokio::spawn(async move {
                    while let Ok((mut stream, _)) = listener.accept().await {
                        connections.fetch_add(1, Ordering::SeqCst);
                        let reply = reply.clone();
                        tokio::spawn(async move {
                            let mut buf = [0_u8; 4096];
                            let _ = stream.read(&mut buf).await;
                            let _ = stream.write_all(reply.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        });
                    }
                })
            })
            .collect();
        Self {
            port,
            connections,
            tasks,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

const OK_REPLY: &str = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

fn http_checker(nsd: &Nsd, http_port: u16, https_port: u16, allow_private: bool) -> HttpChecker {
    HttpChecker::new(HttpSettings {
        dns_servers: vec![nsd.addr()],
        timeout: Duration::from_secs(2),
        allow_private,
        rate_limit: rate_limit(1000),
        http_port,
        https_port,
    })
    .expect("http checker")
}

/// Names in the `.test` zone and the addresses they resolve to.
const SSRF_NAMES: &[(&str, &[&str])] = &[
    ("loopback.test", &["127.0.0.1"]),
    ("loopback-alt.test", &["127.3.2.1"]),
    ("this-host.test", &["0.0.0.0"]),
    ("loopback6.test", &["::1"]),
    ("unspecified6.test", &["::"]),
    ("mapped-loopback.test", &["::ffff:127.0.0.1"]),
    ("metadata.test", &["169.254.169.254"]),
    ("mapped-metadata.test", &["::ffff:169.254.169.254"]),
    ("metadata6.test", &["fd00:ec2::254"]),
    ("private10.test", &["10.0.0.1"]),
    ("private172.test", &["172.16.5.4"]),
    ("private192.test", &["192.168.1.1"]),
    ("cgnat.test", &["100.64.0.1"]),
    ("ula.test", &["fd12:3456:789a::1"]),
    ("link-local6.test", &["fe80::1"]),
    ("nat64-loopback.test", &["64:ff9b::7f00:1"]),
    ("compat-loopback.test", &["::7f00:1"]),
    ("sixtofour-loopback.test", &["2002:7f00:1::1"]),
    ("public-and-loopback.test", &["93.184.216.34", "127.0.0.1"]),
];

/// Names that reach this host's loopback when nothing guards them.
const LOOPBACK_NAMES: &[&str] = &[
    "loopback.test",
    "loopback-alt.test",
    "this-host.test",
    "loopback6.test",
    "mapped-loopback.test",
];

/// The HTTP checker contacts no private, loopback, link-local, metadata,
/// CGNAT, ULA or IPv4-embedding address, whatever a name resolves to, and
/// follows no redirect. The listener that counts connections is on every
/// local address of the probed port; names that resolve to loopback reach it
/// when the guard is off (the control), so its zero is the guard's doing.
/// Other private addresses cannot be listened on here: for them the evidence
/// is the resolver's refusal, which comes before any socket is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf() {
    let mut zone = Zone::new("test").address("web.test", "127.0.0.1".parse().expect("IP"));
    for (name, ips) in SSRF_NAMES {
        for ip in *ips {
            zone = zone.address(name, ip.parse().expect("IP"));
        }
    }
    let nsd = tokio::task::spawn_blocking(move || Nsd::start(zone))
        .await
        .expect("start nsd");
    let rounds = by_scale(1, 20);

    // The guard on: nothing private is contacted, whatever the name says.
    let target = CountingListener::start(OK_REPLY.to_owned()).await;
    let guarded = http_checker(&nsd, target.port, target.port, false);
    let mut unrefused = Vec::new();
    let mut false_available = 0_u64;
    let mut probes = 0_u64;
    for _ in 0..rounds {
        for (name, _) in SSRF_NAMES {
            let report = guarded.check(&domain(name)).await;
            probes += 1;
            if report.outcome == CheckOutcome::Available {
                false_available += 1;
            }
            // The resolver refuses before any socket opens.
            if !report.detail.contains("refused to connect")
                || report.outcome != CheckOutcome::Inconclusive
            {
                unrefused.push(format!("{name}: {:?} {}", report.outcome, report.detail));
            }
        }
    }
    // IP literals never reach the resolver: the checker refuses them itself.
    let mut literals = 0_u64;
    for literal in [
        "127.0.0.1",
        "0.0.0.0",
        "169.254.169.254",
        "[::1]",
        "::1",
        "2130706433",
        "0x7f.0.0.1",
    ] {
        if let Ok(name) = DomainName::parse(literal) {
            literals += 1;
            let report = guarded.check(&name).await;
            if report.outcome == CheckOutcome::Registered {
                unrefused.push(format!("IP literal {literal}: {}", report.detail));
            }
        }
    }
    let private_connections = target.connections();

    // Control: without the guard the loopback names do reach the listener,
    // so the zero above is the guard's doing.
    let control = CountingListener::start(OK_REPLY.to_owned()).await;
    let unguarded = http_checker(&nsd, control.port, control.port, true);
    let mut reached_without_guard = BTreeMap::new();
    for name in LOOPBACK_NAMES {
        let before = control.connections();
        let report = unguarded.check(&domain(name)).await;
        reached_without_guard.insert(
            (*name).to_owned(),
            json!({"connections": control.connections() - before, "outcome": format!("{:?}", report.outcome)}),
        );
    }
    let control_connections = control.connections();

    // Redirects: the first hop answers (the guard is off so it can live on
    // loopback); wherever its Location points, nothing follows it.
    let redirect_target = CountingListener::start(OK_REPLY.to_owned()).await;
    let locations = [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        format!("http://127.0.0.1:{}/admin", redirect_target.port),
        format!("http://[::1]:{}/", redirect_target.port),
        format!("http://[::ffff:127.0.0.1]:{}/", redirect_target.port),
        format!("http://loopback.test:{}/", redirect_target.port),
        format!("https://127.0.0.1:{}/", redirect_target.port),
        format!("//127.0.0.1:{}/protocol-relative", redirect_target.port),
        "http://10.0.0.1/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
    ];
    let statuses = [301, 302, 303, 307, 308];
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut redirects = 0_u64;
    let mut redirect_answers = 0_u64;
    for (i, location) in locations.iter().enumerate() {
        let status = statuses[i % statuses.len()];
        let first_hop = CountingListener::start(format!(
            "HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ))
        .await;
        let checker = http_checker(&nsd, first_hop.port, closed_port, true);
        let report = checker.check(&domain("web.test")).await;
        redirects += 1;
        if report.outcome == CheckOutcome::Registered
            && report.detail.starts_with(&format!("HTTP {status} "))
        {
            redirect_answers += 1;
        } else {
            unrefused.push(format!(
                "redirect to {location}: {:?} {}",
                report.outcome, report.detail
            ));
        }
    }
    let redirect_connections = redirect_target.connections();

    // RDAP servers may redirect, and the RDAP checker follows them, but not
    // into the cluster: the server (an override here, so it may live on
    // loopback) points elsewhere; the target answers a valid domain object.
    let (rdap, rdap_followed) = rdap_redirects(&nsd, &mut unrefused, &mut false_available).await;

    let mut figures = Figures {
        false_available,
        ..Figures::default()
    };
    figures.note("names", json!(SSRF_NAMES.len()));
    figures.note("probes", json!(probes));
    figures.note("ip_literals_accepted_as_names", json!(literals));
    figures.note("private_connections", json!(private_connections));
    figures.note("not_refused", json!(unrefused));
    figures.note(
        "control_connections_without_guard",
        json!(control_connections),
    );
    figures.note("control_by_name", json!(reached_without_guard));
    figures.note("redirects", json!(redirects));
    figures.note("redirects_reported_as_answers", json!(redirect_answers));
    figures.note("redirect_target_connections", json!(redirect_connections));
    figures.note("rdap_redirects_refused", json!(rdap.refused));
    figures.note("rdap_redirect_target_connections", json!(rdap.connections));
    figures.note("rdap_redirects_followed", json!(rdap_followed));
    let passed = private_connections == 0
        && redirect_connections == 0
        && rdap.connections == 0
        && unrefused.is_empty()
        && false_available == 0
        && control_connections > 0;
    record(
        "ssrf",
        "domain names resolving to loopback, private, link-local, metadata, CGNAT, ULA and IPv4-embedding IPv6 addresses (HTTP_ALLOW_PRIVATE off); HTTP and RDAP redirects to private and metadata addresses",
        &figures,
        passed,
    );

    assert_eq!(private_connections, 0, "a private address was contacted");
    assert_eq!(redirect_connections, 0, "a redirect was followed");
    assert_eq!(
        rdap.connections, 0,
        "an RDAP redirect reached a private address"
    );
    assert!(
        unrefused.is_empty(),
        "not refused:\n{}",
        unrefused.join("\n")
    );
    assert_eq!(false_available, 0);
    assert!(
        control.connections() > 0,
        "without the guard the listener must be reachable, or the zero proves nothing: {reached_without_guard:?}"
    );
}

/// What the RDAP redirects to private places came to.
struct RdapRedirects {
    refused: u64,
    /// Connections the private redirect target received.
    connections: usize,
}

/// An answer that redirects to `location`.
fn redirect_reply(status: u16, location: &str) -> String {
    format!(
        "HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// The RDAP part of [`ssrf`]: redirects to private addresses and other
/// schemes are refused, with an error and without a connection; a redirect
/// on the server's own host is followed; with the guard off (the control)
/// the same targets are reached; a redirect loop ends. Returns the refusals
/// and how many redirects were followed.
async fn rdap_redirects(
    nsd: &Nsd,
    unrefused: &mut Vec<String>,
    false_available: &mut u64,
) -> (RdapRedirects, u64) {
    let body = r#"{"objectClassName":"domain","ldhName":"web.test","status":["active"]}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/rdap+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let target = CountingListener::start(answer.clone()).await;
    let port = target.port;
    let private = [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://127.0.0.2:{port}/domain/web.test"),
        format!("http://[::1]:{port}/domain/web.test"),
        format!("http://[::ffff:127.0.0.1]:{port}/domain/web.test"),
        format!("http://loopback.test:{port}/domain/web.test"),
        format!("http://loopback-alt.test:{port}/domain/web.test"),
        "http://10.0.0.1/domain/web.test".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
        "gopher://127.0.0.1:11211/".to_owned(),
    ];
    let statuses = [301, 302, 303, 307, 308];
    let check = |location: String, status: u16, allow_private: bool| async move {
        let first_hop = CountingListener::start(redirect_reply(status, &location)).await;
        let checker = guarded_rdap_checker(
            &format!("http://127.0.0.1:{}/", first_hop.port),
            Duration::from_secs(2),
            vec![nsd.addr()],
            allow_private,
        );
        checker.check(&domain("web.test")).await
    };
    let mut refused = 0;
    for (i, location) in private.iter().enumerate() {
        let report = check(location.clone(), statuses[i % statuses.len()], false).await;
        if report.outcome == CheckOutcome::Available {
            *false_available += 1;
        }
        let said = report.error.clone().unwrap_or_default();
        if report.outcome == CheckOutcome::Error && said.contains("not followed") {
            refused += 1;
        } else {
            unrefused.push(format!(
                "RDAP redirect to {location}: {:?} {said}",
                report.outcome
            ));
        }
    }
    let connections = target.connections();

    // On the server's own host, and everywhere with the guard off, the
    // redirect is followed to the domain object.
    let mut followed = 0;
    let mut follow = vec![(format!("http://127.0.0.1:{port}/domain/web.test"), false)];
    follow.extend(
        [
            format!("http://127.0.0.2:{port}/domain/web.test"),
            format!("http://loopback.test:{port}/domain/web.test"),
        ]
        .into_iter()
        .map(|location| (location, true)),
    );
    for (location, allow_private) in follow {
        let report = check(location.clone(), 302, allow_private).await;
        if report.outcome == CheckOutcome::Registered {
            followed += 1;
        } else {
            unrefused.push(format!(
                "RDAP redirect to {location} (allow_private {allow_private}) not followed: {:?} {:?}",
                report.outcome, report.error
            ));
        }
    }
    assert!(
        target.connections() > connections,
        "the followed redirects reached the target"
    );

    // A server that redirects to itself forever.
    let endless = CountingListener::start(redirect_reply(302, "/again")).await;
    let checker = guarded_rdap_checker(
        &format!("http://127.0.0.1:{}/", endless.port),
        Duration::from_secs(2),
        vec![nsd.addr()],
        false,
    );
    let report = checker.check(&domain("web.test")).await;
    let said = report.error.clone().unwrap_or_default();
    if report.outcome != CheckOutcome::Error || !said.contains("more than 5 redirects") {
        unrefused.push(format!(
            "endless RDAP redirects: {:?} {said}",
            report.outcome
        ));
    }
    assert_eq!(
        endless.connections(),
        6,
        "the first request and 5 redirects"
    );
    (
        RdapRedirects {
            refused,
            connections,
        },
        followed,
    )
}

// =====================================================================
// 9. secrets_never_leak
// =====================================================================

/// A request an [`EchoServer`] received.
#[derive(Debug, Clone)]
struct EchoRequest {
    /// Path and query.
    target: String,
    /// Request line and headers as sent.
    head: String,
    body: Vec<u8>,
}

impl EchoRequest {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn text(&self) -> String {
        format!("{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

/// Chooses the status and body of an answer from the request and how many
/// requests reached its path before.
type Responder = dyn Fn(&EchoRequest, usize) -> (u16, String) + Send + Sync;

/// An HTTP server whose answers can echo the request back (as careless
/// receivers do in their error pages), recording every request.
struct EchoServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<EchoRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An error body that repeats the request line and every header.
fn echo_body(request: &EchoRequest) -> String {
    json!({"error": "request refused", "you_sent": request.head}).to_string()
}

impl EchoServer {
    async fn start(
        responder: impl Fn(&EchoRequest, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let requests: Arc<Mutex<Vec<EchoRequest>>> = Arc::default();
        let responder: Arc<Responder> = Arc::new(responder);
        let task = tokio::spawn({
            let requests = Arc::clone(&requests);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (requests, responder) = (Arc::clone(&requests), Arc::clone(&responder));
                    tokio::spawn(async move {
                        let _ = echo_answer(stream, &requests, &*responder).await;
                    });
                }
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<EchoRequest> {
        self.requests.lock().expect("requests lock").clone()
    }

    fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path() == path).count()
    }
}

async fn echo_answer(
    mut stream: TcpStream,
    requests: &Mutex<Vec<EchoRequest>>,
    responder: &Responder,
) -> std::io::Result<()> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 || data.len() > 1024 * 1024 {
            return Ok(());
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let request = EchoRequest { target, head, body };
    let (status, reply) = {
        let mut requests = requests.lock().expect("requests lock");
        let earlier = requests
            .iter()
            .filter(|r| r.path() == request.path())
            .count();
        let answer = responder(&request, earlier);
        requests.push(request);
        answer
    };
    let response = format!(
        "HTTP/1.1 {status} Echo\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Standard base64, for credentials that travel as `Basic` authorization.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A named secret, and where it may legitimately appear.
struct SecretValue {
    name: &'static str,
    value: String,
    /// Outputs (by name prefix) that are this secret's rightful recipient.
    allowed_in: &'static [&'static str],
}

/// What one leak run collected.
struct LeakRun {
    provider: &'static str,
    secrets: Vec<SecretValue>,
    outputs: Vec<(String, String)>,
    callback_requests: usize,
    registrar_requests: usize,
    domain_api_requests: usize,
    sentry_envelopes: usize,
    echoed_token: bool,
}

impl LeakRun {
    /// `output: secret` for every secret found where it does not belong.
    fn leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        for (output, text) in &self.outputs {
            for secret in &self.secrets {
                let allowed = secret.allowed_in.iter().any(|p| output.starts_with(p));
                if !allowed && text.contains(&secret.value) {
                    leaks.push(format!("[{}] {output}: {}", self.provider, secret.name));
                }
            }
        }
        leaks
    }
}

/// Sends raw bytes to `addr` and returns what came back (empty when the
/// server closed without answering), within `patience`.
async fn raw_exchange(addr: &str, request: &[u8], patience: Duration) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        Some(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(patience, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Every event of the namespace, in both Event APIs, as JSON.
async fn namespace_events(client: &kube::Client, namespace: &str) -> Vec<(String, String)> {
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), namespace);
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), namespace);
    let mut out = Vec::new();
    if let Ok(list) = core.list(&ListParams::default()).await {
        for event in list.items {
            out.push((
                format!(
                    "Event (core/v1) {}",
                    event.metadata.name.clone().unwrap_or_default()
                ),
                serde_json::to_string(&event).unwrap_or_default(),
            ));
        }
    }
    if let Ok(list) = events.list(&ListParams::default()).await {
        for event in list.items {
            out.push((
                format!(
                    "Event (events.k8s.io/v1) {}",
                    event.metadata.name.clone().unwrap_or_default()
                ),
                serde_json::to_string(&event).unwrap_or_default(),
            ));
        }
    }
    out
}

/// A ValidatingAdmissionPolicy that refuses every MonitoredDomain status
/// write in one namespace: the operator's reconciles there fail.
struct StatusRefusal {
    client: kube::Client,
    name: String,
}

impl StatusRefusal {
    async fn install(client: &kube::Client, namespace: &str) -> Self {
        use k8s_openapi::api::admissionregistration::v1::{
            ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
        };
        let name = format!("refuse-status-{namespace}");
        let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["domainmonitor.io"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["monitoreddomains/status"],
                }]},
                "validations": [{"expression": "false", "message": "status writes refused by the test"}],
            },
        }))
        .expect("policy");
        let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace},
                }},
            },
        }))
        .expect("binding");
        Api::<ValidatingAdmissionPolicy>::all(client.clone())
            .create(&PostParams::default(), &policy)
            .await
            .expect("create the admission policy");
        Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .expect("create the admission policy binding");
        Self {
            client: client.clone(),
            name,
        }
    }

    async fn remove(self) {
        use k8s_openapi::api::admissionregistration::v1::{
            ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
        };
        let params = kube::api::DeleteParams::default();
        let _ = Api::<ValidatingAdmissionPolicyBinding>::all(self.client.clone())
            .delete(&self.name, &params)
            .await;
        let _ = Api::<ValidatingAdmissionPolicy>::all(self.client)
            .delete(&self.name, &params)
            .await;
    }
}

/// Runs one operator with every secret set and every peer failing, provokes
/// errors, and collects every output it produced.
async fn leak_run(world: &World, provider: &'static str, patience: Duration) -> LeakRun {
    let ns = TestNamespace::new(&format!("leak-{provider}")).await;
    let token = format!("tok{}", random_hex(24));
    let registrar_key = format!("rk{}", random_hex(24));
    let registrar_extra = format!("rx{}", random_hex(24));
    let domain_api_password = format!("dp{}", random_hex(24));
    let sentry_key = random_hex(32);

    // The callback receiver and the registrar API refuse, echoing the request.
    let callbacks =
        EchoServer::start(|request, n| (if n % 2 == 0 { 500 } else { 401 }, echo_body(request)))
            .await;
    let registrar = EchoServer::start(|request, n| {
        let body = json!({
            "code": "UNAUTHORIZED",
            "message": format!("bad credentials in {}", request.head),
        });
        (if n % 2 == 0 { 401 } else { 500 }, body.to_string())
    })
    .await;
    // The domain API lists two names once, then fails.
    let domain_api = EchoServer::start(|request, n| {
        if n == 0 {
            (
                200,
                json!({"domains": ["listed.test", "taken.test"]}).to_string(),
            )
        } else {
            (500, echo_body(request))
        }
    })
    .await;
    let sentry = HttpStub::start().await;
    sentry.set(
        "/api/1/envelope/",
        Reply::json(200, "application/json", "{}"),
    );

    let api = ns.domains();
    for md in [
        pinned("free", "free.test", true),
        pinned("taken-pinned", "taken.test", false),
    ] {
        api.create(&PostParams::default(), &md)
            .await
            .expect("create");
    }

    let domain_api_url = format!(
        "http://sync-user:{domain_api_password}@{}/domains",
        domain_api.addr
    );
    let mut env = world.checker_env();
    env.extend([
        ("API_CALLBACK_URL".to_owned(), callbacks.url("/callback")),
        ("API_AUTH_TOKEN".to_owned(), token.clone()),
        ("PER_CHECK_CALLBACKS".to_owned(), "all".to_owned()),
        ("DOMAIN_API_URL".to_owned(), domain_api_url),
        (
            "SENTRY_DSN".to_owned(),
            format!("http://{sentry_key}@{}/1", sentry.addr()),
        ),
        ("REGISTRAR_PROVIDER".to_owned(), provider.to_owned()),
        ("REGISTRAR_API_KEY".to_owned(), registrar_key.clone()),
        ("REGISTRAR_RATE_LIMIT".to_owned(), "50/s".to_owned()),
        ("REGISTRAR_TIMEOUT".to_owned(), "2s".to_owned()),
    ]);
    let extra_name = if provider == "generic" {
        // The generic provider's URL template may carry a key in its query.
        env.push((
            "REGISTRAR_API_URL".to_owned(),
            registrar.url(&format!(
                "/v1/available/{{domain}}?api_key={registrar_extra}"
            )),
        ));
        "API key in REGISTRAR_API_URL"
    } else {
        env.push(("REGISTRAR_API_URL".to_owned(), registrar.url("/gd")));
        env.push(("REGISTRAR_API_SECRET".to_owned(), registrar_extra.clone()));
        "REGISTRAR_API_SECRET"
    };
    let mut operator = Operator::start(&ns.name, &format!("leak-{provider}"), &env);
    let base = operator.base_url().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();

    // Errors everywhere: the receiver refuses notifications and per-check
    // results, the registrar refuses, the domain API fails on the next sync
    // (run now through /refresh), malformed requests hit the HTTP surface.
    let deadline = tokio::time::Instant::now() + patience;
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut refreshed = false;
    loop {
        let notified = api
            .get("free")
            .await
            .ok()
            .and_then(|md| md.status)
            .and_then(|s| s.notification)
            .is_some_and(|n| n.last_error.is_some());
        if !refreshed && domain_api.count("/domains") >= 1 {
            let response = http
                .post(format!("{base}/refresh"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("POST /refresh");
            let status = response.status();
            outputs.push((
                format!("HTTP POST /refresh with the token ({status})"),
                response.text().await.unwrap_or_default(),
            ));
            refreshed = true;
        }
        // The full scale also waits for a scheduled sync to fail (10 s).
        let done = notified
            && refreshed
            && registrar.requests().len() >= 2
            && domain_api.count("/domains") >= by_scale(2, 3);
        if done {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "[{provider}] errors not all provoked within {patience:?}: notified {notified}, refreshed {refreshed}, notification {:?}, registrar {} requests, domain API {}\n{}",
                api.get("free")
                    .await
                    .ok()
                    .and_then(|md| md.status)
                    .and_then(|s| s.notification),
                registrar.requests().len(),
                domain_api.count("/domains"),
                operator.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A malformed request carrying the token.
    let garbage =
        format!("GET /health HTTP/1.1\r\nAuthorization: Bearer {token}\r\nBad Header\r\n\r\n");
    let answer = raw_exchange(&addr, garbage.as_bytes(), Duration::from_secs(2)).await;
    outputs.push(("HTTP malformed request".to_owned(), answer));

    // Error-level logs become Sentry events, with the earlier logs as
    // breadcrumbs: refuse the status writes for a while, and reconciles fail.
    let refusal = StatusRefusal::install(&ns.client, &ns.name).await;
    let mut spec_changes = 0;
    while sentry.requests("/api/1/envelope/").is_empty() {
        if tokio::time::Instant::now() > deadline {
            refusal.remove().await;
            panic!(
                "[{provider}] no Sentry event within {patience:?}\n{}",
                operator.log()
            );
        }
        // A spec change makes the operator write status (observedGeneration).
        spec_changes += 1;
        let patch = json!({"spec": {"checkInterval": format!("{}s", 60 + spec_changes)}});
        let _ = api
            .patch(
                "free",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    refusal.remove().await;

    // The HTTP surface, errors included.
    let gets = [
        "/health",
        "/ready",
        "/status",
        "/domains",
        "/domain/free.test",
        "/domain/taken.test",
        "/domain/listed.test",
        "/domain/%zz",
        "/domain/not..valid",
        "/metrics",
        "/metrics/prometheus",
        "/metrics?include_timers=maybe",
        "/nowhere",
    ];
    for path in gets {
        let response = http.get(format!("{base}{path}")).send().await.expect("GET");
        let status = response.status();
        outputs.push((
            format!("HTTP GET {path} ({status})"),
            response.text().await.unwrap_or_default(),
        ));
    }
    for (label, auth) in [("no token", None), ("a wrong token", Some("wrong"))] {
        let mut request = http.post(format!("{base}/refresh"));
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        let response = request.send().await.expect("POST /refresh");
        let status = response.status();
        outputs.push((
            format!("HTTP POST /refresh with {label} ({status})"),
            response.text().await.unwrap_or_default(),
        ));
    }
    let response = http
        .put(format!("{base}/status"))
        .send()
        .await
        .expect("PUT");
    outputs.push((
        format!("HTTP PUT /status ({})", response.status()),
        response.text().await.unwrap_or_default(),
    ));

    // Resources and events while the operator still runs.
    for md in api.list(&ListParams::default()).await.expect("list").items {
        outputs.push((
            format!("MonitoredDomain {}", kube::ResourceExt::name_any(&md)),
            serde_json::to_string(&md).unwrap_or_default(),
        ));
    }
    outputs.extend(namespace_events(&ns.client, &ns.name).await);

    // A clean stop flushes Sentry; then the logs and what each peer received.
    operator.terminate();
    let exit = operator.wait_exit(Duration::from_secs(30)).await;
    assert!(
        exit.is_some(),
        "[{provider}] the operator did not stop on SIGTERM:\n{}",
        operator.log()
    );
    outputs.push((
        "operator log (stdout and stderr)".to_owned(),
        operator.log(),
    ));
    let envelopes = sentry.requests("/api/1/envelope/");
    outputs.push((
        "Sentry envelopes".to_owned(),
        envelopes
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    let callback_requests = callbacks.requests();
    let echoed_token = callback_requests.iter().any(|r| r.head.contains(&token));
    for (peer, server) in [
        ("requests to the callback receiver", &callbacks),
        ("requests to the registrar API", &registrar),
        ("requests to the domain API", &domain_api),
    ] {
        outputs.push((
            peer.to_owned(),
            server
                .requests()
                .iter()
                .map(EchoRequest::text)
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    outputs.push((
        "queries to the WHOIS server".to_owned(),
        world.whois.queries().join("\n"),
    ));

    let secrets = vec![
        SecretValue {
            name: "API_AUTH_TOKEN",
            value: token,
            allowed_in: &["requests to the callback receiver"],
        },
        SecretValue {
            name: "REGISTRAR_API_KEY",
            value: registrar_key,
            allowed_in: &["requests to the registrar API"],
        },
        SecretValue {
            name: extra_name,
            value: registrar_extra,
            allowed_in: &["requests to the registrar API"],
        },
        SecretValue {
            name: "DOMAIN_API_URL password",
            value: domain_api_password.clone(),
            allowed_in: &[],
        },
        SecretValue {
            name: "DOMAIN_API_URL credentials as Basic authorization",
            value: base64(format!("sync-user:{domain_api_password}").as_bytes()),
            allowed_in: &["requests to the domain API"],
        },
        SecretValue {
            name: "SENTRY_DSN public key",
            value: sentry_key,
            allowed_in: &[],
        },
    ];
    LeakRun {
        provider,
        secrets,
        outputs,
        callback_requests: callback_requests.len(),
        registrar_requests: registrar.requests().len(),
        domain_api_requests: domain_api.count("/domains"),
        sentry_envelopes: envelopes.len(),
        echoed_token,
    }
}

/// No secret reaches any output: logs, events, statuses, every endpoint,
/// error bodies, Sentry events, or a peer it is not meant for. The peers do
/// their worst: the receiver and the registrar answer 401/500 with the
/// request (Authorization header included) echoed in the body, the domain
/// API fails, and reconciles fail so that logs become Sentry events. The
/// Sentry stub's envelopes are scanned by body: the `X-Sentry-Auth` header
/// carries the public key to its own server by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak() {
    domain_monitor::net::ensure_crypto_provider();
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.unregistered("free.test");
    world.unregistered("listed.test");
    let patience = by_scale(Duration::from_secs(90), Duration::from_secs(180));
    // Both registrar shapes, side by side in their own namespaces.
    let (generic, godaddy) = tokio::join!(
        leak_run(&world, "generic", patience),
        leak_run(&world, "godaddy", patience)
    );
    let runs = [generic, godaddy];
    let leaks: Vec<String> = runs.iter().flat_map(LeakRun::leaks).collect();
    let outputs: usize = runs.iter().map(|r| r.outputs.len()).sum();
    let scanned_bytes: usize = runs
        .iter()
        .flat_map(|r| r.outputs.iter().map(|(_, text)| text.len()))
        .sum();
    let exercised = runs.iter().all(|r| {
        r.echoed_token
            && r.sentry_envelopes > 0
            && r.registrar_requests >= 2
            && r.callback_requests >= 2
    });

    let mut figures = Figures::default();
    figures.note("leaks", json!(leaks.len()));
    figures.note("leaked", json!(leaks));
    figures.note("outputs_scanned", json!(outputs));
    figures.note("bytes_scanned", json!(scanned_bytes));
    figures.note("secrets_per_run", json!(runs[0].secrets.len()));
    for run in &runs {
        figures.extra.insert(
            format!("{}_peers", run.provider),
            json!({
                "callback_requests": run.callback_requests,
                "registrar_requests": run.registrar_requests,
                "domain_api_requests": run.domain_api_requests,
                "sentry_envelopes": run.sentry_envelopes,
                "receiver_echoed_the_token": run.echoed_token,
            }),
        );
    }
    let passed = leaks.is_empty() && exercised;
    record(
        "secrets_never_leak",
        "token, registrar key/secret, URL-embedded API key, domain API password and Sentry key set; receiver and registrar answer 401/500 echoing the request; domain API fails; malformed requests; every log, event, status, endpoint and Sentry envelope scanned",
        &figures,
        passed,
    );

    assert!(
        exercised,
        "the leak opportunities were not all exercised: {:?}",
        figures.extra
    );
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

// =====================================================================
// 10. http_surface_hardening
// =====================================================================

/// How the surface met one hostile request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// It answered with this status.
    Status(u16),
    /// It closed the connection without an answer.
    Closed,
    /// Nothing within the patience.
    Silent,
}

/// A request body sent after the head.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    /// This many bytes, as declared by the head's `Content-Length`.
    Sized(usize),
    /// This many bytes in 64 KiB chunks (`Transfer-Encoding: chunked`).
    Chunked(usize),
}

/// Sends `head` and `body` while reading the answer's status line.
async fn attack(addr: &str, head: Vec<u8>, body: Body, patience: Duration) -> Answer {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Answer::Closed;
    };
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        writer.write_all(&head).await?;
        let chunk = vec![b'A'; 64 * 1024];
        match body {
            Body::None => {}
            Body::Sized(mut left) => {
                while left > 0 {
                    let n = left.min(chunk.len());
                    writer.write_all(&chunk[..n]).await?;
                    left -= n;
                }
            }
            Body::Chunked(mut left) => {
                while left > 0 {
                    let n = left.min(chunk.len());
                    writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                    writer.write_all(&chunk[..n]).await?;
                    writer.write_all(b"\r\n").await?;
                    left -= n;
                }
                writer.write_all(b"0\r\n\r\n").await?;
            }
        }
        // Keep the write half open until the test is done reading.
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0_u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        answer
    };
    let answer = tokio::time::timeout(patience, read).await;
    sender.abort();
    match answer {
        Err(_) => Answer::Silent,
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            text.strip_prefix("HTTP/1.")
                .and_then(|rest| rest.get(2..5))
                .and_then(|code| code.parse().ok())
                .map_or(Answer::Closed, Answer::Status)
        }
    }
}

/// A request head: `request_line`, then `headers`, then `Host` and
/// `Connection: close`.
fn head(request_line: &str, headers: &[String]) -> Vec<u8> {
    let mut text = format!("{request_line}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("Host: operator\r\nConnection: close\r\n\r\n");
    text.into_bytes()
}

/// How a slow client misbehaves.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// Sends part of a head, then one more byte each second.
    Drip,
    /// Connects and sends nothing.
    Silent,
    /// Completes one keep-alive request, then sends nothing.
    IdleAfterRequest,
}

/// Runs one slow client; true when the server closed the connection (or
/// answered the partial request) within `hold`.
async fn slow_client(addr: String, mode: Slow, hold: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return true;
    };
    let mut buf = [0_u8; 1024];
    let opening: &[u8] = match mode {
        Slow::Drip => b"GET /health HTTP/1.1\r\nHost: operator\r\n",
        Slow::Silent => b"",
        Slow::IdleAfterRequest => b"GET /health HTTP/1.1\r\nHost: operator\r\n\r\n",
    };
    if stream.write_all(opening).await.is_err() {
        return true;
    }
    if matches!(mode, Slow::IdleAfterRequest) {
        // The answer to the complete request; the connection stays open.
        let mut answer = Vec::new();
        while !answer.ends_with(b"}") {
            match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
                _ => return true,
            }
        }
    }
    let deadline = tokio::time::Instant::now() + hold;
    let mut drip = b"X-Slow: still coming".iter().cycle();
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => {
                // Any answer (408, 400) or a close ends the slow request.
                let _ = read;
                return true;
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        if matches!(mode, Slow::Drip)
            && let Some(byte) = drip.next()
            && stream.write_all(&[*byte]).await.is_err()
        {
            return true;
        }
    }
}

/// How often `GET /status` was answered 200, by the surface's own count.
async fn status_calls(http: &reqwest::Client, base: &str) -> u64 {
    let body: Value = http
        .get(format!("{base}/metrics?include_api=true"))
        .send()
        .await
        .expect("GET /metrics")
        .json()
        .await
        .expect("JSON metrics");
    body["api"]["calls"]["GET /status 200"]
        .as_u64()
        .unwrap_or(0)
}

/// Sum of the check-result counters: they only grow unless reset.
async fn checks_counted(http: &reqwest::Client, base: &str) -> u64 {
    let body: Value = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .json()
        .await
        .expect("JSON metrics");
    body["check_results"]["results"]
        .as_object()
        .map_or(0, |results| {
            results.values().filter_map(Value::as_u64).sum()
        })
}

async fn names(api: &Api<MonitoredDomain>) -> Vec<String> {
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(kube::ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

/// Mutating endpoints accept only the exact token; bodies, huge headers,
/// malformed requests, odd paths and methods are refused with a 4xx or a
/// closed connection; slow clients are disconnected; afterwards the operator
/// is healthy, nothing was synced, reset or lost, and SIGTERM still stops it
/// cleanly with unfinished requests open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_surface_hardening() {
    domain_monitor::net::ensure_crypto_provider();
    let ns = TestNamespace::new("surface").await;
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.unregistered("free.test");
    world.set_domain_list(&json!({"domains": ["taken.test", "free.test"]}));
    let api = ns.domains();
    world.unregistered("pinned.test");
    api.create(
        &PostParams::default(),
        &pinned("pinned", "pinned.test", true),
    )
    .await
    .expect("create");
    let mut env = world.operator_env();
    // One sync at start-up, then none unless someone asks: a sync run by an
    // attack shows in the domain API's hit count.
    env.push(("DOMAIN_API_REFRESH_INTERVAL".to_owned(), "1h".to_owned()));
    let mut operator = Operator::start(&ns.name, "surface", &env);
    let base = operator.base_url().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready && names(&api).await.len() == 3 && checks_counted(&http, &base).await > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let resources_before = names(&api).await;
    let syncs_before = world.api.hits("/domains");
    // Counted by the surface itself: a reset of the metrics zeroes it.
    for _ in 0..100 {
        http.get(format!("{base}/status"))
            .send()
            .await
            .expect("GET /status");
    }
    let checks_before = status_calls(&http, &base).await;

    let patience = Duration::from_secs(10);
    let body_size = by_scale(10, 50) * 1024 * 1024;
    let mut attacks: Vec<(String, Vec<u8>, Body)> = Vec::new();
    // Tokens: missing, empty, wrong, a prefix, longer, altered, elsewhere.
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let altered = format!("{prefix}{}", if TOKEN.ends_with('a') { 'b' } else { 'a' });
    let token_headers: Vec<(&str, Vec<String>)> = vec![
        ("no Authorization", vec![]),
        ("empty bearer", vec!["Authorization: Bearer".to_owned()]),
        (
            "bearer and a space",
            vec!["Authorization: Bearer ".to_owned()],
        ),
        (
            "wrong token",
            vec!["Authorization: Bearer wrong-token".to_owned()],
        ),
        (
            "prefix of the token",
            vec![format!("Authorization: Bearer {prefix}")],
        ),
        (
            "token plus a character",
            vec![format!("Authorization: Bearer {TOKEN}0")],
        ),
        (
            "token twice",
            vec![format!("Authorization: Bearer {TOKEN}{TOKEN}")],
        ),
        (
            "last character changed",
            vec![format!("Authorization: Bearer {altered}")],
        ),
        (
            "token upper-cased",
            vec![format!("Authorization: Bearer {}", TOKEN.to_uppercase())],
        ),
        (
            "token without scheme",
            vec![format!("Authorization: {TOKEN}")],
        ),
        (
            "token as Basic",
            vec![format!(
                "Authorization: Basic {}",
                base64(format!("x:{TOKEN}").as_bytes())
            )],
        ),
        (
            "token in another header",
            vec![format!("X-Api-Key: {TOKEN}")],
        ),
        (
            "non-ASCII token",
            vec!["Authorization: Bearer t\u{e9}st".to_owned()],
        ),
    ];
    for (method, path) in [
        ("POST", "/refresh"),
        ("GET", "/metrics/reset"),
        ("POST", "/metrics/reset"),
    ] {
        for (label, headers) in &token_headers {
            attacks.push((
                format!("{method} {path}: {label}"),
                head(&format!("{method} {path} HTTP/1.1"), headers),
                Body::None,
            ));
        }
        for query in ["token", "access_token"] {
            attacks.push((
                format!("{method} {path}: token in ?{query}="),
                head(&format!("{method} {path}?{query}={TOKEN} HTTP/1.1"), &[]),
                Body::None,
            ));
        }
    }
    // Bodies nobody reads, with and without the token.
    let bearer = format!("Authorization: Bearer {TOKEN}");
    for (label, auth) in [("with the token", Some(&bearer)), ("without a token", None)] {
        for path in ["/refresh", "/metrics/reset"] {
            let mut headers: Vec<String> = auth.into_iter().cloned().collect();
            headers.push(format!("Content-Length: {body_size}"));
            attacks.push((
                format!("POST {path} {label}: {} MiB body", body_size >> 20),
                head(&format!("POST {path} HTTP/1.1"), &headers),
                Body::Sized(body_size),
            ));
            let mut headers: Vec<String> = auth.into_iter().cloned().collect();
            headers.push("Transfer-Encoding: chunked".to_owned());
            attacks.push((
                format!("POST {path} {label}: {} MiB chunked body", body_size >> 20),
                head(&format!("POST {path} HTTP/1.1"), &headers),
                Body::Chunked(body_size),
            ));
        }
    }
    // Oversized headers.
    let big = "A".repeat(1024 * 1024);
    attacks.push((
        "1 MiB header".to_owned(),
        head("GET /health HTTP/1.1", &[format!("X-Big: {big}")]),
        Body::None,
    ));
    attacks.push((
        "1 MiB Authorization on /refresh".to_owned(),
        head(
            "POST /refresh HTTP/1.1",
            &[format!("Authorization: Bearer {big}")],
        ),
        Body::None,
    ));
    attacks.push((
        "10000 headers".to_owned(),
        head(
            "GET /health HTTP/1.1",
            &(0..10_000)
                .map(|i| format!("X-H{i}: v"))
                .collect::<Vec<_>>(),
        ),
        Body::None,
    ));
    // Malformed request lines and framing.
    let mut noise = vec![0_u8; 4096];
    StdRng::seed_from_u64(10).fill_bytes(&mut noise);
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("method only", b"GET\r\n\r\n".to_vec()),
        ("HTTP/9.9", b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        ("garbage line", b"GARBAGE\r\n\r\n".to_vec()),
        ("TLS hello on plain HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec()),
        ("NUL in the path", b"GET /health\x00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("no method", b" / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("random bytes", noise.clone()),
        ("negative length", b"POST /refresh HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec()),
        (
            "two lengths (smuggling)",
            b"POST /refresh HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
        ),
        (
            "chunked and a length (smuggling)",
            format!("POST /refresh HTTP/1.1\r\nHost: x\r\n{bearer}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /metrics/reset HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        ("header without a colon", b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec()),
        ("bare LF line endings", b"GET /nowhere HTTP/1.1\nHost: x\n\n".to_vec()),
    ];
    for (label, bytes) in raw {
        attacks.push((format!("malformed: {label}"), bytes, Body::None));
    }
    // Paths and methods.
    for path in [
        "/domain/%zz".to_owned(),
        "/domain/%ff%fe%00".to_owned(),
        "/domain/..%2f..%2fetc%2fpasswd".to_owned(),
        format!("/domain/{}", "a".repeat(100_000)),
        format!("/{}", "a/".repeat(50_000)),
        format!("/domain/{}.test", "%41".repeat(30_000)),
    ] {
        let label = format!(
            "GET {}… ({} bytes)",
            &path[..path.len().min(24)],
            path.len()
        );
        attacks.push((
            label,
            head(&format!("GET {path} HTTP/1.1"), &[]),
            Body::None,
        ));
    }
    for line in [
        "FOO /health HTTP/1.1",
        "BREW /refresh HTTP/1.1",
        "TRACE /status HTTP/1.1",
        "DELETE /domains HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "CONNECT 169.254.169.254:80 HTTP/1.1",
        "PATCH /metrics/reset HTTP/1.1",
    ] {
        attacks.push((
            line.to_owned(),
            head(line, std::slice::from_ref(&bearer)),
            Body::None,
        ));
    }
    let long_method = format!("{} /health HTTP/1.1", "X".repeat(10_000));
    attacks.push((
        "10 KB method".to_owned(),
        head(&long_method, &[]),
        Body::None,
    ));

    let mut results: Vec<(String, Answer)> = Vec::new();
    for (label, bytes, body) in attacks {
        let answer = attack(&addr, bytes, body, patience).await;
        results.push((label, answer));
    }
    // Anything but a refusal (4xx) or a hang-up is a failure; so is a
    // server that goes silent.
    let accepted: Vec<String> = results
        .iter()
        .filter(|(_, a)| !matches!(a, Answer::Status(400..=499) | Answer::Closed))
        .map(|(label, a)| format!("{label}: {a:?}"))
        .collect();
    let refused_4xx = results
        .iter()
        .filter(|(_, a)| matches!(a, Answer::Status(400..=499)))
        .count();
    let closed = results.iter().filter(|(_, a)| *a == Answer::Closed).count();

    // Slowloris: partial requests dripping a byte a second.
    let slow_count = by_scale(50, 300);
    // Long enough for the header timeout, with room to spare on a busy machine.
    let hold = domain_monitor::web::HEADER_READ_TIMEOUT
        + by_scale(Duration::from_secs(8), Duration::from_secs(30));
    let modes = [Slow::Drip, Slow::Silent, Slow::IdleAfterRequest];
    let slow: Vec<_> = (0..slow_count)
        .map(|i| tokio::spawn(slow_client(addr.clone(), modes[i % modes.len()], hold)))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let health_during = http
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    let mut slow_closed = 0;
    for task in slow {
        if task.await.unwrap_or(false) {
            slow_closed += 1;
        }
    }

    // Afterwards: alive, nothing changed, nothing reset, nothing synced.
    let health_after = http
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    let ready_after = http
        .get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    let resources_after = names(&api).await;
    let resources_lost = resources_before
        .iter()
        .filter(|n| !resources_after.contains(n))
        .count() as u64;
    let syncs_triggered = world.api.hits("/domains") - syncs_before;
    let checks_after = status_calls(&http, &base).await;
    let metrics_reset = checks_after < checks_before;
    let running = operator.is_running();

    // A clean stop is not held up by clients that never finish a request.
    let idle: Vec<TcpStream> =
        futures::future::join_all((0..10).map(|_| TcpStream::connect(addr.clone())))
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
    let mut partial = Vec::new();
    for mut stream in idle {
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: op").await;
        partial.push(stream);
    }
    let stopping = Instant::now();
    operator.terminate();
    let exit = operator.wait_exit(Duration::from_secs(30)).await;
    let stop_seconds = stopping.elapsed().as_secs_f64();
    drop(partial);
    // Broken client connections are the clients' problem: at error level
    // each would page someone through Sentry.
    let client_errors_logged = operator
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["level"] == "ERROR")
        .count();

    let mut figures = Figures {
        resources_lost,
        ..Figures::default()
    };
    figures.note("requests", json!(results.len()));
    figures.note("refused_4xx", json!(refused_4xx));
    figures.note("closed", json!(closed));
    figures.note("accepted", json!(accepted));
    figures.note(
        "answers",
        json!(
            results
                .iter()
                .map(|(l, a)| (l.clone(), format!("{a:?}")))
                .collect::<BTreeMap<_, _>>()
        ),
    );
    figures.note("slowloris_connections", json!(slow_count));
    figures.note("slowloris_closed_by_server", json!(slow_closed));
    figures.note("error_logs_during_attacks", json!(client_errors_logged));
    figures.note("health_during_slowloris", json!(health_during));
    figures.note("health_after", json!(health_after));
    figures.note("ready_after", json!(ready_after));
    figures.note("syncs_triggered", json!(syncs_triggered));
    figures.note("metrics_reset", json!(metrics_reset));
    figures.note("exit_code_on_sigterm", json!(exit));
    figures.note("stop_seconds_with_partial_requests", json!(stop_seconds));
    let passed = accepted.is_empty()
        && slow_closed == slow_count
        && client_errors_logged == 0
        && health_during
        && health_after
        && ready_after
        && resources_lost == 0
        && syncs_triggered == 0
        && !metrics_reset
        && running
        && exit == Some(0);
    record(
        "http_surface_hardening",
        "wrong/prefix/longer/misplaced tokens on mutating endpoints, 10 MiB bodies (sized and chunked), 1 MiB headers, 10000 headers, malformed request lines and smuggling, bad percent-encoding, 100 KB paths, unknown methods, slowloris clients, SIGTERM with partial requests open",
        &figures,
        passed,
    );

    assert!(accepted.is_empty(), "not refused:\n{}", accepted.join("\n"));
    assert_eq!(
        slow_closed, slow_count,
        "slow clients still connected after {hold:?}"
    );
    assert!(health_during, "/health did not answer during the slowloris");
    assert_eq!(
        client_errors_logged,
        0,
        "hostile clients produced error logs:\n{}",
        operator.log()
    );
    assert!(
        health_after && ready_after,
        "the operator is not healthy afterwards:\n{}",
        operator.log()
    );
    assert_eq!(resources_lost, 0);
    assert_eq!(syncs_triggered, 0, "an attack ran the domain list sync");
    assert!(
        !metrics_reset,
        "an attack reset the metrics ({checks_before} → {checks_after})"
    );
    assert!(running, "the operator died:\n{}", operator.log());
    assert_eq!(
        exit,
        Some(0),
        "SIGTERM with partial requests open did not stop the operator cleanly"
    );
}
