//! Hostile input from outside: every parser of outside data meets inputs
//! drawn by proptest strategies (mutated real answers: bit flips, splices,
//! truncation, deep nesting, huge numbers, invalid UTF-8, 1 MiB lines) and
//! never panics, never breaks its invariants and never reads garbage as
//! "available"; the WHOIS and RDAP checkers do the same end to end against
//! real servers on loopback, and give up on servers that never finish.
//!
//! Each test records its figures with [`support::chaos::record`] before it
//! asserts; `CHAOS_SCALE=full` (`just chaos`) runs more cases. `FUZZ_SEED`
//! replays a run; offending inputs are saved under
//! `chaos-results/fuzz-inputs/` in Cargo's target directory.

mod support;

use std::{
    cell::Cell,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use domain_monitor::{
    check::{
        CheckOutcome, CheckReport, Checker,
        rdap::{
            RdapChecker,
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
    config::HostPort,
    domain_name::DomainName,
    sync::plan::parse_domain_list,
};
use jiff::Timestamp;
use proptest::{
    collection::vec,
    prelude::*,
    sample::{Index, select},
    strategy::ValueTree,
    test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner},
};
use serde_json::{Value, json};
use support::{
    chaos::{Figures, by_scale, record},
    http_stub::{HttpStub, Reply},
    security::{RDAP_JSON, domain, guarded_rdap_checker},
    whois_server::{Reply as WhoisReply, WhoisServer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

// === the parsers and their seeds ===

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

/// Wording registries are known to use for "not found" (lower case). A WHOIS answer
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

/// Throttle banners registries are known to send (lower case): an answer showing one
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

/// Largest input the strategies build (a very long line fits).
const MAX_INPUT: usize = 2 * 1024 * 1024;

/// Bytes that mean something to one parser or another.
const SPECIAL_BYTES: &[u8] = b"\0\xff\x80\xc0\n\r:[]{}\"\\. \t%";

// === the strategies ===

/// One edit of an input.
#[derive(Debug, Clone)]
enum Edit {
    /// Flips bit `bit` of one byte.
    FlipBit { at: Index, bit: u8 },
    /// Overwrites one byte with a [`SPECIAL_BYTES`] one.
    SetByte { at: Index, byte: u8 },
    /// Inserts 1–16 random bytes.
    InsertRandom { at: Index, bytes: Vec<u8> },
    /// Removes up to 64 bytes.
    Delete { at: Index, len: usize },
    /// Copies up to 256 bytes elsewhere.
    Duplicate { from: Index, len: usize, to: Index },
    /// Cuts the input short.
    Truncate { at: Index },
    /// Splices in a [`TOKENS`] entry.
    InsertToken { at: Index, token: &'static str },
    /// Splices in an invalid UTF-8 sequence.
    InsertBadUtf8 { at: Index, bytes: &'static [u8] },
    /// CRLF to LF, LF to CR, or `": "` to a folded line.
    LineEndings(u8),
    /// A line of `len` bytes of `fill` without a line break.
    LongLine { at: Index, len: usize, fill: u8 },
    /// Registries shout, parsers must not care.
    Case { upper: bool },
}

impl Edit {
    fn apply(&self, data: &mut Vec<u8>) {
        // A position between bytes (0..=len), or one byte (0..len).
        let gap = |at: &Index, data: &Vec<u8>| at.index(data.len() + 1);
        match self {
            Self::FlipBit { at, bit } if !data.is_empty() => {
                let i = at.index(data.len());
                data[i] ^= 1 << bit;
            }
            Self::SetByte { at, byte } if !data.is_empty() => {
                let i = at.index(data.len());
                data[i] = *byte;
            }
            Self::InsertRandom { at, bytes } => {
                let i = gap(at, data);
                data.splice(i..i, bytes.iter().copied());
            }
            Self::Delete { at, len } if !data.is_empty() => {
                let start = at.index(data.len());
                let end = (start + len).min(data.len());
                data.drain(start..end);
            }
            Self::Duplicate { from, len, to } if !data.is_empty() => {
                let start = from.index(data.len());
                let end = (start + len).min(data.len());
                let copy = data[start..end].to_vec();
                let i = gap(to, data);
                data.splice(i..i, copy);
            }
            Self::Truncate { at } => {
                let i = gap(at, data);
                data.truncate(i);
            }
            Self::InsertToken { at, token } => {
                let i = gap(at, data);
                data.splice(i..i, token.bytes());
            }
            Self::InsertBadUtf8 { at, bytes } => {
                let i = gap(at, data);
                data.splice(i..i, bytes.iter().copied());
            }
            Self::LineEndings(how) => {
                let text = String::from_utf8_lossy(data);
                let replaced = match how {
                    0 => text.replace("\r\n", "\n"),
                    1 => text.replace('\n', "\r"),
                    _ => text.replace(": ", ":\n\t"),
                };
                *data = replaced.into_bytes();
            }
            Self::LongLine { at, len, fill } => {
                let i = gap(at, data);
                data.splice(i..i, std::iter::repeat_n(*fill, *len));
            }
            Self::Case { upper: true } => data.make_ascii_uppercase(),
            Self::Case { upper: false } => data.make_ascii_lowercase(),
            // Edits of a byte that an empty input does not have.
            _ => {}
        }
        data.truncate(MAX_INPUT);
    }
}

/// Any [`Edit`]; the long line is rare (one in 240), a token splice twice as
/// likely as the others.
fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        20 => (any::<Index>(), 0_u8..8).prop_map(|(at, bit)| Edit::FlipBit { at, bit }),
        20 => (any::<Index>(), select(SPECIAL_BYTES)).prop_map(|(at, byte)| Edit::SetByte { at, byte }),
        20 => (any::<Index>(), vec(any::<u8>(), 1..17))
            .prop_map(|(at, bytes)| Edit::InsertRandom { at, bytes }),
        20 => (any::<Index>(), 0_usize..=64).prop_map(|(at, len)| Edit::Delete { at, len }),
        20 => (any::<Index>(), 0_usize..=256, any::<Index>())
            .prop_map(|(from, len, to)| Edit::Duplicate { from, len, to }),
        20 => any::<Index>().prop_map(|at| Edit::Truncate { at }),
        40 => (any::<Index>(), select(TOKENS)).prop_map(|(at, token)| Edit::InsertToken { at, token }),
        20 => (any::<Index>(), select(BAD_UTF8)).prop_map(|(at, bytes)| Edit::InsertBadUtf8 { at, bytes }),
        20 => (0_u8..3).prop_map(Edit::LineEndings),
        1 => (
            any::<Index>(),
            // Up to 1 MiB without a line break.
            prop_oneof![9 => 1024_usize..64 * 1024, 1 => Just(1024 * 1024)],
            select(&b"A :.0"[..]),
        )
            .prop_map(|(at, len, fill)| Edit::LongLine { at, len, fill }),
        39 => any::<bool>().prop_map(|upper| Edit::Case { upper }),
    ]
}

/// A raw JSON text that is hostile to parsers: deep nesting, huge numbers,
/// lone surrogates, huge strings, impossible dates.
fn hostile_json() -> impl Strategy<Value = String> {
    let depth = 50_usize..6000;
    prop_oneof![
        depth
            .clone()
            .prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        depth
            .clone()
            .prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))),
        depth.prop_map(|d| "[".repeat(d)),
        select(&TOKENS[..5]).prop_map(str::to_owned),
        (1000_usize..200_000).prop_map(|n| format!("\"{}\"", "A".repeat(n))),
        Just("\"9999999-99-99T99:99:99Z\"".to_owned()),
        (1000_usize..50_000).prop_map(|n| format!("[{}]", vec!["1"; n].join(","))),
        Just("\"\\ud800\"".to_owned()),
        (100_usize..5000).prop_map(|n| format!(
            "{{{}}}",
            (0..n)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        )),
        select(&["null", "true", "{}", "[]", "\"\"", "0"][..]).prop_map(str::to_owned),
    ]
}

/// `seed` with the node that `path` leads to (each step picks a child while
/// there is one) replaced by `hostile`; `None` when `seed` is no JSON.
fn json_mutation(seed: &[u8], path: &[Index], hostile: &str) -> Option<Vec<u8>> {
    const HOLE: &str = "\u{1}hole\u{1}";
    let mut value: Value = serde_json::from_slice(seed).ok()?;
    let mut node = &mut value;
    for step in path {
        let children = match &*node {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        };
        if children == 0 {
            break;
        }
        let pick = step.index(children);
        node = match node {
            Value::Array(items) => &mut items[pick],
            Value::Object(map) => map.values_mut().nth(pick)?,
            _ => return None,
        };
    }
    *node = Value::String(HOLE.to_owned());
    let text = serde_json::to_string(&value).ok()?;
    let hole = serde_json::to_string(HOLE).ok()?;
    Some(text.replacen(&hole, hostile, 1).into_bytes())
}

/// Hostile inputs derived from `seeds`: one to four [`Edit`]s of a seed
/// (for JSON, after a node was replaced by [`hostile_json`] two times in
/// five), or, three times in a hundred, up to 4 KiB of random bytes.
fn hostile_input(seeds: Vec<Vec<u8>>, json: bool) -> BoxedStrategy<Vec<u8>> {
    let node = if json {
        proptest::option::weighted(0.4, (vec(any::<Index>(), 0..8), hostile_json())).boxed()
    } else {
        Just(None).boxed()
    };
    let mutated = (select(seeds), node, vec(edit(), 1..=4)).prop_map(|(seed, node, edits)| {
        let mut data = node
            .and_then(|(path, hostile)| json_mutation(&seed, &path, &hostile))
            .unwrap_or(seed);
        for edit in &edits {
            edit.apply(&mut data);
        }
        data
    });
    prop_oneof![97 => mutated, 3 => vec(any::<u8>(), 0..4096)].boxed()
}

/// `FUZZ_SEED`, else a fixed seed: CI runs the same cases every time.
fn fuzz_seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5ec0_0009)
}

