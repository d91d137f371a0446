//! Pure parsers of WHOIS answers: bytes to text, records to
//! [`RegistrationFacts`], referrals, dates and retry times.
//!
//! WHOIS answers are free-form text in a few families of layouts:
//! `Key: value` lines (ICANN gTLDs, DENIC, SIDN), sections whose values sit on
//! the following, deeper-indented lines (Nominet, EURid, Registro .it), and
//! JPRS's `[Key]  value`. [`fields`] flattens all of them into (key, value)
//! pairs; the extractors then look keys up in alias lists. Nothing here
//! panics on any input.

use std::time::Duration;

use jiff::{Timestamp, civil, fmt::strtime, tz::TimeZone};

use crate::{
    check::{RegistrationFacts, epp_statuses},
    config::HostPort,
};

/// Decodes an answer: UTF-8 when valid, otherwise Latin-1, which maps every
/// byte to a character (older ccTLD servers answer in ISO-8859-1). NUL and
/// other control bytes except tab and line breaks become spaces so that junk
/// cannot smuggle anything into reports or logs.
pub fn decode(bytes: &[u8]) -> String {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    text.chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// What a registration record says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WhoisRecord {
    /// The facts found.
    pub facts: RegistrationFacts,
    /// The registrar's own WHOIS server (thin registries name it).
    pub registrar_server: Option<HostPort>,
}

/// Longest key we consider: longer "keys" are prose that happens to hold a colon.
const MAX_KEY_LEN: usize = 64;

const REGISTRAR_KEYS: &[&str] = &[
    "registrar",
    "sponsoring registrar",
    "registrar name",
    "registrar organization",
    "registration service provider",
    "authorized agency",
    "current registar",
    "current registrar",
    "registrar handle",
    "registered by",
];
const CREATED_KEYS: &[&str] = &[
    "creation date",
    "created",
    "created on",
    "created date",
    "registered",
    "registered on",
    "registered date",
    "registration date",
    "registration time",
    "domain registration date",
    "domain dateregistered",
    "domain created",
    "record created on",
    "record created",
    "first registration date",
    "domain record activated",
    "fecha de registro",
    "fecha de creacion",
    "fecha de creación",
    "domain name commencement date",
];
const EXPIRES_KEYS: &[&str] = &[
    "registry expiry date",
    "registry expiration date",
    "expiry date",
    "expiration date",
    "expiration time",
    "expire date",
    "expire",
    "expires",
    "expires on",
    "expiry",
    "paid till",
    "renewal date",
    "valid until",
    "validity",
    "record expires on",
    "expires at",
    "record expired",
    "domain expires",
    "fecha de vencimiento",
    "fecha de expiracion",
    "fecha de expiración",
    "valid date",
    "domain currently expires",
    "expired",
    "registrar registration expiration date",
    "domain expiration date",
    "domain datebilleduntil",
];
const UPDATED_KEYS: &[&str] = &[
    "updated date",
    "updated",
    "last updated",
    "last update",
    "last modified",
    "last updated date",
    "changed",
    "modified",
    "modification date",
    "domain datelastmodified",
    "record last updated on",
    "domain record last updated",
];
/// When the registry will delete or release the name.
const DELETION_KEYS: &[&str] = &[
    "deletion date",
    "delete date",
    "domain deletion date",
    "scheduled deletion date",
    "release date",
    "date out of quarantine",
    "free date",
];
const STATUS_KEYS: &[&str] = &["domain status", "status", "state"];
const NAMESERVER_KEYS: &[&str] = &[
    "name server",
    "name servers",
    "nameserver",
    "nameservers",
    "nserver",
    "domain nameservers",
    "domain servers in listed order",
    "domain name servers",
    "name servers information",
    "host name",
    "servers",
    "domain servers",
    "primary ns",
    "secondary ns",
    "servidores de nombre",
    "primary server",
    "secondary server",
];
const REGISTRAR_SERVER_KEYS: &[&str] = &["registrar whois server", "whois server"];
/// Sub-keys inside a registrar section that carry its name (EURid, .it).
const NAME_SUBKEYS: &[&str] = &["name", "organization", "organisation"];
/// Lines that carry a fact without a colon (TWNIC, MONIC): `Record expires on 2027-01-01`.
const KEY_PREFIXES: &[&str] = &[
    "record expires on",
    "record created on",
    "record last updated on",
    "domain record last updated",
];

