//! The WHOIS pattern table: how each registry wants to be asked, and how it
//! says "not found", "slow down" and "reserved".
//!
//! WHOIS has no status codes, only prose, and every registry words it
//! differently. [`PROFILES`] holds one [`TldProfile`] per registry family;
//! [`GENERIC`] is consulted for every TLD (listed or not) and is all an
//! unlisted TLD gets. Matching is case-insensitive and line by line.
//!
//! The order of the checks is the safety argument of this module:
//! 1. rate-limit banners — a throttled server may also print `NOT FOUND`, and
//!    that must never read as "available";
//! 2. reserved / premium / blocked wording — such answers often also say
//!    "not found" or "does not exist";
//! 3. "not found" wording — the TLD's own phrases at their stated strength,
//!    generic phrases at [`Strength::Weak`] for a listed TLD (the registry is
//!    not known to say it that way) and at their own strength otherwise.
//!
//! The phrases come from the registries' public WHOIS output (see
//! `/work/shared/TESTING.md` for the replayed wire formats).

use std::time::Duration;

use jiff::Timestamp;

use super::parse::parse_retry_after;
use crate::check::Strength;

/// How a phrase must appear in one line of an answer (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phrase {
    /// Anywhere in the line, as whole words (`domain not found` does not
    /// match `domain not foundation`).
    Contains(&'static str),
    /// At the start of the trimmed line (for `Status: free`-style lines,
    /// where the same words elsewhere mean something else), ending at a word
    /// boundary: `Status: freeze` is not `Status: free`.
    LineStart(&'static str),
    /// The whole trimmed line, nothing else (for a bare `NOT FOUND`, which
    /// must not also match `DOMAIN NOT FOUND`).
    Line(&'static str),
}

impl Phrase {
    /// True when the lower-cased, trimmed `line` shows this phrase.
    fn matches(self, line: &str) -> bool {
        match self {
            Self::Contains(p) => contains_words(line, p),
            Self::LineStart(p) => line
                .strip_prefix(p)
                .is_some_and(|rest| !rest.starts_with(char::is_alphanumeric)),
            Self::Line(p) => line.trim_end_matches(['.', '!']) == p,
        }
    }
}

/// A "not found" phrase and how far it can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFound {
    /// The phrase.
    pub phrase: Phrase,
    /// [`Strength::Weak`] when throttled or reserved answers use it too.
    pub strength: Strength,
}

/// How a registry wants the query line: `{prefix}{domain}{suffix}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryFormat {
    /// Written before the domain, e.g. DENIC's `-T dn,ace `.
    pub prefix: &'static str,
    /// Written after the domain, e.g. JPRS's `/e` (English answers).
    pub suffix: &'static str,
}

impl QueryFormat {
    /// The domain as is: what most servers expect.
    pub const PLAIN: Self = Self {
        prefix: "",
        suffix: "",
    };

    /// The query line for `domain`, without the CRLF.
    pub fn query(self, domain: &str) -> String {
        format!("{}{domain}{}", self.prefix, self.suffix)
    }
}

/// What one registry (or family of registries sharing a back end) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TldProfile {
    /// The TLDs served this way, lower case, without dot.
    pub tlds: &'static [&'static str],
    /// The query line format.
    pub query: QueryFormat,
    /// "Not found" answers.
    pub not_found: &'static [NotFound],
    /// Rate-limit and quota banners (in addition to [`GENERIC`]'s).
    pub rate_limited: &'static [Phrase],
    /// Reserved, premium or blocked answers (in addition to [`GENERIC`]'s).
    pub reserved: &'static [Phrase],
}

const fn strong(phrase: Phrase) -> NotFound {
    NotFound {
        phrase,
        strength: Strength::Strong,
    }
}

const fn weak(phrase: Phrase) -> NotFound {
    NotFound {
        phrase,
        strength: Strength::Weak,
    }
}

use Phrase::{Contains, Line, LineStart};

/// A bare `NOT FOUND` line: what Identity Digital (ex-Afilias) servers answer
/// for a free name — and also what they answer when throttling us.
const BARE_NOT_FOUND: NotFound = weak(Line("not found"));