/// A runner of `cases` cases from `seed`, keeping no regression files (the
/// offending input is saved by [`save_input`] and named in the failure).
fn runner(seed: u64, cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    };
    TestRunner::new(config)
}

/// Draws one value of `strategy` (for the checkers, whose cases are async).
fn draw<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy
        .new_tree(runner)
        .expect("the strategies never reject")
        .current()
}

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

// === what an input may not do ===

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

fn save_input(kind: &str, target: &str, n: u64, input: &[u8]) -> String {
    let dir = support::target_dir().join("chaos-results/fuzz-inputs");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{target}-{n}.bin"));
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}

/// Runs `target`'s parsers on [`hostile_input`]s from its corpus, then
/// records and asserts: no panic, no broken invariant, no false "available",
/// and at least 1000 cases ran.
///
/// What "false available" means here, honestly: the WHOIS classifier may
/// only say "not found" when the answer shows wording registries are known
/// to use for it ([`NOT_FOUND_WORDING`]), and never next to a known throttle
/// banner ([`THROTTLE_WORDING`]). Within those rules a mutated not-found
/// answer may still legitimately read as not found.
fn fuzz_parsers_of(target: Target) {
    let seed = fuzz_seed();
    let cases = by_scale(3_000, 200_000);
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().expect("timestamp");
    let strategy = (
        hostile_input(corpus(target), target.is_json()),
        vec(select(TLDS), 3),
    );
    let (ran, bytes) = (Cell::new(0_u64), Cell::new(0_u64));
    let result = runner(seed, cases).run(&strategy, |(input, tlds)| {
        ran.set(ran.get() + 1);
        bytes.set(bytes.get() + input.len() as u64);
        let finding = exercise(target, &input, &tlds, now);
        if let Some(why) = finding.false_available {
            return Err(TestCaseError::fail(format!(
                "garbage read as available: {why}"
            )));
        }
        if let Some(why) = finding.violation {
            return Err(TestCaseError::fail(format!("invariant broken: {why}")));
        }
        Ok(())
    });
    let problem = match &result {
        Ok(()) => None,
        Err(TestError::Fail(why, (input, tlds))) => {
            let path = save_input("minimal", target.name(), seed, input);
            Some(format!("{why} (TLDs {tlds:?}; input saved as {path})"))
        }
        Err(TestError::Abort(why)) => Some(format!("aborted: {why}")),
    };

    let mut figures = Figures {
        false_available: u64::from(
            problem
                .as_deref()
                .is_some_and(|p| p.contains("read as available")),
        ),
        ..Figures::default()
    };
    figures.note("seed", json!(seed));
    figures.note("parser_cases", json!(ran.get()));
    figures.note("parser_input_bytes", json!(bytes.get()));
    figures.note("problem", json!(problem));
    let passed = problem.is_none() && ran.get() >= 1000;
    record(
        &format!("fuzz_parsers_{}", target.name()),
        "proptest-drawn inputs from real answers (bit flips, splices, truncation, deep nesting, huge numbers, invalid UTF-8, 1 MiB lines)",
        &figures,
        passed,
    );

    // A panic shows as "Test failed: <panic message>"; the minimal input
    // (after shrinking) is saved and FUZZ_SEED replays the run.
    assert!(
        problem.is_none(),
        "{} parsers, seed {seed}: {}",
        target.name(),
        problem.unwrap_or_default()
    );
    assert!(ran.get() >= 1000, "only {} cases ran", ran.get());
}