/// A registration fact a WHOIS field can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The sponsoring registrar.
    Registrar,
    /// Registration date.
    Created,
    /// Expiry date.
    Expires,
    /// Last change.
    Updated,
    /// Scheduled deletion or release.
    Deletion,
    /// A registry status.
    Status,
    /// A delegated name server.
    Nameserver,
}

/// What one registry's records add to the generic reading: field names of
/// its own and the date formats it is documented to use. Ambiguous formats
/// (`%d/%m/%Y` against `%m/%d/%Y`) are only ever read through a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// (normalised key, fact), e.g. `("available", Field::Deletion)` for .fi.
    pub fields: &'static [(&'static str, Field)],
    /// `strtime` formats of dates, tried after the unambiguous generic ones.
    pub date_formats: &'static [&'static str],
    /// A key without a value takes the following lines as its values even
    /// when they are not indented (SWITCH's `Registrar:` / next line, NASK's
    /// `REGISTRAR:`).
    pub values_below: bool,
    /// Keys end at a run of spaces instead of a colon (SK-NIC's older
    /// `Valid-date          2027-01-01`).
    pub space_separated: bool,
}

impl Layout {
    /// No registry knowledge: the generic keys and unambiguous dates only.
    pub const GENERIC: Self = Self {
        fields: &[],
        date_formats: &[],
        values_below: false,
        space_separated: false,
    };

    fn keys(&self, generic: &'static [&'static str], field: Field) -> Vec<&str> {
        let own = self
            .fields
            .iter()
            .filter(move |(_, f)| *f == field)
            .map(|(key, _)| *key);
        generic.iter().copied().chain(own).collect()
    }
}

/// Parses a registration record with the generic keys and unambiguous dates.
pub fn parse_record(answer: &str) -> WhoisRecord {
    parse_record_with(answer, &Layout::GENERIC)
}

/// Parses a registration record of a registry with `layout`. Fields the
/// answer lacks stay empty.
pub fn parse_record_with(answer: &str, layout: &Layout) -> WhoisRecord {
    let fields = fields(answer, layout);
    let first = |keys: &[&str]| {
        fields
            .iter()
            .find(|(key, value)| keys.contains(&key.as_str()) && !value.is_empty())
            .map(|(_, value)| value.as_str())
    };
    let first_date = |generic: &'static [&'static str], field: Field| {
        let keys = layout.keys(generic, field);
        fields
            .iter()
            .filter(|(key, _)| keys.contains(&key.as_str()))
            .find_map(|(_, value)| parse_date_with(value, layout.date_formats))
    };

    let registrar_keys = layout.keys(REGISTRAR_KEYS, Field::Registrar);
    let registrar = fields
        .iter()
        .filter(|(key, _)| registrar_keys.contains(&key.as_str()))
        .find_map(|(_, value)| registrar_name(value));

    let status_keys = layout.keys(STATUS_KEYS, Field::Status);
    let mut statuses: Vec<String> = Vec::new();
    for (_, value) in fields
        .iter()
        .filter(|(k, _)| status_keys.contains(&k.as_str()))
    {
        for code in epp_statuses(value) {
            if !statuses.contains(&code) {
                statuses.push(code);
            }
        }
    }
    let ns_keys = layout.keys(NAMESERVER_KEYS, Field::Nameserver);
    let mut nameservers: Vec<String> = Vec::new();
    for (key, value) in &fields {
        // Numbered keys: `ns_name_01`, `Name Server 1`.
        let is_ns = ns_keys.contains(&key.as_str())
            || key.starts_with("ns name")
            || key
                .strip_prefix("name server ")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        if let Some(host) = is_ns.then(|| nameserver(value)).flatten()
            && !nameservers.contains(&host)
        {
            nameservers.push(host);
        }
    }

    WhoisRecord {
        facts: RegistrationFacts {
            registrar,
            created: first_date(CREATED_KEYS, Field::Created),
            expires: first_date(EXPIRES_KEYS, Field::Expires),
            last_changed: first_date(UPDATED_KEYS, Field::Updated),
            deletion: first_date(DELETION_KEYS, Field::Deletion),
            statuses,
            nameservers,
        },
        registrar_server: first(REGISTRAR_SERVER_KEYS).and_then(parse_server),
    }
}

