//! One probe, purely: a resolver's answer turned into a [`RecordResult`]
//! (its outcome and the records of the asked type in presentation form),
//! and the answers held against the record's expectations.
//!
//! Presentation form (RFC 1035 §5.1), as users write expectations: names
//! lower case and without the final dot; the strings of one TXT record
//! joined without quotes; `MX` as `preference exchange`; `SOA` as `mname
//! rname serial refresh retry expire minimum`; `CAA` as `flags tag "value"`.

use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, RecordType},
};
use regex::Regex;

use crate::check::dns::QueryError;
use crate::resource::dhc::{Expectation, LookupOutcome, ProbeRecordType, RecordResult};

/// Answers kept per record in the status at most.
pub const MAX_ANSWERS: usize = 16;

/// hickory's type for a probe's type.
pub fn wire_type(record_type: ProbeRecordType) -> RecordType {
    match record_type {
        ProbeRecordType::A => RecordType::A,
        ProbeRecordType::AAAA => RecordType::AAAA,
        ProbeRecordType::CNAME => RecordType::CNAME,
        ProbeRecordType::MX => RecordType::MX,
        ProbeRecordType::TXT => RecordType::TXT,
        ProbeRecordType::NS => RecordType::NS,
        ProbeRecordType::SOA => RecordType::SOA,
        ProbeRecordType::CAA => RecordType::CAA,
    }
}

/// The outcome of a query and the answers of the asked type, sorted and
/// each once (at most [`MAX_ANSWERS`]).
pub fn classify(
    answer: &Result<Message, QueryError>,
    asked: ProbeRecordType,
) -> (LookupOutcome, Vec<String>) {
    let message = match answer {
        Ok(message) => message,
        Err(QueryError::Timeout) => return (LookupOutcome::Timeout, Vec::new()),
        Err(_) => return (LookupOutcome::Error, Vec::new()),
    };
    let outcome = match message.metadata.response_code {
        ResponseCode::NoError => LookupOutcome::NOERROR,
        ResponseCode::NXDomain => LookupOutcome::NXDOMAIN,
        ResponseCode::ServFail => LookupOutcome::SERVFAIL,
        ResponseCode::Refused => LookupOutcome::REFUSED,
        _ => LookupOutcome::OtherRcode,
    };
    if outcome != LookupOutcome::NOERROR {
        return (outcome, Vec::new());
    }
    let wanted = wire_type(asked);
    let mut answers: Vec<String> = message
        .answers
        .iter()
        .filter(|record| record.record_type() == wanted)
        .map(|record| presentation(&record.data))
        .collect();
    answers.sort();
    answers.dedup();
    answers.truncate(MAX_ANSWERS);
    (outcome, answers)
}

fn name(name: &Name) -> String {
    let mut text = name.to_ascii().to_ascii_lowercase();
    if text.len() > 1 && text.ends_with('.') {
        text.pop();
    }
    text
}

/// One record's data in presentation form (see the module docs).
pub fn presentation(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(aaaa) => aaaa.0.to_string(),
        RData::CNAME(target) => name(&target.0),
        RData::NS(target) => name(&target.0),
        RData::MX(mx) => format!("{} {}", mx.preference, name(&mx.exchange)),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s))
            .collect(),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            name(&soa.mname),
            name(&soa.rname),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        other => other.to_string(),
    }
}

/// An expectation ready to be matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal to the data (names without case and final dot).
    Exact(String),
    /// Contained in the data.
    Contains(String),
    /// Matches the data.
    Regex(Regex),
}

impl Matcher {
    /// The matcher of `expectation`.
    ///
    /// # Errors
    /// A message naming the invalid regular expression, or saying that the
    /// entry sets none (or several) of `exact`, `contains` and `regex`.
    pub fn new(expectation: &Expectation) -> Result<Self, String> {
        match (
            &expectation.exact,
            &expectation.contains,
            &expectation.regex,
        ) {
            (Some(exact), None, None) => Ok(Self::Exact(exact.clone())),
            (None, Some(contains), None) => Ok(Self::Contains(contains.clone())),
            (None, None, Some(pattern)) => Regex::new(pattern)
                .map(Self::Regex)
                .map_err(|e| format!("expect regex {pattern:?} is not a valid expression: {e}")),
            _ => Err("each expect entry sets exactly one of exact, contains or regex".to_owned()),
        }
    }

    /// Whether one record's data (presentation form) meets it.
    pub fn accepts(&self, data: &str, record_type: ProbeRecordType) -> bool {
        match self {
            Self::Exact(expected) => {
                let names = matches!(
                    record_type,
                    ProbeRecordType::CNAME
                        | ProbeRecordType::NS
                        | ProbeRecordType::MX
                        | ProbeRecordType::SOA
                );
                if names {
                    let expected = expected.split(' ').map(|w| w.trim_end_matches('.'));
                    data.split(' ')
                        .map(|w| w.trim_end_matches('.'))
                        .zip(expected.clone())
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
                        && data.split(' ').count() == expected.count()
                } else {
                    data == expected
                }
            }
            Self::Contains(part) => data.contains(part.as_str()),
            Self::Regex(regex) => regex.is_match(data),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "exact {s:?}"),
            Self::Contains(s) => write!(f, "contains {s:?}"),
            Self::Regex(r) => write!(f, "regex {:?}", r.as_str()),
        }
    }
}

