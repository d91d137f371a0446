//! Where a name stands before any check is run ([`Standing`]): registrable,
//! withheld by a reserved list, or under a privately run suffix that no
//! configured server speaks for. Pure look-ups, built once at start-up.
//!
//! # Reserved lists
//!
//! Reserved and premium names look free to DNS, RDAP and WHOIS alike, so the
//! verdict needs to be told. Built in: the labels ICANN Registry Agreement
//! Specification 5 withholds at the second level of every gTLD (`example`,
//! `nic`, `www`, `whois`, `rdds`, `iris`, the ISO 3166-1 country and
//! territory names, the Red Cross and Olympic names), in `spec5.txt`; they
//! apply to gTLDs only (ICANN-section TLDs longer than two letters) except
//! `.com` and `.net`, whose registry agreements have no Specification 5, and
//! labels are compared with their hyphens removed. Two-character labels are
//! not included: ICANN has authorised their release at most gTLDs.
//!
//! Users add registry lists (premium, reserved, blocked) with
//! `RESERVED_NAMES=path[,path…]`, files with one entry per line:
//!
//! ```text
//! # comment
//! vip.example           premium at 2,500 USD   ← a name, and why
//! casino.*                                     ← a label under every suffix
//! !france.example                              ← released: not reserved
//! ```

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use crate::{
    config::CheckerArgs,
    domain_name::{DomainName, SuffixSection},
    verdict::Standing,
};

/// The Specification 5 labels, one per line.
const SPEC5: &str = include_str!("spec5.txt");
/// gTLDs whose registry agreements carry no Specification 5.
const WITHOUT_SPEC5: &[&str] = &["com", "net"];

/// Why a reserved list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read the reserved-names list {path} (RESERVED_NAMES): {source}")]
    Read {
        /// The file (`RESERVED_NAMES`).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Lines that are neither a registrable name, `label.*` nor `!name`.
    #[error(
        "reserved-names list {path} (RESERVED_NAMES): {} bad entr{}; each line is a registrable name (vip.example), a label under every suffix (casino.*) or a release (!france.example):\n{}",
        problems.len(),
        if problems.len() == 1 { "y" } else { "ies" },
        problems.join("\n")
    )]
    Entries {
        /// The file.
        path: PathBuf,
        /// One line per bad entry: `line N: "entry": why`.
        problems: Vec<String>,
    },
}

/// Reserved names: the built-in Specification 5 labels plus users' lists.
#[derive(Debug, Clone, Default)]
pub struct ReservedNames {
    /// Labels withheld at the second level of every gTLD, hyphens removed.
    gtld_labels: HashSet<String>,
    /// Labels withheld under every suffix (users' `label.*`) → reason.
    labels: HashMap<String, String>,
    /// Whole names → reason.
    names: HashMap<String, String>,
    /// Names a list released (`!name`): never reserved by a label rule.
    released: HashSet<String>,
}

impl ReservedNames {
    /// The built-in Specification 5 labels only.
    pub fn builtin() -> Self {
        let gtld_labels = SPEC5
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            gtld_labels,
            ..Self::default()
        }
    }

    /// The built-in labels plus the lists at `paths`.
    pub fn load(paths: &[PathBuf]) -> Result<Self, Error> {
        let mut names = Self::builtin();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            names.add_list(path, &text)?;
        }
        Ok(names)
    }

    /// Adds the entries of one list (see the module documentation); every
    /// bad entry is reported at once, and nothing is added then.
    pub fn add_list(&mut self, path: &Path, text: &str) -> Result<(), Error> {
        let mut problems = Vec::new();
        let mut added = Self::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            let Some(entry) = line.split_whitespace().next() else {
                continue;
            };
            let reason = line[entry.len()..].trim();
            let reason = if reason.is_empty() {
                format!("listed in {}", path.display())
            } else {
                format!("{reason} (listed in {})", path.display())
            };
            let mut bad = |why: String| {
                problems.push(format!("line {}: {entry:?}: {why}", index + 1));
            };
            if entry.starts_with("*.") {
                bad("a wildcard is written label.* (the label, then .*)".to_owned());
            } else if let Some(label) = entry.strip_suffix(".*") {
                match DomainName::parse(&format!("{label}.example")) {
                    Ok(probe) if !label.contains('.') => {
                        let label = probe.labels().next().unwrap_or_default().to_owned();
                        added.labels.insert(label, reason);
                    }
                    Ok(_) => bad("label.* takes one label, without dots".to_owned()),
                    Err(_) => bad(format!("{label:?} is not a valid label")),
                }
            } else if let Some(name) = entry.strip_prefix('!') {
                match DomainName::parse(name) {
                    Ok(name) => {
                        added.released.insert(name.as_str().to_owned());
                    }
                    Err(e) => bad(e.to_string()),
                }
            } else {
                match DomainName::parse(entry) {
                    Ok(name) => {
                        added.names.insert(name.as_str().to_owned(), reason);
                    }
                    Err(e) => bad(e.to_string()),
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::Entries {
                path: path.to_owned(),
                problems,
            });
        }
        self.labels.extend(added.labels);
        self.names.extend(added.names);
        self.released.extend(added.released);
        Ok(())
    }

    /// Why `domain` is reserved, if a list says it is.
    pub fn reason(&self, domain: &DomainName) -> Option<String> {
        if let Some(reason) = self.names.get(domain.as_str()) {
            return Some(reason.clone());
        }
        if self.released.contains(domain.as_str()) {
            return None;
        }
        let label = domain.labels().next().unwrap_or_default();
        if let Some(reason) = self.labels.get(label) {
            return Some(reason.clone());
        }
        let suffix = domain.public_suffix();
        let gtld = suffix.section == SuffixSection::Icann
            && !suffix.name.contains('.')
            && suffix.name.len() > 2
            && !WITHOUT_SPEC5.contains(&suffix.name);
        let bare: String = label.chars().filter(|c| *c != '-').collect();
        (gtld && self.gtld_labels.contains(&bare)).then(|| {
            format!(
                "ICANN Registry Agreement Specification 5 withholds {label:?} at the second level of gTLDs"
            )
        })
    }
}