/// The WHOIS server an IANA-style referral answer names (`refer:`, else `whois:`).
pub fn parse_referral(answer: &str) -> Option<HostPort> {
    let fields = fields(answer, &Layout::GENERIC);
    ["refer", "whois"].iter().find_map(|wanted| {
        fields
            .iter()
            .filter(|(key, _)| key == wanted)
            .find_map(|(_, value)| parse_server(value))
    })
}

/// Parses a server as WHOIS answers name it: `whois.example.net`,
/// `whois.example.net:4343`, `[2001:db8::1]:43`, or with a `whois://`,
/// `http://` or `https://` scheme and a path some registries add. Port 43
/// when none is given.
pub fn parse_server(raw: &str) -> Option<HostPort> {
    let raw = raw.trim();
    let raw = ["whois://", "rwhois://", "http://", "https://"]
        .iter()
        .find_map(|scheme| {
            raw.get(..scheme.len())
                .filter(|head| head.eq_ignore_ascii_case(scheme))
                .map(|_| &raw[scheme.len()..])
        })
        .unwrap_or(raw);
    let authority = raw.split('/').next()?.trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && (host.contains(':')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if !host_ok {
        return None;
    }
    let port = match port {
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0)?,
        None => 43,
    };
    Some(HostPort {
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        port,
    })
}

/// Parses a WHOIS date in a format that cannot be misread: RFC 3339, ISO
/// dates with or without a time, `01-Mar-2027`, `2027.03.01`, `2027/03/01`,
/// `2027. 03. 01.`, with trailing zone names or notes (`(JST)`, `UTC`)
/// ignored. Times without an offset are taken as UTC. Day-first and
/// month-first dates (`01.03.2027`, `01/03/2027`) need the registry's
/// format: see [`parse_date_with`].
pub fn parse_date(raw: &str) -> Option<Timestamp> {
    parse_date_with(raw, &[])
}

/// [`parse_date`], then the registry's own `formats` (`strtime` syntax).
pub fn parse_date_with(raw: &str, formats: &[&str]) -> Option<Timestamp> {
    let cleaned = raw.split('(').next().unwrap_or_default().trim();
    if let Some(date) = parse_dotted_year_first(cleaned) {
        return Some(date);
    }
    // `28th April 2027` (USP, Island Networks): the day without its suffix.
    let tokens: Vec<&str> = cleaned
        .split_whitespace()
        .map(|token| {
            let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let ordinal = matches!(&token[digits.len()..], "st" | "nd" | "rd" | "th");
            if ordinal && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                digits
            } else {
                token
            }
        })
        .collect();
    let cleaned = tokens.join(" ");
    let cleaned = cleaned.as_str();
    let mut candidates = vec![cleaned.to_owned()];
    if tokens.len() > 2 {
        candidates.push(tokens[..2].join(" "));
    }
    if tokens.len() > 1 {
        candidates.push(tokens[0].to_owned());
    }
    candidates.iter().find_map(|c| parse_date_exact(c, formats))
}

/// KISA's `2027. 03. 01.`: year first, so unambiguous.
fn parse_dotted_year_first(raw: &str) -> Option<Timestamp> {
    let parts: Vec<&str> = raw.split('.').map(str::trim).collect();
    let [year, month, day, ""] = parts.as_slice() else {
        return None;
    };
    if year.len() != 4 || !raw.contains(". ") {
        return None;
    }
    let date = civil::Date::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?).ok()?;
    date.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

