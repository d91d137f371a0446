//! Registry status vocabularies → EPP status codes.
//!
//! RDAP and WHOIS name a domain's registry statuses in many ways: RDAP's
//! `client hold` (RFC 8056), WHOIS's `clientHold https://icann.org/epp#clientHold`,
//! shouted `CLIENT HOLD`, snake case `server_hold`, several on one line
//! (`pendingDelete / redemptionPeriod` at Registro .it), and ccTLD words of
//! their own (`in quarantine` at SIDN). [`epp_statuses`] turns any of them
//! into EPP codes (RFC 5731 §2.3, RFC 3915 §3.1: `clientHold`,
//! `redemptionPeriod`, …) so that the verdict reads one vocabulary.
//!
//! ccTLD words are mapped to an EPP lifecycle code only where the registry's
//! own documentation gives them the same meaning (see [`VOCABULARIES`]);
//! every other word is kept in its normalised form, never dropped.

/// The EPP status codes: RFC 5731 §2.3 (domain statuses) and RFC 3915 §3.1
/// (registry grace period statuses).
const EPP_CODES: &[&str] = &[
    "ok",
    "inactive",
    "clientDeleteProhibited",
    "clientHold",
    "clientRenewProhibited",
    "clientTransferProhibited",
    "clientUpdateProhibited",
    "serverDeleteProhibited",
    "serverHold",
    "serverRenewProhibited",
    "serverTransferProhibited",
    "serverUpdateProhibited",
    "pendingCreate",
    "pendingDelete",
    "pendingRenew",
    "pendingTransfer",
    "pendingUpdate",
    "addPeriod",
    "autoRenewPeriod",
    "renewPeriod",
    "transferPeriod",
    "redemptionPeriod",
    "pendingRestore",
];

/// One registry's words that mean an EPP lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocabulary {
    /// The registry (and TLDs) using these words.
    pub registry: &'static str,
    /// Where the meaning is documented.
    pub source: &'static str,
    /// (word folded to lower-case letters and digits, EPP code).
    pub words: &'static [(&'static str, &'static str)],
}

/// ccTLD (and legacy gTLD) words with an EPP meaning. A word appears once
/// over all vocabularies, so no TLD is needed to read it.
pub static VOCABULARIES: &[Vocabulary] = &[
    Vocabulary {
        registry: "gTLD registries (ICANN RDDS) and RDAP (RFC 8056)",
        source: "RFC 3915 §3.1 names the auto-renew grace period `autoRenewPeriod`; \
                 several back ends print it as `AutoRenewGracePeriod`, and \
                 RFC 8056 §2 maps EPP `ok` to RDAP `active` (kept as `active`)",
        words: &[
            ("autorenewgraceperiod", "autoRenewPeriod"),
            ("redemptiongraceperiod", "redemptionPeriod"),
        ],
    },
    Vocabulary {
        registry: "Registro .it (and Traficom .fi for `Grace Period`)",
        source: "Registro .it technical guidelines (synchronous registration system), \
                 section on domain name statuses: statuses are written \
                 `<status> / <sub-status>` (`pendingDelete / redemptionPeriod`, \
                 `inactive / noRegistrar`); the pre-2010 WHOIS used `GRACE-PERIOD` \
                 (renewal grace after expiry), `PENDING-DELETE` and \
                 `REDEMPTION-NO-PROVIDER` (redemption of a name without registrar); \
                 Traficom's .fi WHOIS shows `Grace Period` for the renewal grace \
                 after expiry, before the name is released on its `available:` date",
        words: &[
            ("graceperiod", "autoRenewPeriod"),
            ("redemptionnoprovider", "redemptionPeriod"),
        ],
    },
    Vocabulary {
        registry: "SIDN (.nl)",
        source: "SIDN's documentation of quarantine and its WHOIS: a cancelled .nl name \
                 is `in quarantine` for 40 days, during which only the last holder can \
                 have it restored through a registrar (the redemption period), and \
                 `Date out of quarantine` is when it is released",
        words: &[("inquarantine", "redemptionPeriod")],
    },
    Vocabulary {
        registry: "CIRA (.ca), WHOIS before the 2014 EPP migration",
        source: "CIRA's domain lifecycle as its WHOIS showed it: `redemption` (after \
                 deletion, still restorable by the registrant), `pending delete` (no \
                 longer restorable, then released), `auto-renew grace` (after expiry)",
        words: &[
            ("redemption", "redemptionPeriod"),
            ("autorenewgrace", "autoRenewPeriod"),
        ],
    },
];