/// The per-registry table. A TLD appears at most once.
pub static PROFILES: &[TldProfile] = &[
    // Verisign, thin registries: the answer names the registrar's server
    // (`Registrar WHOIS Server:`), which holds the details.
    TldProfile {
        tlds: &["com", "net"],
        query: QueryFormat::PLAIN,
        not_found: &[strong(Contains("no match for \""))],
        rate_limited: &[],
        reserved: &[],
    },
    // Identity Digital back end (PIR .org, .info, .io): `Domain not found.`
    // is specific; a bare `NOT FOUND` is also the throttle answer.
    TldProfile {
        tlds: &["org", "info", "io"],
        query: QueryFormat::PLAIN,
        not_found: &[
            strong(Contains("domain not found")),
            strong(Contains("is available for purchase")),
            BARE_NOT_FOUND,
        ],
        rate_limited: &[Contains("whois limit exceeded")],
        reserved: &[],
    },
    // CentralNic / GoDaddy Registry style.
    TldProfile {
        tlds: &["co", "xyz"],
        query: QueryFormat::PLAIN,
        not_found: &[
            strong(Contains("the queried object does not exist")),
            strong(Contains("no data found")),
        ],
        rate_limited: &[],
        reserved: &[Contains("reserved by registry")],
    },
    // Google Registry.
    TldProfile {
        tlds: &["dev", "app"],
        query: QueryFormat::PLAIN,
        not_found: &[strong(Contains("domain not found"))],
        rate_limited: &[],
        reserved: &[],
    },
    // DENIC: ASCII answers need `-T dn,ace`; `Status: invalid` is DENIC's
    // answer for names its rules do not allow, so not registrable.
    TldProfile {
        tlds: &["de"],
        query: QueryFormat {
            prefix: "-T dn,ace ",
            suffix: "",
        },
        not_found: &[strong(LineStart("status: free"))],
        rate_limited: &[Contains("access control limit exceeded")],
        reserved: &[LineStart("status: invalid")],
    },
    // Nominet.
    TldProfile {
        tlds: &["uk"],
        query: QueryFormat::PLAIN,
        not_found: &[
            strong(Contains("no match for")),
            strong(Contains("this domain name has not been registered")),
        ],
        rate_limited: &[Contains("query quota")],
        reserved: &[Contains("contravenes the nominet")],
    },
    // EURid.
    TldProfile {
        tlds: &["eu"],
        query: QueryFormat::PLAIN,
        not_found: &[strong(LineStart("status: available"))],
        rate_limited: &[],
        reserved: &[
            LineStart("status: not allowed"),
            LineStart("status: blocked"),
        ],
    },
    // Registro .it: `UNASSIGNABLE` marks reserved names.
    TldProfile {
        tlds: &["it"],
        query: QueryFormat::PLAIN,
        not_found: &[strong(LineStart("status: available"))],
        rate_limited: &[],
        reserved: &[LineStart("status: unassignable")],
    },
    // SIDN: `example.nl is free`.
    TldProfile {
        tlds: &["nl"],
        query: QueryFormat::PLAIN,
        not_found: &[strong(Contains(" is free"))],
        rate_limited: &[Contains("maximum number of requests")],
        reserved: &[],
    },
    // InternetNZ: numeric query status.
    TldProfile {
        tlds: &["nz"],
        query: QueryFormat::PLAIN,
        not_found: &[strong(Contains("220 available"))],
        rate_limited: &[Contains("440 request denied")],
        reserved: &[],
    },
    // JPRS: `/e` asks for English answers.
    TldProfile {
        tlds: &["jp"],
        query: QueryFormat {
            prefix: "",
            suffix: "/e",
        },
        not_found: &[strong(Contains("no match!!"))],
        rate_limited: &[],
        reserved: &[],
    },
];

/// Phrases every TLD is checked against, and all an unlisted TLD gets.
pub static GENERIC: TldProfile = TldProfile {
    tlds: &[],
    query: QueryFormat::PLAIN,
    not_found: &[
        strong(Contains("no match for")),
        strong(Contains("domain not found")),
        strong(Contains("the queried object does not exist")),
        strong(Contains("no object found")),
        strong(Contains("no entries found")),
        strong(Contains("no data found")),
        strong(LineStart("status: free")),
        strong(LineStart("status: available")),
        strong(Contains("is available for registration")),
        strong(Contains("is available for purchase")),
        BARE_NOT_FOUND,
        weak(Line("no match")),
    ],
    rate_limited: &[
        Contains("number of allowed queries exceeded"),
        Contains("your access is too fast"),
        Contains("quota exceeded"),
        Contains("excessive querying"),
        Contains("rate limit exceeded"),
        Contains("limit exceeded"),
        Contains("has been exceeded"),
        Contains("too many requests"),
        Contains("too many queries"),
        Contains("too many connections"),
        Contains("try again later"),
    ],
    reserved: &[
        Contains("this name is reserved"),
        Contains("name is reserved"),
        Contains("domain is reserved"),
        Contains("reserved name"),
        Contains("reserved domain"),
        Contains("reserved by the registry"),
        LineStart("status: reserved"),
        LineStart("domain status: reserved"),
        Contains("premium domain"),
        Contains("premium name"),
        Contains("is a premium"),
        Contains("not available for registration"),
        Contains("cannot be registered"),
        Contains("status: blocked"),
        Contains("dpml"),
    ],
};