fn parse_date_exact(raw: &str, formats: &[&str]) -> Option<Timestamp> {
    let raw = raw.trim_end_matches('.');
    if raw.is_empty() || !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts);
    }
    let utc = |dt: civil::DateTime| dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
    if let Ok(dt) = raw.parse::<civil::DateTime>() {
        return utc(dt);
    }
    if let Ok(date) = raw.parse::<civil::Date>() {
        return utc(date.to_datetime(civil::Time::midnight()));
    }
    // Year first or month by name: no registry writes year-day-month.
    const DATETIME_FORMATS: &[&str] = &[
        "%Y/%m/%d %H:%M:%S",
        "%Y.%m.%d %H:%M:%S",
        "%d-%b-%Y %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%a %b %d %H:%M:%S GMT %Y",
        "%a %b %d %H:%M:%S %Y",
    ];
    const DATE_FORMATS: &[&str] = &[
        "%d-%b-%Y",
        "%d-%B-%Y",
        "%Y-%b-%d",
        "%d %b %Y",
        "%d %B %Y",
        "%b %d %Y",
        "%a %b %d %Y",
        "%Y.%m.%d",
        "%Y/%m/%d",
        "%Y%m%d",
    ];
    let parse = |f: &&str| {
        let parsed = strtime::parse(f, raw).ok()?;
        parsed.to_datetime().ok().or_else(|| {
            let date = parsed.to_date().ok()?;
            Some(date.to_datetime(civil::Time::midnight()))
        })
    };
    DATETIME_FORMATS
        .iter()
        .chain(DATE_FORMATS)
        .chain(formats)
        .find_map(parse)
        .filter(|dt| PLAUSIBLE_YEARS.contains(&dt.year()))
        .and_then(utc)
}

/// Years a registration date can fall in. A two-digit year read as year 16
/// is a misreading, never a date.
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i16> = 1985..=2200;

/// The wait a throttle banner asks for: `Try again after: <time>` (resolved
/// against `now`), or `… in 23 seconds` / `after 5 minutes`.
pub fn parse_retry_after(answer: &str, now: Timestamp) -> Option<Duration> {
    const MARKERS: &[&str] = &[
        "try again after",
        "try again in",
        "retry after",
        "replenished in",
        "wait",
    ];
    answer.lines().find_map(|line| {
        let lower = line.to_ascii_lowercase();
        MARKERS.iter().find_map(|marker| {
            let at = lower.find(marker)? + marker.len();
            // `lower` keeps byte offsets: only ASCII letters changed case.
            let rest = line.get(at..)?.trim_start_matches([':', ' ', '\t']).trim();
            if let Some(until) = parse_date(rest) {
                let wait = until.duration_since(now);
                return Duration::try_from(wait).ok().filter(|d| !d.is_zero());
            }
            parse_amount(rest)
        })
    })
}

/// `23 seconds`, `5 minutes`, `1 hour`, `30s` at the start of `text`.
fn parse_amount(text: &str) -> Option<Duration> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let count: u64 = text.get(..digits_end)?.parse().ok()?;
    let unit = text[digits_end..]
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let seconds = match unit.as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        _ => return None,
    };
    Some(Duration::from_secs(count.saturating_mul(seconds)))
}