/// Turns one status value into its EPP code: the first status of
/// [`epp_statuses`], or an empty string when there is none.
pub fn epp_status(raw: &str) -> String {
    epp_statuses(raw).into_iter().next().unwrap_or_default()
}

/// Turns a status value into EPP codes: splits it on `/`, `,`, `;` and
/// ` - `, drops URLs and parenthesised notes, and normalises each part
/// (`client hold`, `CLIENT_HOLD`, `clientHold https://…` → `clientHold`;
/// `in quarantine` → `redemptionPeriod`). Unknown words are kept in
/// camelCase. An explanation after ` - ` (`clientHold - status prevents …`)
/// is dropped when the value also names a status.
pub fn epp_statuses(raw: &str) -> Vec<String> {
    let cleaned = without_notes(raw);
    let mut parts: Vec<Vec<String>> = Vec::new();
    for part in cleaned
        .split(['/', ',', ';'])
        .flat_map(|part| part.split(" - "))
    {
        let words: Vec<String> = part
            .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| w.chars().any(char::is_alphabetic))
            .map(str::to_owned)
            .collect();
        if !words.is_empty() {
            parts.push(words);
        }
    }
    let has_short_part = parts.iter().any(|w| w.len() <= MAX_STATUS_WORDS);
    let mut codes: Vec<String> = Vec::new();
    for words in parts {
        if has_short_part && words.len() > MAX_STATUS_WORDS && known(&fold(&words)).is_none() {
            // Prose explaining the status next to it, not a status.
            continue;
        }
        let code = normalise(&words);
        if !code.is_empty() && !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// Most words an EPP status has (`client transfer prohibited`).
const MAX_STATUS_WORDS: usize = 3;

/// The value without URLs and `(…)` notes: `ok (paid and in zone)` → `ok`.
fn without_notes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0_usize;
    for c in raw.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .filter(|word| !word.contains("://"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lower-case letters and digits of all words: the lookup key.
fn fold(words: &[String]) -> String {
    words
        .iter()
        .flat_map(|w| w.chars())
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The EPP code a folded word stands for, if any.
fn known(folded: &str) -> Option<&'static str> {
    EPP_CODES
        .iter()
        .copied()
        .find(|code| code.eq_ignore_ascii_case(folded))
        .or_else(|| {
            VOCABULARIES
                .iter()
                .flat_map(|v| v.words)
                .find(|(word, _)| *word == folded)
                .map(|(_, code)| *code)
        })
}

/// One part's words as an EPP code, or as camelCase when unknown.
fn normalise(words: &[String]) -> String {
    if let Some(code) = known(&fold(words)) {
        return code.to_owned();
    }
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        let mixed = word.chars().any(char::is_lowercase) && word.chars().any(char::is_uppercase);
        let mut chars = word.chars();
        let Some(first) = chars.next() else { continue };
        if i == 0 {
            out.extend(first.to_lowercase());
        } else {
            out.extend(first.to_uppercase());
        }
        if mixed {
            // Already camelCase (`noRegistrar`): keep its inner capitals.
            out.extend(chars);
        } else {
            out.extend(chars.flat_map(char::to_lowercase));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(raw: &str) -> Vec<String> {
        epp_statuses(raw)
    }

    #[test]
    fn rdap_and_whois_forms_become_epp_codes() {
        let cases = [
            ("client hold", "clientHold"),
            ("redemption period", "redemptionPeriod"),
            ("pending delete", "pendingDelete"),
            ("auto renew period", "autoRenewPeriod"),
            ("active", "active"),
            (
                "clientTransferProhibited https://icann.org/epp#clientTransferProhibited",
                "clientTransferProhibited",
            ),
            (
                "serverHold (https://icann.org/epp#serverHold)",
                "serverHold",
            ),
            ("PendingDelete", "pendingDelete"),
            ("ACTIVE", "active"),
            ("PENDING DELETE", "pendingDelete"),
            ("RENEWPERIOD", "renewPeriod"),
            ("CLIENT TRANSFER PROHIBITED", "clientTransferProhibited"),
            ("server_delete_prohibited", "serverDeleteProhibited"),
            ("AutoRenewGracePeriod", "autoRenewPeriod"),
            ("Connected (2027/03/31)", "connected"),
        ];
        for (raw, code) in cases {
            assert_eq!(statuses(raw), [code], "{raw}");
            assert_eq!(epp_status(raw), code, "{raw}");
        }
        assert_eq!(epp_status(""), "");
    }

    #[test]
    fn several_statuses_on_one_line_are_split() {
        assert_eq!(
            statuses("pendingDelete / redemptionPeriod"),
            ["pendingDelete", "redemptionPeriod"]
        );
        assert_eq!(
            statuses("server_delete_prohibited, server_transfer_prohibited"),
            ["serverDeleteProhibited", "serverTransferProhibited"]
        );
        assert_eq!(
            statuses("clientUpdateProhibited; clientHold"),
            ["clientUpdateProhibited", "clientHold"]
        );
        assert_eq!(
            statuses("REGISTERED, DELEGATED, VERIFIED"),
            ["registered", "delegated", "verified"]
        );
        assert_eq!(statuses("pendingDelete / pendingDelete"), ["pendingDelete"]);
    }

    #[test]
    fn explanations_after_a_dash_are_not_statuses() {
        assert_eq!(
            statuses("clientTransferProhibited - status prohibits domain transfer"),
            ["clientTransferProhibited"]
        );
        // Hyphens inside a word are not separators.
        assert_eq!(statuses("PENDING-DELETE"), ["pendingDelete"]);
        // A lone long value is kept, never dropped.
        assert_eq!(
            statuses("Registered until expiry date"),
            ["registeredUntilExpiryDate"]
        );
    }

    #[test]
    fn registro_it_statuses() {
        assert_eq!(
            statuses("pendingDelete / redemptionPeriod"),
            ["pendingDelete", "redemptionPeriod"]
        );
        assert_eq!(
            statuses("inactive / noRegistrar"),
            ["inactive", "noRegistrar"]
        );
        assert_eq!(
            statuses("inactive / clientHold"),
            ["inactive", "clientHold"]
        );
        assert_eq!(statuses("ok / autoRenewPeriod"), ["ok", "autoRenewPeriod"]);
        assert_eq!(statuses("GRACE-PERIOD"), ["autoRenewPeriod"]);
        assert_eq!(statuses("REDEMPTION-NO-PROVIDER"), ["redemptionPeriod"]);
        assert_eq!(statuses("UNASSIGNABLE"), ["unassignable"]);
    }

    #[test]
    fn sidn_cira_traficom_and_eis_words() {
        assert_eq!(statuses("in quarantine"), ["redemptionPeriod"]);
        assert_eq!(statuses("redemption"), ["redemptionPeriod"]);
        assert_eq!(statuses("ok (paid and in zone)"), ["ok"]);
        // EIS writes EPP codes with a note; its registry-only codes are kept.
        assert_eq!(
            statuses("serverForceDelete (Domain will be deleted)"),
            ["serverForceDelete"]
        );
        assert_eq!(statuses("Grace Period"), ["autoRenewPeriod"]);
    }

    #[test]
    fn unknown_words_are_kept() {
        assert_eq!(statuses("connect"), ["connect"]);
        assert_eq!(statuses("OK-UNTIL 20140903121852"), ["okUntil"]);
        assert_eq!(statuses("Transfer Locked"), ["transferLocked"]);
        assert_eq!(statuses("noRegistrar"), ["noRegistrar"]);
    }

    #[test]
    fn each_word_has_one_meaning() {
        let mut seen = std::collections::HashSet::new();
        for (word, code) in VOCABULARIES.iter().flat_map(|v| v.words) {
            assert!(seen.insert(*word), "{word} is listed twice");
            assert!(EPP_CODES.contains(code), "{word} maps to {code}, not EPP");
            assert_eq!(
                *word,
                word.to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
            );
        }
    }
}
