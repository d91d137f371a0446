//! RDAP domain answers (RFC 9083 §5.3) → [`RegistrationFacts`]: a pure function
//! on bytes, tolerant of the many ways registries bend the format, and never
//! panicking on hostile input.
//!
//! Only `objectClassName` is strict: an answer that is not a domain object is
//! an error, never evidence either way. Everything else is best effort: a date
//! that does not parse or an entity without a name is skipped, not fatal.

use std::collections::VecDeque;

use jiff::{Timestamp, civil};
use serde_json::Value;

use crate::check::{RegistrationFacts, epp_statuses};

/// Why an RDAP body is not a usable domain object.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON at all (an HTML error page, a truncated answer).
    #[error("the answer is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("the answer is JSON but not an RDAP object")]
    NotAnObject,
    /// The object is not a domain (an error object, a nameserver, an entity…).
    #[error("the answer is not a domain object (objectClassName {found:?})")]
    WrongObjectClass {
        /// The `objectClassName` found, if any.
        found: Option<String>,
    },
}

/// A parsed RDAP domain object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainAnswer {
    /// The `ldhName` the server answered for, lower case without trailing dot.
    pub ldh_name: Option<String>,
    /// Statuses, dates, registrar and nameservers.
    pub facts: RegistrationFacts,
}

/// Parses the body of an RDAP `domain/<name>` answer.
pub fn parse_domain(body: &[u8]) -> Result<DomainAnswer, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(ParseError::NotJson)?;
    let object = value.as_object().ok_or(ParseError::NotAnObject)?;
    let class = object.get("objectClassName").and_then(Value::as_str);
    if !class.is_some_and(|c| c.eq_ignore_ascii_case("domain")) {
        return Err(ParseError::WrongObjectClass {
            found: class.map(str::to_owned),
        });
    }

    let mut facts = RegistrationFacts {
        statuses: strings(object.get("status")).fold(Vec::new(), |mut all, raw| {
            for code in epp_statuses(raw) {
                if !all.contains(&code) {
                    all.push(code);
                }
            }
            all
        }),
        nameservers: nameservers(object.get("nameservers")),
        registrar: registrar(object.get("entities")),
        ..RegistrationFacts::default()
    };
    for event in array(object.get("events")) {
        let action = event.get("eventAction").and_then(Value::as_str);
        let date = event
            .get("eventDate")
            .and_then(Value::as_str)
            .and_then(parse_date);
        let (Some(action), Some(date)) = (action, date) else {
            continue;
        };
        // The first event of each kind wins: registries list one of each, and
        // a duplicate is more likely noise than a correction.
        let slot = match action.trim().to_ascii_lowercase().as_str() {
            "registration" => &mut facts.created,
            "expiration" => &mut facts.expires,
            "last changed" => &mut facts.last_changed,
            "deletion" => &mut facts.deletion,
            _ => continue,
        };
        slot.get_or_insert(date);
    }

    Ok(DomainAnswer {
        ldh_name: object
            .get("ldhName")
            .and_then(Value::as_str)
            .map(normalise_name),
        facts,
    })
}

/// Lower case, without the trailing dot of a fully qualified name.
fn normalise_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn array(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    array(value).filter_map(Value::as_str)
}