/// Flattens an answer into (normalised key, value) pairs, in order.
///
/// A section header (a key with no value, or a bare word line such as .it's
/// `Registrar`) takes the deeper-indented lines after it (with
/// `values_below`, also the lines at its own indent) as its values until
/// a blank line. Such a line that is itself `Key: value` (Nominet's
/// `Registered on: …` under `Relevant dates:`) also counts as its own pair.
fn fields(answer: &str, layout: &Layout) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section: Option<(String, usize)> = None;
    // The last header of this block: EIS (.ee) writes `Registrar:` and then
    // `name: …` at the same indent, which reads as `registrar name`.
    let mut block: Option<String> = None;
    let mut continued: Option<(String, usize)> = None;
    for line in answer.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            section = None;
            block = None;
            continued = None;
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some((key, depth)) = &section {
            if indent + usize::from(layout.values_below) > *depth {
                out.push((key.clone(), trimmed.to_owned()));
                if let Some((k, v)) = key_value(trimmed).filter(|(_, v)| !v.is_empty()) {
                    out.push((k, v.to_owned()));
                }
                continue;
            }
            section = None;
        }
        if let Some((key, value)) = prefixed(trimmed) {
            out.push((key, value));
            continue;
        }
        if layout.space_separated
            && let Some((key, value)) = trimmed.split_once("  ")
            && !key.contains(char::is_whitespace)
        {
            out.push((normalise_key(key), value.trim().to_owned()));
            continue;
        }
        if let Some((key, depth)) = &continued
            && indent > *depth
            && !trimmed.contains(':')
        {
            // A value continued on the next, deeper line (NASK's second
            // name server, KazNIC's second status).
            out.push((key.clone(), trimmed.to_owned()));
            continue;
        }
        continued = None;
        match key_value(trimmed) {
            Some((key, "")) => {
                block = Some(key.clone());
                section = Some((key, indent));
            }
            Some((key, value)) => {
                if let Some(header) = &block {
                    out.push((format!("{header} {key}"), value.to_owned()));
                }
                continued = Some((key.clone(), indent));
                out.push((key, value.to_owned()));
            }
            None if trimmed.len() <= MAX_KEY_LEN && !trimmed.contains(['.', '%', '#', '>']) => {
                let key = normalise_key(trimmed);
                block = Some(key.clone());
                section = Some((key, indent));
            }
            None => {}
        }
    }
    out
}

/// A fact written without a colon: `Record expires on 2027-01-01 (YYYY-MM-DD)`.
fn prefixed(line: &str) -> Option<(String, String)> {
    let lower = line.to_ascii_lowercase();
    KEY_PREFIXES.iter().find_map(|prefix| {
        let rest = lower.strip_prefix(prefix)?;
        rest.starts_with(' ')
            .then(|| ((*prefix).to_owned(), line[prefix.len()..].trim().to_owned()))
    })
}

/// Splits `Key: value` or JPRS's `a. [Key]   value`.
fn key_value(line: &str) -> Option<(String, &str)> {
    // JPRS prefixes some keys with a letter and a dot: `a. [Domain Name]`.
    // MYNIC writes `c [Record Created]` without the dot.
    let bracketed = match line.split_once(". [").or_else(|| line.split_once(" [")) {
        Some((prefix, rest)) if prefix.len() <= 2 => Some(rest),
        _ => line.strip_prefix('['),
    };
    if let Some(rest) = bracketed {
        let (key, value) = rest.split_once(']')?;
        return (key.len() <= MAX_KEY_LEN).then(|| (normalise_key(key), value.trim()));
    }
    let (key, value) = line.split_once(':')?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || value.starts_with("//") {
        return None;
    }
    Some((normalise_key(key), value.trim()))
}