/// Decides [`Standing`] for names: reserved lists and private-suffix routes.
#[derive(Debug, Clone, Default)]
pub struct Standings {
    reserved: ReservedNames,
    /// Suffixes with an RDAP or WHOIS override (lower case, no dots at the ends).
    routed: HashSet<String>,
}

impl Standings {
    /// From reserved names and the suffixes that have a server override.
    pub fn new(reserved: ReservedNames, routed: impl IntoIterator<Item = String>) -> Self {
        Self {
            reserved,
            routed: routed
                .into_iter()
                .map(|s| s.trim_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// From the checker settings: `RESERVED_NAMES` and the RDAP/WHOIS overrides.
    pub fn from_args(args: &CheckerArgs) -> Result<Self, Error> {
        let reserved = ReservedNames::load(&args.reserved_names.0)?;
        let routed = args
            .rdap_overrides
            .keys()
            .chain(args.whois_overrides.keys())
            .cloned();
        Ok(Self::new(reserved, routed))
    }

    /// Where `domain` stands.
    pub fn of(&self, domain: &DomainName) -> Standing {
        if let Some(reason) = self.reserved.reason(domain) {
            return Standing::Reserved { reason };
        }
        let suffix = domain.public_suffix();
        if suffix.section == SuffixSection::Private {
            // An override for the private suffix, or for a longer suffix of
            // the name, routes it to its own registry; one for the TLD does not.
            let routed = self.routed.iter().any(|key| {
                (key == suffix.name || key.ends_with(&format!(".{}", suffix.name)))
                    && (domain.as_str() == key || domain.as_str().ends_with(&format!(".{key}")))
            });
            if !routed {
                return Standing::UnroutedPrivate {
                    suffix: suffix.name.to_owned(),
                };
            }
        }
        Standing::Registrable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    #[test]
    fn specification_5_applies_to_gtlds_only() {
        let reserved = ReservedNames::builtin();
        for gtld in [
            "nic.xyz",
            "www.shop",
            "example.org",
            "france.app",
            "united-kingdom.org",
            "olympic.info",
        ] {
            let reason = reserved.reason(&name(gtld));
            assert!(
                reason
                    .as_deref()
                    .is_some_and(|r| r.contains("Specification 5")),
                "{gtld}: {reason:?}"
            );
        }
        for free in [
            "nic.de",
            "example.co.uk",
            "nicely.org",
            "france.com",
            "nic.net",
            "france.test",
            "shop-example.com",
        ] {
            assert_eq!(reserved.reason(&name(free)), None, "{free}");
        }
    }

    #[test]
    fn user_lists_add_names_labels_and_releases() {
        let mut reserved = ReservedNames::builtin();
        let list = "# premium names of the .example registry\n\
                    vip.example   premium at 2,500 USD\n\
                    casino.*\n\
                    !france.app\n\n";
        reserved.add_list(Path::new("premium.txt"), list).unwrap();
        assert_eq!(
            reserved.reason(&name("vip.example")).as_deref(),
            Some("premium at 2,500 USD (listed in premium.txt)")
        );
        assert!(reserved.reason(&name("casino.test")).is_some());
        assert_eq!(reserved.reason(&name("france.app")), None, "released");
        assert!(reserved.reason(&name("germany.app")).is_some());
    }

    #[test]
    fn a_bad_list_entry_names_its_file_and_line() {
        let err = ReservedNames::builtin()
            .add_list(
                Path::new("r.txt"),
                "ok.example\nco.uk\nhttp://x\n*.example\nok.*\n",
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.txt (RESERVED_NAMES): 3 bad entries"),
            "{err}"
        );
        assert!(err.contains("line 2: \"co.uk\""), "{err}");
        assert!(err.contains("public suffix"), "{err}");
        assert!(err.contains("line 3: \"http://x\""), "{err}");
        assert!(
            err.contains("line 4: \"*.example\": a wildcard is written label.*"),
            "{err}"
        );
    }

    #[test]
    fn private_suffixes_need_their_own_route() {
        let unrouted = Standings::new(ReservedNames::default(), ["net".to_owned()]);
        assert_eq!(
            unrouted.of(&name("shop-example.in.net")),
            Standing::UnroutedPrivate {
                suffix: "in.net".to_owned()
            }
        );
        assert_eq!(unrouted.of(&name("example.net")), Standing::Registrable);
        let routed = Standings::new(ReservedNames::default(), ["in.net".to_owned()]);
        assert_eq!(
            routed.of(&name("shop-example.in.net")),
            Standing::Registrable
        );
    }
}