/// The profile of `tld` (lower case, no dot), if the table lists it.
pub fn profile(tld: &str) -> Option<&'static TldProfile> {
    PROFILES.iter().find(|p| p.tlds.contains(&tld))
}

/// The query line for `domain` under `tld`'s format.
pub fn query_for(tld: &str, domain: &str) -> String {
    profile(tld)
        .map_or(QueryFormat::PLAIN, |p| p.query)
        .query(domain)
}

/// What an answer says, by the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// A rate-limit or quota banner.
    RateLimited {
        /// The line that matched.
        evidence: String,
        /// The wait the banner asked for, when it named one.
        retry_after: Option<Duration>,
    },
    /// Reserved, premium or blocked wording.
    Reserved {
        /// The line that matched.
        evidence: String,
    },
    /// "Not found" wording.
    NotFound {
        /// The line that matched.
        evidence: String,
        /// How far that wording can be trusted for this TLD.
        strength: Strength,
    },
    /// None of the table's phrases: the answer is a record, or unknown prose.
    Unmatched,
}

/// Longest evidence line kept in a report.
const MAX_EVIDENCE_CHARS: usize = 160;

/// Classifies a decoded WHOIS `answer` from a server of `tld` (lower case;
/// empty for "no TLD", e.g. a referral server). `now` resolves retry times.
pub fn classify(tld: &str, answer: &str, now: Timestamp) -> Classification {
    let own = profile(tld);
    let lines: Vec<(&str, String)> = answer
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        // Layouts pad with runs of spaces (`Status:      free`): match on
        // single spaces.
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (line, words.join(" ").to_lowercase())
        })
        .collect();
    let find = |phrases: &mut dyn Iterator<Item = Phrase>| -> Option<String> {
        let phrases: Vec<Phrase> = phrases.collect();
        lines
            .iter()
            .find(|(_, lower)| phrases.iter().any(|p| p.matches(lower)))
            .map(|(line, _)| evidence(line))
    };

    let throttle = own.map_or(&[][..], |p| p.rate_limited);
    if let Some(evidence) = find(&mut throttle.iter().chain(GENERIC.rate_limited).copied()) {
        return Classification::RateLimited {
            evidence,
            retry_after: parse_retry_after(answer, now),
        };
    }
    let reserved = own.map_or(&[][..], |p| p.reserved);
    if let Some(evidence) = find(&mut reserved.iter().chain(GENERIC.reserved).copied()) {
        return Classification::Reserved { evidence };
    }
    if let Some(own) = own {
        for not_found in own.not_found {
            if let Some(evidence) = find(&mut std::iter::once(not_found.phrase)) {
                return Classification::NotFound {
                    evidence,
                    strength: not_found.strength,
                };
            }
        }
    }
    for not_found in GENERIC.not_found {
        if let Some(evidence) = find(&mut std::iter::once(not_found.phrase)) {
            // Unexpected wording from a registry we know is weaker evidence.
            let strength = if own.is_some() {
                Strength::Weak
            } else {
                not_found.strength
            };
            return Classification::NotFound { evidence, strength };
        }
    }
    Classification::Unmatched
}

/// True when `phrase` occurs in `line` without running into a neighbouring
/// word: an alphanumeric edge of the phrase must meet a non-alphanumeric
/// character (or the line's end).
fn contains_words(line: &str, phrase: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (phrase.chars().next(), phrase.chars().next_back());
    line.match_indices(phrase).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + phrase.len()..].chars().next();
        let runs_into_word_before = alnum(first) && alnum(before);
        let runs_into_word_after = alnum(last) && alnum(after);
        !runs_into_word_before && !runs_into_word_after
    })
}

