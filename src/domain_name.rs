//! Domain names as the operator stores and reports them: lower-case A-labels.
//!
//! Users hand us Unicode (IDN), mixed case and trailing dots; every other module
//! works on a [`DomainName`], which is always the normalised ASCII form.
//!
//! A [`DomainName`] is also always a *registrable* domain per the Public
//! Suffix List (the `psl` crate, which compiles Mozilla's list in): one label
//! under a public suffix. `co.uk` (a suffix) and `www.example.com` (a name
//! inside a registered domain) cannot be registered and are refused with a
//! message naming what to watch instead. Names under a suffix of the list's
//! PRIVATE section (`uk.com`, `in.net`, `github.io`) are allowed but carry
//! [`SuffixSection::Private`]: they are sold by a private registry, not by the
//! TLD's, and [`DomainName::public_suffix`] says which.

use std::fmt;

/// Longest domain name in presentation form, without the trailing dot (RFC 1035).
const MAX_NAME_LEN: usize = 253;
/// Longest single label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// Why a name cannot be monitored. Each message names the input and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDomain {
    /// Nothing but white space and dots was given.
    #[error("the domain name is empty")]
    Empty,
    /// The name holds white space, a URL or an e-mail address rather than a name.
    #[error(
        "{input:?} is not a domain name: remove the {what} (give only a name such as example.com)"
    )]
    NotAName {
        /// The name as given.
        input: String,
        /// What was found in it.
        what: &'static str,
    },
    /// IDNA (UTS #46) processing rejected the name.
    #[error(
        "{input:?} is not a valid domain name: it contains characters that IDNA does not allow in host names"
    )]
    Idna {
        /// The name as given.
        input: String,
    },
    /// A bare TLD or single label cannot be registered.
    #[error(
        "{input:?} is not a registrable domain: it needs at least two labels, such as example.com"
    )]
    SingleLabel {
        /// The name as given.
        input: String,
    },
    /// The whole name exceeds 253 characters.
    #[error("{input:?} is too long: {len} characters in A-label form, at most 253 are allowed")]
    TooLong {
        /// The name as given.
        input: String,
        /// Its length after normalisation.
        len: usize,
    },
    /// Two dots in a row, or a leading dot.
    #[error("{input:?} has an empty label (two dots in a row or a leading dot)")]
    EmptyLabel {
        /// The name as given.
        input: String,
    },
    /// One label exceeds 63 characters.
    #[error("{input:?} has a label of {len} characters ({label:?}); at most 63 are allowed")]
    LabelTooLong {
        /// The name as given.
        input: String,
        /// The offending label.
        label: String,
        /// Its length.
        len: usize,
    },
    /// A label starts or ends with a hyphen.
    #[error("{input:?} has a label that starts or ends with a hyphen ({label:?})")]
    HyphenAtEdge {
        /// The name as given.
        input: String,
        /// The offending label.
        label: String,
    },
    /// The top-level label is all digits, so this is an IP address or garbage.
    #[error("{input:?} looks like an IP address, not a domain name")]
    NumericTld {
        /// The name as given.
        input: String,
    },
    /// The name is itself a public suffix (ICANN section of the Public
    /// Suffix List): names are registered under it, never it.
    #[error(
        "{input:?} is a public suffix, not a registrable domain: names are registered under it (watch e.g. example.{name})"
    )]
    PublicSuffix {
        /// The name as given.
        input: String,
        /// Its A-label form.
        name: String,
    },
    /// The name lies inside a registrable domain (`www.example.com`): only
    /// the registrable domain can be registered or dropped.
    #[error(
        "{input:?} is not a registrable domain: it is a name inside {registrable}; watch {registrable} instead"
    )]
    Subdomain {
        /// The name as given.
        input: String,
        /// The registrable domain that holds it.
        registrable: String,
    },
}

/// Which section of the Public Suffix List a name's suffix comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuffixSection {
    /// A suffix run by an ICANN-delegated registry (`com`, `co.uk`).
    Icann,
    /// A suffix run privately under a registered domain (`uk.com`, `in.net`):
    /// its names are unknown to the TLD's registry.
    Private,
    /// A TLD the list does not know (test and private TLDs): taken as its own
    /// registry.
    Unlisted,
}

impl SuffixSection {
    /// The word used in reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Icann => "icann",
            Self::Private => "private",
            Self::Unlisted => "unlisted",
        }
    }
}

/// The public suffix a registrable domain is registered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicSuffix<'a> {
    /// The suffix, e.g. `co.uk` or `uk.com`.
    pub name: &'a str,
    /// Where the list has it.
    pub section: SuffixSection,
}