/// The first expectation no answer meets, or `None` when every one is met.
/// The text completes "expected …" (`exact "192.0.2.1"`). Without
/// expectations any non-empty answer is fine; an empty one fails with
/// `at least one TXT record` (the record's type).
pub fn unmet(
    answers: &[String],
    matchers: &[Matcher],
    record_type: ProbeRecordType,
) -> Option<String> {
    if matchers.is_empty() {
        return answers
            .is_empty()
            .then(|| format!("at least one {} record", record_type.as_str()));
    }
    matchers
        .iter()
        .find(|m| !answers.iter().any(|a| m.accepts(a, record_type)))
        .map(ToString::to_string)
}

/// The result of one probe (before it is settled against the threshold).
pub fn result(
    fqdn: &str,
    record_type: ProbeRecordType,
    answer: &Result<Message, QueryError>,
    matchers: &[Matcher],
) -> RecordResult {
    let (rcode, answers) = classify(answer, record_type);
    let matches =
        rcode == LookupOutcome::NOERROR && unmet(&answers, matchers, record_type).is_none();
    RecordResult {
        name: fqdn.to_owned(),
        record_type,
        rcode,
        answers,
        matches,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_resolver::proto::{
        op::{Message, MessageType, OpCode},
        rr::{
            Record,
            rdata::{A, CNAME, MX, TXT},
        },
    };

    use super::*;

    fn answer(code: ResponseCode, records: Vec<RData>) -> Result<Message, QueryError> {
        let mut message = Message::new(7, MessageType::Response, OpCode::Query);
        message.metadata.response_code = code;
        let owner = Name::from_str("www.example.com.").unwrap();
        for data in records {
            message
                .answers
                .push(Record::from_rdata(owner.clone(), 300, data));
        }
        Ok(message)
    }

    fn exact(s: &str) -> Matcher {
        Matcher::Exact(s.to_owned())
    }

    #[test]
    fn outcomes_follow_the_response_code() {
        let cases = [
            (ResponseCode::NoError, LookupOutcome::NOERROR),
            (ResponseCode::NXDomain, LookupOutcome::NXDOMAIN),
            (ResponseCode::ServFail, LookupOutcome::SERVFAIL),
            (ResponseCode::Refused, LookupOutcome::REFUSED),
            (ResponseCode::NotImp, LookupOutcome::OtherRcode),
        ];
        for (code, outcome) in cases {
            assert_eq!(
                classify(&answer(code, vec![]), ProbeRecordType::A).0,
                outcome
            );
        }
        assert_eq!(
            classify(&Err(QueryError::Timeout), ProbeRecordType::A).0,
            LookupOutcome::Timeout
        );
    }

    #[test]
    fn only_records_of_the_asked_type_count_and_names_lose_the_dot() {
        let target = Name::from_str("Edge.CDN.example.net.").unwrap();
        let reply = answer(
            ResponseCode::NoError,
            vec![
                RData::CNAME(CNAME(target)),
                RData::A(A::new(192, 0, 2, 9)),
                RData::A(A::new(192, 0, 2, 1)),
            ],
        );
        assert_eq!(
            classify(&reply, ProbeRecordType::A).1,
            ["192.0.2.1", "192.0.2.9"]
        );
        assert_eq!(
            classify(&reply, ProbeRecordType::CNAME).1,
            ["edge.cdn.example.net"]
        );
    }

    #[test]
    fn txt_strings_are_joined_and_mx_reads_preference_exchange() {
        let reply = answer(
            ResponseCode::NoError,
            vec![
                RData::TXT(TXT::new(vec!["v=spf1 ".to_owned(), "-all".to_owned()])),
                RData::MX(MX::new(10, Name::from_str("mx.example.com.").unwrap())),
            ],
        );
        let txt = classify(&reply, ProbeRecordType::TXT).1;
        assert_eq!(txt, ["v=spf1 -all"]);
        let mx = classify(&reply, ProbeRecordType::MX).1;
        assert_eq!(mx, ["10 mx.example.com"]);
        assert!(exact("10 MX.example.com.").accepts(&mx[0], ProbeRecordType::MX));
        assert!(!exact("20 mx.example.com").accepts(&mx[0], ProbeRecordType::MX));
        assert!(!exact("V=SPF1 -all").accepts(&txt[0], ProbeRecordType::TXT));
    }

    #[test]
    fn every_expectation_needs_some_answer() {
        let answers = ["192.0.2.1".to_owned(), "192.0.2.2".to_owned()];
        let both = [exact("192.0.2.1"), exact("192.0.2.2")];
        assert_eq!(unmet(&answers, &both, ProbeRecordType::A), None);
        let regex = Matcher::new(&Expectation {
            exact: None,
            contains: None,
            regex: Some("^192\\.0\\.2\\.[0-9]+$".to_owned()),
        })
        .unwrap();
        assert_eq!(unmet(&answers, &[regex], ProbeRecordType::A), None);
        let missing = [exact("192.0.2.1"), exact("192.0.2.3")];
        assert_eq!(
            unmet(&answers, &missing, ProbeRecordType::A).as_deref(),
            Some("exact \"192.0.2.3\"")
        );
        assert_eq!(
            unmet(&[], &[], ProbeRecordType::AAAA).as_deref(),
            Some("at least one AAAA record")
        );
        // Read after "expected ": an empty TXT answer without expect.
        assert_eq!(
            unmet(&[], &[], ProbeRecordType::TXT).as_deref(),
            Some("at least one TXT record")
        );
        assert_eq!(unmet(&answers, &[], ProbeRecordType::A), None);
    }

    #[test]
    fn a_bad_regex_is_named() {
        let err = Matcher::new(&Expectation {
            exact: None,
            contains: None,
            regex: Some("(".to_owned()),
        })
        .unwrap_err();
        assert!(err.contains("\"(\" is not a valid expression"), "{err}");
    }
}