/// Lower case, `_` and `-` as spaces, single spaces: `Registrar_Name` and
/// `registrar-name` both become `registrar name`.
fn normalise_key(key: &str) -> String {
    // Bilingual keys name the English last (`Data de registo / Creation
    // Date (dd/mm/yyyy)`); KazNIC and Traficom pad with dots (`Domain Name....:`).
    let key = key.rsplit(" / ").next().unwrap_or(key);
    // Numbered forms (the .gov.za registry): `5a.        Primary NS`.
    let key = match key.trim_start().split_once(". ") {
        Some((number, rest))
            if number.len() <= 3 && number.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => key,
    };
    let key = key.split('(').next().unwrap_or(key);
    key.trim_end_matches(['.', ' '])
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A registrar value, or a `Name:`/`Organization:` line of a registrar
/// section; other section lines (`URL:`, `Phone:`) are not names.
fn registrar_name(value: &str) -> Option<String> {
    let value = match key_value(value) {
        Some((key, inner)) if NAME_SUBKEYS.contains(&key.as_str()) => inner,
        Some(_) => return None,
        None => value,
    };
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A name server host from values such as `NS1.EXAMPLE.NET`,
/// `ns1.example.net. 192.0.2.1` or `ns1.example.net (192.0.2.1)`.
fn nameserver(value: &str) -> Option<String> {
    let host = value
        .split_whitespace()
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let plausible = host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    plausible.then_some(host)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    #[test]
    fn decodes_utf8_latin1_and_neutralises_control_bytes() {
        assert_eq!(decode("Müller GmbH".as_bytes()), "Müller GmbH");
        assert_eq!(decode(b"M\xfcller GmbH"), "Müller GmbH");
        assert_eq!(decode(b"a\0b\x1b[31mc\r\n"), "a b [31mc\r\n");
    }

    #[test]
    fn parses_an_icann_gtld_record() {
        let answer = "   Domain Name: EXAMPLE.COM\r\n\
            \x20  Registry Domain ID: 2336799_DOMAIN_COM-VRSN\r\n\
            \x20  Registrar WHOIS Server: whois.example-registrar.net\r\n\
            \x20  Updated Date: 2024-08-14T07:01:34Z\r\n\
            \x20  Creation Date: 1995-08-14T04:00:00Z\r\n\
            \x20  Registry Expiry Date: 2027-08-13T04:00:00Z\r\n\
            \x20  Registrar: Example Registrar, Inc.\r\n\
            \x20  Registrar Abuse Contact Email:\r\n\
            \x20  Domain Status: clientHold https://icann.org/epp#clientHold\r\n\
            \x20  Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n\
            \x20  Name Server: A.IANA-SERVERS.NET\r\n\
            \x20  Name Server: B.IANA-SERVERS.NET\r\n\
            \x20  DNSSEC: signedDelegation\r\n\
            >>> Last update of whois database: 2026-01-01T00:00:00Z <<<\r\n";
        let record = parse_record(answer);
        let facts = record.facts;
        assert_eq!(facts.registrar.as_deref(), Some("Example Registrar, Inc."));
        assert_eq!(facts.created, Some(ts("1995-08-14T04:00:00Z")));
        assert_eq!(facts.expires, Some(ts("2027-08-13T04:00:00Z")));
        assert_eq!(facts.last_changed, Some(ts("2024-08-14T07:01:34Z")));
        assert_eq!(facts.statuses, ["clientHold", "clientTransferProhibited"]);
        assert_eq!(
            facts.nameservers,
            ["a.iana-servers.net", "b.iana-servers.net"]
        );
        assert_eq!(
            record.registrar_server,
            Some(HostPort {
                host: "whois.example-registrar.net".to_owned(),
                port: 43
            })
        );
    }

    #[test]
    fn parses_section_layouts() {
        let nominet = "\n    Domain name:\n        example.co.uk\n\n    Registrar:\n        \
            Example Registrar Ltd [Tag = EXAMPLE]\n        URL: https://registrar.example\n\n    \
            Relevant dates:\n        Registered on: 26-Aug-1996\n        Expiry date:  26-Aug-2027\n        \
            Last updated:  01-Mar-2025\n\n    Name servers:\n        ns1.example.co.uk\n        \
            ns2.example.co.uk   192.0.2.2\n\n";
        let facts = parse_record(nominet).facts;
        assert_eq!(
            facts.registrar.as_deref(),
            Some("Example Registrar Ltd [Tag = EXAMPLE]")
        );
        assert_eq!(facts.created, Some(ts("1996-08-26T00:00:00Z")));
        assert_eq!(facts.expires, Some(ts("2027-08-26T00:00:00Z")));
        assert_eq!(facts.last_changed, Some(ts("2025-03-01T00:00:00Z")));
        assert_eq!(
            facts.nameservers,
            ["ns1.example.co.uk", "ns2.example.co.uk"]
        );

        let eurid = "Domain: example.eu\nScript: LATIN\n\nRegistrant:\n        NOT DISCLOSED!\n\n\
            Registrar:\n        Name: Example Registrar BV\n        Website: https://registrar.example\n\n\
            Name servers:\n        ns1.example.eu\n        ns2.example.eu\n";
        let facts = parse_record(eurid).facts;
        assert_eq!(facts.registrar.as_deref(), Some("Example Registrar BV"));
        assert_eq!(facts.nameservers, ["ns1.example.eu", "ns2.example.eu"]);

        let registro_it = "Domain:             example.it\nStatus:             ok\n\
            Created:            1999-12-10 00:00:00\nLast Update:        2025-01-20 00:54:29\n\
            Expire Date:        2027-01-04\n\nRegistrar\n  Organization:     Example S.r.l.\n  \
            Name:             EXAMPLE-REG\n\nNameservers\n  dns.example.it\n  dns2.example.it\n";
        let facts = parse_record(registro_it).facts;
        assert_eq!(facts.registrar.as_deref(), Some("Example S.r.l."));
        assert_eq!(facts.created, Some(ts("1999-12-10T00:00:00Z")));
        assert_eq!(facts.expires, Some(ts("2027-01-04T00:00:00Z")));
        assert_eq!(facts.statuses, ["ok"]);
        assert_eq!(facts.nameservers, ["dns.example.it", "dns2.example.it"]);
    }

    #[test]
    fn parses_jprs_brackets_and_denic_lines() {
        let jprs = "Domain Information:\na. [Domain Name]                EXAMPLE.JP\n\
            p. [Name Server]                ns1.example.jp\np. [Name Server]                ns2.example.jp\n\
            [State]                         Connected (2027/03/31)\n\
            [Registered Date]               2001/03/12\n\
            [Last Update]                   2025/04/01 01:05:03 (JST)\n";
        let facts = parse_record(jprs).facts;
        assert_eq!(facts.created, Some(ts("2001-03-12T00:00:00Z")));
        assert_eq!(facts.last_changed, Some(ts("2025-04-01T01:05:03Z")));
        assert_eq!(facts.statuses, ["connected"]);
        assert_eq!(facts.nameservers, ["ns1.example.jp", "ns2.example.jp"]);

        let denic = "Domain: example.de\nNserver: ns1.example.de\nNserver: ns2.example.de\n\
            Status: CONNECT\nChanged: 2018-03-12T21:44:25+01:00\n";
        let facts = parse_record(denic).facts;
        assert_eq!(facts.statuses, ["connect"]);
        assert_eq!(facts.last_changed, Some(ts("2018-03-12T20:44:25Z")));
        assert_eq!(facts.nameservers.len(), 2);
    }

    #[test]
    fn parses_common_date_formats() {
        let cases = [
            ("2027-03-01T12:30:00Z", "2027-03-01T12:30:00Z"),
            ("2027-03-01T12:30:00.123Z", "2027-03-01T12:30:00.123Z"),
            ("2027-03-01T12:30:00+02:00", "2027-03-01T10:30:00Z"),
            ("2027-03-01", "2027-03-01T00:00:00Z"),
            ("2027-03-01 12:30:00", "2027-03-01T12:30:00Z"),
            ("2027-03-01 12:30:00 UTC", "2027-03-01T12:30:00Z"),
            ("01-Mar-2027", "2027-03-01T00:00:00Z"),
            ("01-MAR-2027", "2027-03-01T00:00:00Z"),
            ("2027.03.01", "2027-03-01T00:00:00Z"),
            ("2027.03.01 12:30:00", "2027-03-01T12:30:00Z"),
            ("2027/03/01", "2027-03-01T00:00:00Z"),
            ("2027. 03. 01.", "2027-03-01T00:00:00Z"),
            ("2027-Mar-01.", "2027-03-01T00:00:00Z"),
            ("1 March 2027", "2027-03-01T00:00:00Z"),
            ("01-March-2027", "2027-03-01T00:00:00Z"),
            ("Mar 01 2027", "2027-03-01T00:00:00Z"),
            ("Mon Mar 01 23:59:59 GMT 2027", "2027-03-01T23:59:59Z"),
            ("Mon Mar 01 23:59:00 2027", "2027-03-01T23:59:00Z"),
            ("2027-03-01 (YYYY-MM-DD)", "2027-03-01T00:00:00Z"),
            ("1st March 2027", "2027-03-01T00:00:00Z"),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_date(raw), Some(ts(expected)), "{raw}");
        }
        for junk in [
            "",
            "before Aug-1996",
            "never",
            "2027-13-45",
            "99999999999",
            "16/09/14",
        ] {
            assert_eq!(parse_date(junk), None, "{junk}");
        }
    }

    #[test]
    fn day_first_dates_need_the_registrys_format() {
        // 01.03.2027 is 1 March in Switzerland and could be 3 January
        // elsewhere: without the registry's word, no date at all.
        for ambiguous in [
            "01.03.2027",
            "01/03/2027",
            "01-03-2027",
            "4.7.2027 10:15:55",
        ] {
            assert_eq!(parse_date(ambiguous), None, "{ambiguous}");
        }
        let day_first = ["%d.%m.%Y %H:%M:%S", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y"];
        for (raw, expected) in [
            ("01.03.2027", "2027-03-01T00:00:00Z"),
            ("01/03/2027", "2027-03-01T00:00:00Z"),
            ("31-03-2027", "2027-03-31T00:00:00Z"),
            ("4.7.2027 10:15:55", "2027-07-04T10:15:55Z"),
        ] {
            assert_eq!(
                parse_date_with(raw, &day_first),
                Some(ts(expected)),
                "{raw}"
            );
        }
    }

    #[test]
    fn parses_referrals_and_servers() {
        let iana = "% IANA WHOIS server\n\nrefer:        whois.verisign-grs.com\n\n\
            domain:       COM\n\nwhois:        whois.verisign-grs.com\n";
        assert_eq!(parse_referral(iana).unwrap().host, "whois.verisign-grs.com");
        let whois_only = "domain: EXAMPLE\nwhois:        127.0.0.1:4343\n";
        assert_eq!(
            parse_referral(whois_only).unwrap().to_string(),
            "127.0.0.1:4343"
        );
        assert_eq!(parse_referral("domain: X\nwhois:\n"), None);
        assert_eq!(parse_referral("% This query returned 0 objects."), None);
        assert_eq!(
            parse_server("http://whois.registrar.example/")
                .unwrap()
                .to_string(),
            "whois.registrar.example:43"
        );
        assert_eq!(parse_server("[::1]:4343").unwrap().port, 4343);
        for bad in ["", "bad host", "x:0", "x:99999", "x;y", "[nope]:1"] {
            assert_eq!(parse_server(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_retry_times() {
        let now = ts("2026-01-01T00:00:00Z");
        let cases = [
            (
                "Rate limit exceeded. Try again after: 2026-01-01 00:05:00",
                300,
            ),
            ("quota ... will be replenished in 23 seconds.", 23),
            ("Too many requests, try again in 2 minutes", 120),
            ("Please wait 30s", 30),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_retry_after(text, now),
                Some(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        assert_eq!(parse_retry_after("Quota exceeded", now), None);
        assert_eq!(
            parse_retry_after("Try again after: 2025-01-01 00:00:00", now),
            None,
            "a time in the past is no wait"
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let text = decode(&bytes);
            let _ = parse_record(&text);
            let _ = parse_referral(&text);
            let _ = parse_retry_after(&text, Timestamp::UNIX_EPOCH);
        }

        #[test]
        fn never_panics_on_whois_shaped_text(
            text in "([ \t]{0,6}(\\[|a\\. \\[)?[A-Za-z _-]{0,20}(\\]|:)?[ \t]{0,4}[0-9A-Za-zé./:()\\[\\]+-]{0,30}\r?\n){0,30}"
        ) {
            let record = parse_record(&text);
            for ns in &record.facts.nameservers {
                prop_assert!(ns.contains('.'));
            }
            let _ = parse_referral(&text);
            let _ = parse_retry_after(&text, Timestamp::MAX);
            let _ = parse_date(&text);
        }
    }
}