/// A validated domain name: lower-case A-labels, no trailing dot, two or more labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Normalises user input (IDN, mixed case, one trailing dot) into a
    /// [`DomainName`], or explains why it is not one.
    pub fn parse(input: &str) -> Result<Self, InvalidDomain> {
        let trimmed = input.trim();
        let without_root = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if without_root.is_empty() {
            return Err(InvalidDomain::Empty);
        }
        if let Some(what) = not_a_name(without_root) {
            return Err(InvalidDomain::NotAName {
                input: input.to_owned(),
                what,
            });
        }
        if without_root.starts_with('.') || without_root.contains("..") {
            return Err(InvalidDomain::EmptyLabel {
                input: input.to_owned(),
            });
        }
        // STD3 rules only; length and hyphen rules are checked below so that the
        // error can say exactly which rule failed.
        let ascii = idna::domain_to_ascii_cow(without_root.as_bytes(), idna::AsciiDenyList::STD3)
            .map_err(|_| InvalidDomain::Idna {
            input: input.to_owned(),
        })?;
        check_ascii_name(input, &ascii)?;
        check_registrable(input, &ascii)?;
        Ok(Self(ascii.into_owned()))
    }

    /// The public suffix the name is registered under: the PRIVATE-section
    /// suffix when one applies (`uk.com` for `shop.uk.com`), else the ICANN
    /// one (`co.uk`), else the TLD for a TLD the list does not know.
    pub fn public_suffix(&self) -> PublicSuffix<'_> {
        let (_, suffix) = self.0.split_once('.').unwrap_or(("", &self.0));
        let section = if is_icann_suffix(suffix) {
            SuffixSection::Icann
        } else if psl::suffix(suffix.as_bytes()).is_some_and(|s| {
            s.typ() == Some(psl::Type::Private) && s.as_bytes() == suffix.as_bytes()
        }) {
            SuffixSection::Private
        } else {
            SuffixSection::Unlisted
        };
        PublicSuffix {
            name: suffix,
            section,
        }
    }

    /// The A-label form, e.g. `xn--bcher-kva.example`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The top-level label, e.g. `com`.
    pub fn tld(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or(&self.0)
    }

    /// The labels from left to right.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('.')
    }

    /// The Unicode form for people, e.g. `bücher.example`; the A-label form when
    /// it does not decode.
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        if result.is_ok() {
            unicode
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for DomainName {
    type Err = InvalidDomain;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Spots the common mistakes of pasting a URL, an address or a list entry.
fn not_a_name(input: &str) -> Option<&'static str> {
    if input.chars().any(char::is_whitespace) {
        Some("white space")
    } else if input.contains("://") || input.contains('/') {
        Some("URL scheme or path")
    } else if input.contains('@') {
        Some("e-mail user part")
    } else if input.contains(':') {
        Some("port")
    } else {
        None
    }
}

fn check_ascii_name(input: &str, ascii: &str) -> Result<(), InvalidDomain> {
    if ascii.len() > MAX_NAME_LEN {
        return Err(InvalidDomain::TooLong {
            input: input.to_owned(),
            len: ascii.len(),
        });
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.iter().any(|label| label.is_empty()) {
        return Err(InvalidDomain::EmptyLabel {
            input: input.to_owned(),
        });
    }
    if labels.len() < 2 {
        return Err(InvalidDomain::SingleLabel {
            input: input.to_owned(),
        });
    }
    for label in &labels {
        if label.len() > MAX_LABEL_LEN {
            return Err(InvalidDomain::LabelTooLong {
                input: input.to_owned(),
                label: (*label).to_owned(),
                len: label.len(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(InvalidDomain::HyphenAtEdge {
                input: input.to_owned(),
                label: (*label).to_owned(),
            });
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(InvalidDomain::NumericTld {
            input: input.to_owned(),
        });
    }
    Ok(())
}

/// Looks `domain` up by its suffixes, longest first (`a.b.co.uk`, `b.co.uk`,
/// `co.uk`, `uk`): how the RDAP bootstrap (RFC 9224 allows entries longer
/// than a TLD) and the RDAP and WHOIS overrides (a private registry such as
/// `uk.com`) find a name's server.
pub fn longest_suffix_match<'t, T>(
    domain: &str,
    lookup: impl Fn(&str) -> Option<&'t T>,
) -> Option<&'t T> {
    let domain = domain.trim_end_matches('.');
    std::iter::once(domain)
        .chain(domain.match_indices('.').map(|(i, _)| &domain[i + 1..]))
        .find_map(lookup)
}

/// The ICANN-section public suffix of `name` (lower-case A-labels): its
/// longest tail that the list has as an ICANN rule, or its TLD when the list
/// does not know the TLD. Private rules are skipped: a private suffix is
/// itself a name registered under an ICANN one.
fn icann_suffix(name: &str) -> &str {
    let mut best = name.rsplit('.').next().unwrap_or(name);
    let mut at = name.len();
    while let Some(dot) = name[..at].rfind('.') {
        let tail = &name[dot + 1..];
        if is_icann_suffix(tail) {
            best = tail;
        }
        at = dot;
    }
    if is_icann_suffix(name) { name } else { best }
}

fn is_icann_suffix(tail: &str) -> bool {
    psl::suffix(tail.as_bytes())
        .is_some_and(|s| s.typ() == Some(psl::Type::Icann) && s.as_bytes() == tail.as_bytes())
}

/// Refuses public suffixes and names inside a registrable domain.
fn check_registrable(input: &str, ascii: &str) -> Result<(), InvalidDomain> {
    let icann = icann_suffix(ascii);
    if ascii == icann {
        return Err(InvalidDomain::PublicSuffix {
            input: input.to_owned(),
            name: ascii.to_owned(),
        });
    }
    let under = |suffix: &str| {
        ascii
            .strip_suffix(suffix)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    };
    if under(icann) {
        return Ok(());
    }
    // One label under a private suffix (`shop.uk.com`) is registrable there.
    if let Some(private) = psl::suffix(ascii.as_bytes())
        .filter(|s| s.typ() == Some(psl::Type::Private))
        .and_then(|s| std::str::from_utf8(s.as_bytes()).ok())
        && under(private)
    {
        return Ok(());
    }
    let registrable = psl::domain_str(ascii).filter(|d| *d != ascii).map_or_else(
        || {
            let keep = icann.split('.').count() + 1;
            let labels: Vec<&str> = ascii.split('.').collect();
            labels[labels.len().saturating_sub(keep)..].join(".")
        },
        str::to_owned,
    );
    Err(InvalidDomain::Subdomain {
        input: input.to_owned(),
        registrable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_trailing_dot_and_idn() {
        assert_eq!(
            DomainName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            DomainName::parse("Bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            DomainName::parse("  münchen.de ").unwrap().as_str(),
            "xn--mnchen-3ya.de"
        );
        assert_eq!(
            DomainName::parse("xn--mnchen-3ya.de").unwrap().to_unicode(),
            "münchen.de"
        );
    }

    #[test]
    fn rejects_what_is_not_a_registrable_name() {
        let cases = [
            ("", "empty"),
            (".", "empty"),
            ("com", "at least two labels"),
            ("exa mple.com", "white space"),
            ("https://example.com/", "URL"),
            ("user@example.com", "e-mail"),
            ("example.com:443", "port"),
            ("example..com", "empty label"),
            (".example.com", "empty label"),
            ("-example.com", "hyphen"),
            ("example-.com", "hyphen"),
            ("exa_mple.com", "IDNA"),
            ("192.168.0.1", "IP address"),
        ];
        for (input, expected) in cases {
            let err = DomainName::parse(input).expect_err(input).to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn enforces_length_limits() {
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            DomainName::parse(&long_label),
            Err(InvalidDomain::LabelTooLong { len: 64, .. })
        ));
        let ok_label = format!("{}.com", "a".repeat(63));
        assert!(DomainName::parse(&ok_label).is_ok());
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(matches!(
            DomainName::parse(&long_name),
            Err(InvalidDomain::TooLong { .. })
        ));
    }

    #[test]
    fn exposes_tld_and_labels() {
        let name = DomainName::parse("example.co.uk").unwrap();
        assert_eq!(name.tld(), "uk");
        assert_eq!(name.labels().count(), 3);
    }

    #[test]
    fn only_registrable_domains_are_accepted() {
        for (input, expected) in [
            ("co.uk", "is a public suffix"),
            ("com", "at least two labels"),
            ("www.example.com", "watch example.com instead"),
            ("a.b.example.co.uk", "watch example.co.uk instead"),
            ("www.shop.uk.com", "watch shop.uk.com instead"),
            ("mail.example.test", "watch example.test instead"),
        ] {
            let err = DomainName::parse(input).expect_err(input).to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
        for ok in [
            "example.com",
            "example.co.uk",
            "shop.uk.com",
            "example.test",
        ] {
            assert!(DomainName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn private_suffixes_are_told_apart_from_icann_ones() {
        let suffix = |d: &str| {
            let name = DomainName::parse(d).unwrap();
            let s = name.public_suffix();
            (s.name.to_owned(), s.section)
        };
        assert_eq!(
            suffix("shop-example.in.net"),
            ("in.net".to_owned(), SuffixSection::Private)
        );
        assert_eq!(
            suffix("brand.uk.com"),
            ("uk.com".to_owned(), SuffixSection::Private)
        );
        assert_eq!(
            suffix("example.co.uk"),
            ("co.uk".to_owned(), SuffixSection::Icann)
        );
        assert_eq!(
            suffix("example.com"),
            ("com".to_owned(), SuffixSection::Icann)
        );
        assert_eq!(
            suffix("drop.test"),
            ("test".to_owned(), SuffixSection::Unlisted)
        );
        // A private suffix is itself a domain registered under .com.
        assert_eq!(suffix("uk.com"), ("com".to_owned(), SuffixSection::Icann));
    }
}