/// RDAP domain objects never panic the parser, and a parsed `ldhName` is
/// normalised (lower case, no trailing dot).
#[test]
fn hostile_rdap_answers() {
    fuzz_parsers_of(Target::Rdap);
}

/// The IANA bootstrap file and HTTP caching headers never panic their
/// parsers or the look-ups in a parsed table.
#[test]
fn hostile_rdap_bootstrap_and_caching_headers() {
    fuzz_parsers_of(Target::Bootstrap);
}

/// A domain list never panics its parser, and every name it yields parses
/// back to itself.
#[test]
fn hostile_domain_lists() {
    fuzz_parsers_of(Target::DomainList);
}

/// WHOIS answers never panic a parser, `decode` lets no control character
/// through, and `classify` says "not found" only on documented wording and
/// never beside a throttle banner.
#[test]
fn hostile_whois_answers() {
    fuzz_parsers_of(Target::Whois);
}

/// A domain name that parses is a stable A-label: ASCII, lower case, at
/// most 253 characters, and parsing it again gives the same name.
#[test]
fn hostile_domain_names() {
    fuzz_parsers_of(Target::DomainName);
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

/// A WHOIS checker asking `server` for `tlds`, referrals going nowhere.
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
        rate_limit: support::rate_limit(10_000),
    })
}