fn evidence(line: &str) -> String {
    if line.chars().count() <= MAX_EVIDENCE_CHARS {
        line.to_owned()
    } else {
        let mut cut: String = line.chars().take(MAX_EVIDENCE_CHARS).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn not_found(tld: &str, answer: &str) -> Option<Strength> {
        match classify(tld, answer, now()) {
            Classification::NotFound { strength, .. } => Some(strength),
            _ => None,
        }
    }

    #[test]
    fn each_tld_appears_once() {
        let mut seen = std::collections::HashSet::new();
        for tld in PROFILES.iter().flat_map(|p| p.tlds) {
            assert!(seen.insert(tld), ".{tld} is listed twice");
        }
    }

    #[test]
    fn registries_own_wording_is_strong() {
        let cases = [
            ("com", "No match for \"EXAMPLE-FREE.COM\"."),
            ("net", "No match for \"EXAMPLE-FREE.NET\"."),
            ("org", "Domain not found."),
            ("info", "Domain not found."),
            ("io", "Domain not found."),
            ("co", "The queried object does not exist: DOMAIN NOT FOUND"),
            ("xyz", "The queried object does not exist: DOMAIN NOT FOUND"),
            ("dev", "Domain not found."),
            ("app", "Domain not found."),
            ("de", "Domain: free-name.de\nStatus: free"),
            ("uk", "    No match for \"free-name.co.uk\"."),
            ("eu", "Domain: free-name.eu\nStatus: AVAILABLE"),
            (
                "it",
                "Domain:   free-name.it\nStatus:             AVAILABLE",
            ),
            ("nl", "free-name.nl is free"),
            ("nz", "query_status: 220 Available"),
            ("jp", "No match!!"),
        ];
        for (tld, answer) in cases {
            assert_eq!(not_found(tld, answer), Some(Strength::Strong), ".{tld}");
        }
    }

    #[test]
    fn bare_not_found_is_weak_everywhere() {
        for tld in ["org", "info", "io", "com", "example"] {
            assert_eq!(
                not_found(tld, "NOT FOUND\r\n"),
                Some(Strength::Weak),
                ".{tld}"
            );
        }
    }

    #[test]
    fn generic_wording_from_a_listed_registry_is_weak() {
        assert_eq!(
            not_found("de", "No entries found for the selected source."),
            Some(Strength::Weak)
        );
        assert_eq!(
            not_found("example", "No entries found for the selected source."),
            Some(Strength::Strong)
        );
    }

    #[test]
    fn throttle_banners_win_over_not_found() {
        let banners = [
            "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS\nNOT FOUND",
            "Number of allowed queries exceeded.\nNOT FOUND",
            "Your access is too fast, please try again later.",
            "Quota exceeded",
            "Lookup quota exceeded",
            "%% excessive querying, access denied\nDomain not found.",
            "Rate limit exceeded. Try again after: 2026-01-01 00:01:00\nNo match for \"X.COM\".",
            "The WHOIS query quota for 192.0.2.1 has been exceeded and will be replenished in 23 seconds.",
        ];
        for banner in banners {
            assert!(
                matches!(
                    classify("org", banner, now()),
                    Classification::RateLimited { .. }
                ),
                "{banner}"
            );
        }
        assert_eq!(
            classify(
                "com",
                "Rate limit exceeded. Try again after: 2026-01-01 00:01:00",
                now()
            ),
            Classification::RateLimited {
                evidence: "Rate limit exceeded. Try again after: 2026-01-01 00:01:00".to_owned(),
                retry_after: Some(Duration::from_secs(60)),
            }
        );
    }

    #[test]
    fn reserved_wording_wins_over_not_found() {
        let answers = [
            (
                "xyz",
                "The queried object does not exist: Reserved by the registry",
            ),
            (
                "org",
                "This name is reserved by the Registry in accordance with ICANN Policy.",
            ),
            ("de", "Domain: a.de\nStatus: invalid"),
            ("it", "Domain: roma.it\nStatus: UNASSIGNABLE"),
            ("app", "This is a premium domain.\nDomain not found."),
            (
                "example",
                "The registration of this domain is restricted, as it is protected by the DPML",
            ),
        ];
        for (tld, answer) in answers {
            assert!(
                matches!(
                    classify(tld, answer, now()),
                    Classification::Reserved { .. }
                ),
                ".{tld}: {answer}"
            );
        }
    }

    #[test]
    fn status_lines_match_whole_words_only() {
        for answer in [
            "Domain: a.de\nStatus: freeze",
            "Domain: a.de\nStatus: freeø",
            "Domain: a.eu\nStatus: AVAILABLEX",
        ] {
            assert_eq!(not_found("de", answer), None, "{answer}");
            assert_eq!(not_found("eu", answer), None, "{answer}");
        }
        for answer in [
            "Status: free.",
            "Status: free (since 2026)",
            "Status: AVAILABLE ",
        ] {
            assert!(not_found("de", answer).is_some(), "{answer}");
        }
    }

    #[test]
    fn a_registration_record_matches_nothing() {
        let record = "   Domain Name: EXAMPLE.COM\r\n   Registrar: Example Registrar, Inc.\r\n   \
                      Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n";
        assert_eq!(classify("com", record, now()), Classification::Unmatched);
        assert_eq!(
            classify("com", "DOMAIN NOT FOUNDATION", now()),
            Classification::Unmatched
        );
    }

    #[test]
    fn query_formats_follow_the_registry() {
        assert_eq!(query_for("de", "example.de"), "-T dn,ace example.de");
        assert_eq!(query_for("jp", "example.jp"), "example.jp/e");
        assert_eq!(query_for("com", "example.com"), "example.com");
        assert_eq!(query_for("example", "a.example"), "a.example");
    }

    #[test]
    fn evidence_is_short() {
        let long = format!("No match for \"{}\".", "a".repeat(400));
        let Classification::NotFound { evidence, .. } = classify("com", &long, now()) else {
            panic!("not classified");
        };
        assert_eq!(evidence.chars().count(), MAX_EVIDENCE_CHARS + 1);
    }
}