fn nameservers(value: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in array(value).filter_map(|ns| ns.get("ldhName").and_then(Value::as_str)) {
        let name = normalise_name(name);
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The sponsoring registrar: the first entity (breadth first, so a top-level
/// registrar beats one nested under a contact) whose roles include
/// `registrar`, named by its vCard `fn`, else its handle or first public ID.
fn registrar(entities: Option<&Value>) -> Option<String> {
    let mut queue: VecDeque<&Value> = array(entities).collect();
    while let Some(entity) = queue.pop_front() {
        queue.extend(array(entity.get("entities")));
        let is_registrar =
            strings(entity.get("roles")).any(|r| r.eq_ignore_ascii_case("registrar"));
        if !is_registrar {
            continue;
        }
        let name = vcard_full_name(entity)
            .or_else(|| entity.get("handle").and_then(Value::as_str))
            .or_else(|| {
                array(entity.get("publicIds"))
                    .find_map(|id| id.get("identifier").and_then(Value::as_str))
            })
            .map(str::trim)
            .filter(|name| !name.is_empty());
        if let Some(name) = name {
            return Some(name.to_owned());
        }
    }
    None
}

/// The `fn` property of a jCard (RFC 7095): `["vcard", [["fn", {}, "text", "Name"], …]]`.
fn vcard_full_name(entity: &Value) -> Option<&str> {
    let card = entity.get("vcardArray")?.as_array()?;
    array(card.get(1)).find_map(|property| {
        let property = property.as_array()?;
        let name = property.first()?.as_str()?;
        if name.eq_ignore_ascii_case("fn") {
            property.get(3)?.as_str()
        } else {
            None
        }
    })
}

/// RFC 3339 as RDAP requires, tolerating what registries actually send: no
/// offset (taken as UTC), fractions of any length, or a bare date.
pub(crate) fn parse_date(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(datetime) = raw.parse::<civil::DateTime>() {
        return datetime
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    raw.parse::<civil::Date>()
        .ok()
        .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<Timestamp> {
        Some(s.parse().unwrap())
    }

    const ACTIVE: &str = r#"{
      "objectClassName": "domain",
      "ldhName": "Example.COM.",
      "status": ["client transfer prohibited", "client hold", "auto renew period"],
      "events": [
        {"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"},
        {"eventAction": "expiration", "eventDate": "2026-08-13T04:00:00.123456Z"},
        {"eventAction": "last changed", "eventDate": "2024-08-14T07:01:34"},
        {"eventAction": "deletion", "eventDate": "2026-09-27"},
        {"eventAction": "last update of RDAP database", "eventDate": "2025-01-01T00:00:00Z"},
        {"eventAction": "expiration", "eventDate": "2030-01-01T00:00:00Z"},
        {"eventAction": "transfer", "eventDate": "not a date"}
      ],
      "nameservers": [
        {"objectClassName": "nameserver", "ldhName": "A.IANA-SERVERS.NET."},
        {"objectClassName": "nameserver", "ldhName": "b.iana-servers.net"},
        {"objectClassName": "nameserver", "ldhName": "a.iana-servers.net"},
        {"objectClassName": "nameserver"}
      ],
      "entities": [
        {"objectClassName": "entity", "roles": ["technical"], "handle": "TECH",
         "entities": [{"roles": ["registrar"], "handle": "NESTED"}]},
        {"objectClassName": "entity", "roles": ["registrar"], "handle": "376",
         "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "RESERVED-Internet Assigned Numbers Authority"]]]}
      ]
    }"#;

    #[test]
    fn active_domain_gives_every_fact() {
        let answer = parse_domain(ACTIVE.as_bytes()).unwrap();
        assert_eq!(answer.ldh_name.as_deref(), Some("example.com"));
        let facts = answer.facts;
        assert_eq!(
            facts.statuses,
            ["clientTransferProhibited", "clientHold", "autoRenewPeriod"]
        );
        assert_eq!(facts.created, ts("1995-08-14T04:00:00Z"));
        assert_eq!(facts.expires, ts("2026-08-13T04:00:00.123456Z"));
        assert_eq!(facts.last_changed, ts("2024-08-14T07:01:34Z"));
        assert_eq!(facts.deletion, ts("2026-09-27T00:00:00Z"));
        assert_eq!(
            facts.nameservers,
            ["a.iana-servers.net", "b.iana-servers.net"]
        );
        assert_eq!(
            facts.registrar.as_deref(),
            Some("RESERVED-Internet Assigned Numbers Authority")
        );
    }

    #[test]
    fn registrar_falls_back_to_handle_public_id_and_nested_entities() {
        let nested = r#"{"objectClassName":"domain","entities":[
            {"roles":["registrant"],"entities":[{"roles":["Registrar"],"handle":"R-1"}]}]}"#;
        let facts = parse_domain(nested.as_bytes()).unwrap().facts;
        assert_eq!(facts.registrar.as_deref(), Some("R-1"));

        let public_id = r#"{"objectClassName":"domain","entities":[
            {"roles":["registrar"],"publicIds":[{"type":"IANA Registrar ID","identifier":"292"}]}]}"#;
        let facts = parse_domain(public_id.as_bytes()).unwrap().facts;
        assert_eq!(facts.registrar.as_deref(), Some("292"));
    }

    #[test]
    fn minimal_domain_object_is_registered_without_facts() {
        let answer = parse_domain(br#"{"objectClassName":"domain"}"#).unwrap();
        assert!(answer.facts.is_empty());
        assert_eq!(answer.ldh_name, None);
    }

    #[test]
    fn non_domain_answers_are_errors() {
        assert!(matches!(
            parse_domain(b"<html>busy</html>"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse_domain(b"[1,2]"),
            Err(ParseError::NotAnObject)
        ));
        let error_object = br#"{"errorCode":404,"title":"Not Found"}"#;
        assert!(matches!(
            parse_domain(error_object),
            Err(ParseError::WrongObjectClass { found: None })
        ));
        let ns = br#"{"objectClassName":"nameserver","ldhName":"ns1.example.com"}"#;
        let err = parse_domain(ns).unwrap_err();
        assert!(err.to_string().contains("\"nameserver\""), "{err}");
    }

    #[test]
    fn dates_tolerate_registry_variants() {
        assert_eq!(
            parse_date("2025-03-01T10:00:00Z"),
            ts("2025-03-01T10:00:00Z")
        );
        assert_eq!(
            parse_date("2025-03-01T10:00:00+02:00"),
            ts("2025-03-01T08:00:00Z")
        );
        assert_eq!(
            parse_date("2025-03-01T10:00:00.5"),
            ts("2025-03-01T10:00:00.5Z")
        );
        assert_eq!(parse_date(" 2025-03-01 "), ts("2025-03-01T00:00:00Z"));
        assert_eq!(parse_date("01/03/2025"), None);
        assert_eq!(parse_date(""), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_domain(&body);
        }

        #[test]
        fn never_panics_on_arbitrary_domain_shaped_json(
            status in proptest::collection::vec(".{0,20}", 0..4),
            action in ".{0,20}",
            date in ".{0,30}",
            ns in ".{0,30}",
            role in ".{0,12}",
            vcard in ".{0,20}",
        ) {
            let body = serde_json::json!({
                "objectClassName": "domain",
                "status": status,
                "events": [{"eventAction": action, "eventDate": date}, {"eventAction": 3}],
                "nameservers": [{"ldhName": ns}, "junk", null],
                "entities": [{"roles": [role, 1], "vcardArray": ["vcard", [["fn", {}, "text", vcard], ["fn"], 7]]},
                             {"roles": "registrar", "entities": {"x": 1}}],
            });
            let _ = parse_domain(body.to_string().as_bytes());
        }
    }
}