/// An RDAP checker for `.test` at `base` whose redirects (none here) resolve
/// through the discard address.
fn rdap_checker(base: &str, timeout: Duration) -> RdapChecker {
    guarded_rdap_checker(
        base,
        timeout,
        vec![SocketAddr::from(([127, 0, 0, 1], 53))],
        false,
    )
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

/// The WHOIS and RDAP checkers against servers that stream endlessly or
/// trickle: each gives up within its size or time cap, with an error, and
/// hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkers_give_up_on_servers_that_never_finish() {
    let cap_timeout = Duration::from_secs(2);
    let caps = cap_cases(cap_timeout).await;
    let caps_failed: Vec<&str> = caps
        .iter()
        .filter(|c| !c.holds(cap_timeout))
        .map(|c| c.name)
        .collect();
    let mut figures = Figures::default();
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
    record(
        "checker_caps",
        "WHOIS and RDAP servers that stream endlessly (lines, chunks, a declared terabyte) or trickle slower than the timeout",
        &figures,
        caps_failed.is_empty(),
    );
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

/// End to end: the WHOIS checker (against a real server on loopback) and the
/// RDAP checker (against an HTTP stub) never say `Available` on garbage. The
/// WHOIS checker may only say it where the classifier may (see
/// [`fuzz_parsers_of`]) and never beside an intact registration line; the
/// RDAP checker only on a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkers_never_read_garbage_as_available() {
    let seed = fuzz_seed() ^ 0x0bad_cafe;
    let cases = by_scale(300, 5_000);
    let timeout = Duration::from_secs(3);
    let mut false_available = Vec::new();
    let mut draws = runner(seed, 1);

    let whois = WhoisServer::start(Vec::<(String, WhoisReply)>::new()).await;
    let tlds: &'static [&str] = &["test", "com", "org", "de"];
    let server = whois.host_port();
    let mut checker = whois_checker(server.clone(), tlds, timeout);
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
    let whois_case = (hostile_input(seeds, false), select(tlds));
    for _ in 0..cases {
        let (input, tld) = draw(&mut draws, &whois_case);
        whois.set_default(WhoisReply::Answer(input.clone()));
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
                    Target::Whois.name(),
                    false_available.len() as u64,
                    &input,
                );
                false_available.push(format!("whois .{tld}: Available on {why} ({path})"));
            }
        }
        if report.outcome == CheckOutcome::RateLimited {
            // The checker now backs this server off; start afresh.
            checker = whois_checker(server.clone(), tlds, timeout);
        }
    }

    let stub = HttpStub::start().await;
    let base = stub.url("/rdap/");
    let mut checker = rdap_checker(&base, timeout);
    let rdap_case = (
        hostile_input(corpus(Target::Rdap), true),
        select(&[200_u16, 200, 200, 200, 404, 500, 429, 400, 302, 410][..]),
    );
    for _ in 0..cases {
        let (body, status) = draw(&mut draws, &rdap_case);
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

    let mut figures = Figures {
        false_available: false_available.len() as u64,
        ..Figures::default()
    };
    figures.note("seed", json!(seed));
    figures.note("checker_garbage_cases", json!(2 * cases));
    figures.note("false_available_cases", json!(false_available));
    record(
        "checker_garbage",
        "proptest-drawn WHOIS answers from a real server and RDAP answers (any status) from an HTTP stub",
        &figures,
        false_available.is_empty(),
    );
    assert!(
        false_available.is_empty(),
        "garbage read as available:\n{}",
        false_available
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
