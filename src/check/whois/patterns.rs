//! The WHOIS pattern table: how each registry wants to be asked, how it
//! says "not found", "slow down", "go away" and "reserved", and how its
//! records are laid out.
//!
//! WHOIS has no status codes, only prose, and every registry words it
//! differently. [`PROFILES`] holds one [`TldProfile`] per registry family
//! (phrases, query format, record [`Layout`]: extra field names and the date
//! formats the registry is known to use); [`GENERIC`] is consulted for every
//! TLD (listed or not) and is all an unlisted TLD gets. To support a TLD, add
//! it to a family or add a profile, and add its free and registered answers
//! to `tests/data/whois/samples.txt`. Matching is case-insensitive and line
//! by line, with comment markers (`%`, `#`) stripped.
//!
//! The order of the checks is the safety argument of this module:
//! 1. rate-limit banners — a throttled server may also print `NOT FOUND`, and
//!    that must never read as "available";
//! 2. refusals of automated clients (`Requests of this client are not
//!    permitted`) — neither free nor a throttle to wait out;
//! 3. reserved / premium / blocked wording — such answers often also say
//!    "not found" or "does not exist";
//! 4. "not found" wording — the TLD's own phrases at their stated strength,
//!    generic phrases at [`Strength::Weak`] for a listed TLD (the registry is
//!    not known to say it that way) and at their own strength otherwise.
//!
//! Banners (1, 2) count only in a short paragraph of an answer that carries
//! no registration record: terms of use describe throttling ("queries from
//! one address are throttled … limit exceeded") in long paragraphs, and a
//! registrar's record may open with terms forbidding high-volume queries.
//! Phrases are never looked for in lines longer than a statement (terms of
//! use written on one line), and generic "not found" wording only in short
//! paragraphs.
//!
//! The phrases come from the registries' public WHOIS output and
//! documentation; `tests/data/whois/samples.txt` replays their wire
//! formats. The ignored tests `corpus_recognition` and
//! `flat_corpus_recognition` in `tests/whois_checker.rs` measure the table
//! against corpora of real answers.

use std::time::Duration;

use jiff::Timestamp;

use super::parse::{Field, Layout, parse_record_with, parse_retry_after};
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
    /// Field names and date formats of its records.
    pub layout: Layout,
}

impl TldProfile {
    /// A profile that adds nothing: the base of the table's entries.
    pub const NONE: Self = Self {
        tlds: &[],
        query: QueryFormat::PLAIN,
        not_found: &[],
        rate_limited: &[],
        reserved: &[],
        layout: Layout::GENERIC,
    };
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

/// `Not found: example.ca` (then a `%` terms block): CIRA, GoDaddy Registry
/// (ex-Neustar: .us, .biz, .co, .tel, .travel) and others.
const NOT_FOUND_COLON: NotFound = strong(LineStart("not found:"));

/// CoCCA's shared registry software (.cx, .gs, .ht, .mu, .tl, … and, in its
/// newer release, .ng, .sb, .mg): `Domain Status: No Object Found` or
/// `Domain Status: Available`.
const COCCA: &[NotFound] = &[
    strong(LineStart("domain status: no object found")),
    strong(LineStart("domain status: available")),
];

/// Day-first dates with dots (`31.01.2027`, `4.7.2027 10:15:55`), documented
/// by the registries that use them.
const DAY_DOT_MONTH: &[&str] = &["%d.%m.%Y %H:%M:%S", "%d.%m.%Y"];

/// The per-registry table. A TLD appears at most once. Sources: each
/// registry's published WHOIS answers (free and registered) and its WHOIS
/// documentation; the wire samples in the tests follow them.
pub static PROFILES: &[TldProfile] = &[
    // Verisign (thin registries: the answer names the registrar's server).
    TldProfile {
        tlds: &["com", "net", "cc", "tv", "name", "gov"],
        not_found: &[strong(Contains("no match for \""))],
        ..TldProfile::NONE
    },
    // Nominet's registry service for gTLDs (.cymru, .wales, .jobs since 2021):
    // Verisign's wording before.
    TldProfile {
        tlds: &["cymru", "wales", "jobs"],
        not_found: &[
            strong(Contains("this domain name has not been registered")),
            strong(Contains("no match for \"")),
        ],
        ..TldProfile::NONE
    },
    // EDUCAUSE (.edu): `NO MATCH: name.edu`.
    TldProfile {
        tlds: &["edu"],
        not_found: &[strong(LineStart("no match:"))],
        ..TldProfile::NONE
    },
    // Identity Digital (ex-Afilias, PIR's back end, ex-Donuts): `Domain not
    // found.` is specific; a bare `NOT FOUND` is also the throttle answer.
    TldProfile {
        tlds: &[
            "org", "info", "io", "ac", "sh", "mobi", "pro", "asia", "me", "in", "ag", "bz", "gi",
            "lc", "mn", "sc", "vc", "xxx", "post", "bike", "live", "email", "social",
        ],
        not_found: &[
            strong(Contains("domain not found")),
            strong(Contains("is available for purchase")),
            BARE_NOT_FOUND,
        ],
        rate_limited: &[Contains("whois limit exceeded")],
        reserved: &[
            Contains("reserved by registry"),
            Contains("reserved by dotasia"),
            Contains("reserved by icm registry"),
            Contains("name is reserved by afilias"),
        ],
        ..TldProfile::NONE
    },
    // CentralNic.
    TldProfile {
        tlds: &[
            "xyz", "online", "site", "space", "tech", "website", "store", "fun", "pw", "la",
            "college", "design", "wed",
        ],
        not_found: &[
            strong(Contains("the queried object does not exist")),
            strong(Line("domain not found")),
        ],
        reserved: &[
            Contains("reserved by the registry"),
            Contains("object cannot be registered"),
        ],
        ..TldProfile::NONE
    },
    // GoDaddy Registry (ex-Neustar).
    TldProfile {
        tlds: &["biz", "us", "co", "tel", "travel"],
        not_found: &[
            NOT_FOUND_COLON,
            strong(Contains("no data found")),
            strong(Contains("the queried object does not exist")),
            strong(Line("domain not found")),
        ],
        ..TldProfile::NONE
    },
    // Google Registry.
    TldProfile {
        tlds: &["dev", "app", "page", "how", "new"],
        not_found: &[strong(Contains("domain not found"))],
        ..TldProfile::NONE
    },
    // CoCCA registries.
    TldProfile {
        tlds: &[
            "cx", "gl", "gs", "hn", "ht", "ki", "ms", "mu", "nf", "tc", "tl", "bi", "af", "na",
            "iq", "gy", "cd", "mg", "ng", "sb", "sy", "ps",
        ],
        not_found: COCCA,
        ..TldProfile::NONE
    },
    // CIRA (.ca): `Not found: name.ca` then a `%` terms block; before its
    // 2014 EPP migration, `Domain status: available`.
    TldProfile {
        tlds: &["ca"],
        not_found: &[
            NOT_FOUND_COLON,
            strong(LineStart("domain status: available")),
        ],
        reserved: &[LineStart("domain status: unavailable")],
        ..TldProfile::NONE
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
        rate_limited: &[Contains("access control limit")],
        reserved: &[LineStart("status: invalid")],
        ..TldProfile::NONE
    },
    // Nominet (.uk) and Jisc (.ac.uk, .gov.uk share the suffix).
    TldProfile {
        tlds: &["uk"],
        not_found: &[
            strong(Contains("no match for")),
            strong(Contains("this domain name has not been registered")),
            strong(LineStart("no such domain")),
        ],
        rate_limited: &[Contains("query quota")],
        reserved: &[Contains("contravenes the nominet")],
        ..TldProfile::NONE
    },
    // EURid: its throttle answer is `-1: Still in grace period, wait N seconds`.
    TldProfile {
        tlds: &["eu"],
        not_found: &[strong(LineStart("status: available"))],
        rate_limited: &[Contains("still in grace period, wait")],
        reserved: &[
            LineStart("status: not allowed"),
            LineStart("status: blocked"),
        ],
        ..TldProfile::NONE
    },
    // DNS Belgium: `Registered: Wed Jan 16 2002`.
    TldProfile {
        tlds: &["be"],
        not_found: &[strong(LineStart("status: available"))],
        rate_limited: &[Contains("maximum queries per hour reached")],
        reserved: &[
            LineStart("status: not allowed"),
            LineStart("status: blocked"),
        ],
        layout: Layout {
            date_formats: &["%a %b %d %Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // Registro .it: `UNASSIGNABLE` marks reserved names.
    TldProfile {
        tlds: &["it"],
        not_found: &[strong(LineStart("status: available"))],
        reserved: &[
            LineStart("status: unassignable"),
            LineStart("status: reserved"),
        ],
        ..TldProfile::NONE
    },
    // SIDN: `example.nl is free`; `Date out of quarantine:` is the release.
    TldProfile {
        tlds: &["nl"],
        not_found: &[strong(Contains(" is free"))],
        rate_limited: &[
            Contains("maximum number of requests"),
            Contains("request per second allowed"),
        ],
        ..TldProfile::NONE
    },
    // InternetNZ: numeric query status.
    TldProfile {
        tlds: &["nz"],
        not_found: &[strong(Contains("220 available"))],
        rate_limited: &[Contains("440 request denied")],
        ..TldProfile::NONE
    },
    // JPRS: `/e` asks for English answers.
    TldProfile {
        tlds: &["jp"],
        query: QueryFormat {
            prefix: "",
            suffix: "/e",
        },
        not_found: &[strong(Contains("no match!!"))],
        ..TldProfile::NONE
    },
    // NASK (.pl): `REGISTRAR:` with the name on the next line; `renewal date`.
    TldProfile {
        tlds: &["pl"],
        not_found: &[strong(Contains(
            "no information available about domain name",
        ))],
        rate_limited: &[Contains("request limit exceeded")],
        layout: Layout {
            values_below: true,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // Internetstiftelsen (.se, .nu): `domain "x.se" not found.`
    TldProfile {
        tlds: &["se", "nu"],
        not_found: &[strong(Contains("\" not found"))],
        ..TldProfile::NONE
    },
    // KISA (.kr): Korean then English; dates `2027. 03. 01.`.
    TldProfile {
        tlds: &["kr"],
        not_found: &[
            strong(Contains("is not registered to krnic")),
            strong(Contains("requested domain was not found")),
        ],
        ..TldProfile::NONE
    },
    // HKIRC (.hk): day-first dates `31-03-2027`.
    TldProfile {
        tlds: &["hk"],
        not_found: &[strong(Contains("the domain has not been registered"))],
        layout: Layout {
            date_formats: &["%d-%m-%Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // TWNIC (.tw): `No Found`; `Record expires on 2027-01-01 (YYYY-MM-DD)`.
    TldProfile {
        tlds: &["tw"],
        not_found: &[strong(Line("no found"))],
        ..TldProfile::NONE
    },
    // CNNIC (.cn).
    TldProfile {
        tlds: &["cn"],
        not_found: &[strong(Contains("no matching record"))],
        reserved: &[Contains("the domain you requested is in the reserved list")],
        ..TldProfile::NONE
    },
    // Council of Hungarian Internet Providers (.hu): `Nincs találat / No match`.
    TldProfile {
        tlds: &["hu"],
        not_found: &[
            strong(Contains("nincs találat")),
            strong(Contains("nincs talalat")),
        ],
        ..TldProfile::NONE
    },
    // RNIDS (.rs): `%ERROR:103: Domain is not registered`; day-first dates.
    TldProfile {
        tlds: &["rs"],
        not_found: &[strong(Contains("domain is not registered"))],
        layout: Layout {
            fields: &[("dns", Field::Nameserver)],
            date_formats: DAY_DOT_MONTH,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // KazNIC (.kz): dotted keys (`Domain Name............:`).
    TldProfile {
        tlds: &["kz"],
        not_found: &[strong(Contains("nothing found for this query"))],
        ..TldProfile::NONE
    },
    // hoster.by (.by).
    TldProfile {
        tlds: &["by"],
        not_found: &[strong(Line("object does not exist"))],
        ..TldProfile::NONE
    },
    // IANA serves .int (and .arpa) on its own server.
    TldProfile {
        tlds: &["int", "arpa"],
        not_found: &[strong(Contains("this query returned 0 objects"))],
        ..TldProfile::NONE
    },
    // MuseDoma (.museum): `% Object "x.museum" NOT FOUND.`
    TldProfile {
        tlds: &["museum"],
        not_found: &[strong(Contains("\" not found"))],
        ..TldProfile::NONE
    },
    // SWITCH (.ch, .li): values on the line below their key, day-first
    // dates; automated clients are refused (see [`GENERIC`]'s refusals).
    TldProfile {
        tlds: &["ch", "li"],
        not_found: &[
            strong(Contains(
                "we do not have an entry in our database matching your query",
            )),
            strong(Line("the domain name is not registered")),
        ],
        layout: Layout {
            fields: &[("first registration date", Field::Created)],
            date_formats: DAY_DOT_MONTH,
            values_below: true,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // Traficom (.fi): `available:` is when an expired name is released.
    TldProfile {
        tlds: &["fi"],
        not_found: &[strong(Line("domain not found"))],
        reserved: &[Line("domain not available")],
        layout: Layout {
            fields: &[("available", Field::Deletion)],
            date_formats: DAY_DOT_MONTH,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // MONIC (.mo).
    TldProfile {
        tlds: &["mo"],
        not_found: &[strong(Contains("no match for \""))],
        ..TldProfile::NONE
    },
    // EIS (.ee): `expire:`, and `delete:` when deletion is scheduled.
    TldProfile {
        tlds: &["ee"],
        not_found: &[strong(Line("domain not found"))],
        layout: Layout {
            fields: &[("delete", Field::Deletion)],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // SK-NIC (.sk): `Valid Until:`; before 2017 keys without colons
    // (`Valid-date   2027-01-01`, `dns_name   ns1.example.sk`).
    TldProfile {
        tlds: &["sk"],
        not_found: &[strong(Line("domain not found")), strong(Line("not found"))],
        layout: Layout {
            fields: &[
                ("valid date", Field::Expires),
                ("dns name", Field::Nameserver),
            ],
            space_separated: true,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // AFNIC (.fr and overseas TLDs): day-first dates in its older format.
    TldProfile {
        tlds: &["fr", "re", "pm", "tf", "wf", "yt"],
        not_found: &[strong(Contains("no entries found in the afnic database"))],
        rate_limited: &[Line("too many requests")],
        layout: Layout {
            date_formats: &["%d/%m/%Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // nic.at (.at): `% nothing found`; `changed: 20270101 12:00:00`.
    TldProfile {
        tlds: &["at"],
        not_found: &[strong(Contains("nothing found"))],
        layout: Layout {
            date_formats: &["%Y%m%d %H:%M:%S"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // CZ.NIC (.cz): `%ERROR:101: no entries found`; day-first dates.
    TldProfile {
        tlds: &["cz"],
        not_found: &[strong(Contains("no entries found"))],
        rate_limited: &[Contains("connection limit exceeded")],
        layout: Layout {
            date_formats: DAY_DOT_MONTH,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // Coordination Center for TLD RU (.ru, .su, .рф): `free-date:`.
    TldProfile {
        tlds: &["ru", "su", "xn--p1ai"],
        not_found: &[strong(Contains("no entries found for the selected source"))],
        ..TldProfile::NONE
    },
    // Punktum dk (.dk).
    TldProfile {
        tlds: &["dk"],
        not_found: &[strong(Contains("no entries found for the selected source"))],
        ..TldProfile::NONE
    },
    // Registro.br (.br): `expires: 20270101`.
    TldProfile {
        tlds: &["br"],
        not_found: &[strong(Contains("no match for domain"))],
        ..TldProfile::NONE
    },
    // Norid (.no).
    TldProfile {
        tlds: &["no"],
        not_found: &[strong(Contains("no match"))],
        ..TldProfile::NONE
    },
    // ISNIC (.is).
    TldProfile {
        tlds: &["is"],
        not_found: &[strong(Contains("no entries found for query"))],
        ..TldProfile::NONE
    },
    // DOMREG (.lt) and NIC.LV (.lv).
    TldProfile {
        tlds: &["lt"],
        not_found: &[strong(LineStart("status: available"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["lv"],
        not_found: &[strong(LineStart("status: free"))],
        ..TldProfile::NONE
    },
    // DNS.PT (.pt): bilingual keys, dates labelled `(dd/mm/yyyy)`.
    TldProfile {
        tlds: &["pt"],
        not_found: &[strong(Contains(" no match"))],
        reserved: &[LineStart("estado / status: reserved")],
        layout: Layout {
            date_formats: &["%d/%m/%Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // ROTLD (.ro), Hostmaster (.ua), IRNIC (.ir).
    TldProfile {
        tlds: &["ro", "ua", "ir"],
        not_found: &[strong(Contains("no entries found"))],
        ..TldProfile::NONE
    },
    // TRABIS (.tr).
    TldProfile {
        tlds: &["tr"],
        not_found: &[strong(Contains("no match found for"))],
        ..TldProfile::NONE
    },
    // ISOC-IL (.il).
    TldProfile {
        tlds: &["il"],
        not_found: &[strong(Contains(
            "no data was found to match the request criteria",
        ))],
        ..TldProfile::NONE
    },
    // SGNIC (.sg), PANDI (.id), BNNIC (.bn).
    TldProfile {
        tlds: &["sg", "id", "bn"],
        not_found: &[strong(Line("domain not found"))],
        ..TldProfile::NONE
    },
    // auDA (.au), .ae, .om, .qa (`No Data Found`).
    TldProfile {
        tlds: &["au", "ae", "om", "qa"],
        not_found: &[strong(Line("no data found"))],
        reserved: &[Line("restricted")],
        ..TldProfile::NONE
    },
    // .sa, .ve, .to, .md: `No match for …`.
    TldProfile {
        tlds: &["sa", "ve", "to", "md"],
        not_found: &[strong(Contains("no match for"))],
        ..TldProfile::NONE
    },
    // NIC Mexico (.mx).
    TldProfile {
        tlds: &["mx"],
        not_found: &[strong(Contains("object_not_found"))],
        ..TldProfile::NONE
    },
    // NIC Chile (.cl): `name.cl: no existe`.
    TldProfile {
        tlds: &["cl"],
        not_found: &[strong(Contains(": no existe"))],
        ..TldProfile::NONE
    },
    // Channel Isles (.gg, .je) and .im.
    TldProfile {
        tlds: &["gg", "je"],
        not_found: &[
            strong(LineStart("status: not registered")),
            strong(LineStart("domain status: available")),
            strong(Line("not found")),
        ],
        ..TldProfile::NONE
    },
    // .im: `Expiry Date: 03/08/2027 23:59:52`, day first.
    TldProfile {
        tlds: &["im"],
        not_found: &[strong(Contains("was not found"))],
        layout: Layout {
            date_formats: &["%d/%m/%Y %H:%M:%S", "%d/%m/%Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // .hm: `Domain expiration date: 28/04/2027`, day first.
    TldProfile {
        tlds: &["hm"],
        not_found: &[strong(Line("domain not found"))],
        layout: Layout {
            date_formats: &["%d/%m/%Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // tzNIC (.tz): `expire: 27.07.2027`.
    TldProfile {
        tlds: &["tz"],
        not_found: &[strong(Contains("no entries found"))],
        layout: Layout {
            date_formats: DAY_DOT_MONTH,
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // ZACR (.za second levels and city TLDs): `Available`.
    TldProfile {
        tlds: &["za", "capetown", "durban", "joburg"],
        rate_limited: &[LineStart("please go away for")],
        not_found: &[
            strong(Line("available")),
            strong(Contains("no match found for")),
        ],
        ..TldProfile::NONE
    },
    // Registries answering `Domain x not found`.
    TldProfile {
        tlds: &["tn", "ci", "sn"],
        not_found: &[strong(Contains("not found"))],
        ..TldProfile::NONE
    },
    // .kg, .bg, .tk/.cf, .ai, .pr, .st, .sm, .so, .tm, .nc, .ly, .dz, .uz, .am.
    TldProfile {
        tlds: &["kg"],
        not_found: &[strong(Contains("data not found"))],
        ..TldProfile::NONE
    },
    // Register.bg (.bg): `expires at: 30/06/2027 00:00:00 EEST`, day first.
    TldProfile {
        tlds: &["bg"],
        not_found: &[strong(Contains("does not exist in database"))],
        layout: Layout {
            date_formats: &["%d/%m/%Y %H:%M:%S", "%d/%m/%Y"],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["tk", "cf"],
        not_found: &[strong(Contains("domain name not known in dot"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["ai"],
        not_found: &[
            strong(Contains("not registred")),
            strong(Contains("not registered")),
        ],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["pr"],
        not_found: &[strong(Contains("is not registered"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["st", "sm", "nc"],
        not_found: &[strong(Contains("no entries found"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["so"],
        not_found: &[NOT_FOUND_COLON],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["tm"],
        not_found: &[strong(Contains("is available for purchase"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["ly"],
        not_found: &[strong(Line("not found"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["dz"],
        not_found: &[strong(Contains("no object found"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["uz"],
        not_found: &[strong(Contains("not found in database"))],
        ..TldProfile::NONE
    },
    TldProfile {
        tlds: &["am"],
        not_found: &[strong(Line("no match"))],
        ..TldProfile::NONE
    },
    // IEDR (.ie): `renewal:` is the expiry.
    TldProfile {
        tlds: &["ie"],
        not_found: &[strong(Contains("is not a registered .ie domain name"))],
        layout: Layout {
            fields: &[("renewal", Field::Expires)],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // LK Domain Registry (.lk and its IDN TLDs).
    TldProfile {
        tlds: &["lk", "xn--fzc2c9e2c", "xn--xkc2al3hye2a"],
        not_found: &[strong(Contains(
            "this domain is not available in our whois database",
        ))],
        ..TldProfile::NONE
    },
    // USP (.fj).
    TldProfile {
        tlds: &["fj"],
        not_found: &[strong(Contains("was not found!"))],
        ..TldProfile::NONE
    },
    // THNIC (.th): `Exp date:`; its `Renew date:` is the last renewal.
    TldProfile {
        tlds: &["th"],
        not_found: &[strong(Contains("no match for"))],
        layout: Layout {
            fields: &[("exp date", Field::Expires)],
            ..Layout::GENERIC
        },
        ..TldProfile::NONE
    },
    // .sx: `Status: AVAILABLE (No match for domain "x.sx")`.
    TldProfile {
        tlds: &["sx"],
        not_found: &[strong(LineStart("status: available"))],
        reserved: &[LineStart("status: premium name")],
        ..TldProfile::NONE
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
        strong(Contains("no matching record")),
        strong(Contains("no match found")),
        strong(LineStart("status: free")),
        strong(LineStart("status: available")),
        strong(LineStart("domain status: available")),
        strong(LineStart("domain status: no object found")),
        strong(Contains("is available for registration")),
        strong(Contains("is available for purchase")),
        strong(Contains("no records matching")),
        strong(Contains("no records found for object")),
        strong(Contains("no domain records were found")),
        strong(Contains("no objects found")),
        strong(Contains("no results were found")),
        strong(Contains("does not exist in database")),
        strong(LineStart("status: not registered")),
        strong(LineStart("no such domain")),
        strong(Contains("\" not found")),
        NOT_FOUND_COLON,
        BARE_NOT_FOUND,
        weak(Line("no match")),
    ],
    rate_limited: &[
        Contains("number of allowed queries exceeded"),
        Contains("your access is too fast"),
        Contains("quota exceeded"),
        Contains("exceeded your quota"),
        Contains("excessive querying"),
        Contains("rate limit exceeded"),
        Contains("limit exceeded"),
        Contains("has been exceeded"),
        Contains("too many requests"),
        Contains("too many queries"),
        Contains("too many connections"),
        Contains("try again later"),
        Contains("slow down"),
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
        Contains("restricted from registration"),
        Contains("status: blocked"),
        Contains("dpml"),
    ],
    layout: Layout::GENERIC,
};

/// Refusals of automated clients: the server will not answer us at all, so
/// the answer is neither "free" nor a throttle to wait out.
pub static REFUSED: &[Phrase] = &[
    Contains("requests of this client are not permitted"),
    Contains("not authorised to query"),
    Contains("not authorized to query"),
    Contains("your ip address is not allowed"),
    Contains("access denied"),
    Contains("ip address is blocked"),
];

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

/// The record layout of `tld`'s registry (the generic one when unlisted).
pub fn layout_for(tld: &str) -> Layout {
    profile(tld).map_or(Layout::GENERIC, |p| p.layout)
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
    /// The server refuses automated clients (`Requests of this client are
    /// not permitted`): nothing to learn from it for a long while.
    Refused {
        /// The line that matched.
        evidence: String,
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

/// A refusal or throttle banner is a short answer, or a short paragraph of
/// one: terms of use that describe the throttling policy are longer.
const MAX_BANNER_LINES: usize = 4;
/// See [`MAX_BANNER_LINES`].
const MAX_BANNER_CHARS: usize = 400;
/// Longest line a phrase is looked for in (a not-found line naming a
/// 253-character name fits): longer lines are terms of use
/// written on one line ("… does not indicate that the name is available
/// for registration …").
const MAX_STATEMENT_CHARS: usize = 320;

/// One non-blank line of an answer.
struct AnswerLine<'a> {
    /// As received, trimmed.
    raw: &'a str,
    /// Lower case, comment markers (`%`, `#`, `*`) stripped, single spaces.
    lower: String,
    /// Whether its paragraph is short (a statement, not prose).
    in_short_paragraph: bool,
    /// Whether a throttle or refusal phrase here is the answer's own word:
    /// the line opens the answer or sits in a short paragraph, and its
    /// paragraph is not legal prose.
    may_be_banner: bool,
}

/// Words of terms of use: a paragraph holding one is legal prose, whatever
/// it says about throttling. Words a real banner may use ("automated",
/// "policy", "prohibited") are left out: missing a throttle is the costly
/// mistake.
const LEGAL_PROSE: &[&str] = &[
    "terms of use",
    "terms and conditions",
    "terms of service",
    "you agree",
    "agree to",
    "by submitting",
    "lawful",
    "high-volume",
    "high volume",
    "copyright",
    "disclaimer",
    "you may not",
    "reserves the right",
    "information purposes",
];

/// Splits `answer` into lines and paragraphs. Blank lines and lines of only
/// comment markers (`%%`, `#`) end a paragraph.
fn answer_lines(answer: &str) -> Vec<AnswerLine<'_>> {
    let mut lines: Vec<AnswerLine<'_>> = Vec::new();
    let mut paragraph_start = 0;
    let close = |lines: &mut Vec<AnswerLine<'_>>, start: usize| {
        let paragraph = &mut lines[start..];
        let chars: usize = paragraph.iter().map(|l| l.lower.len()).sum();
        let short = paragraph.len() <= MAX_BANNER_LINES && chars <= MAX_BANNER_CHARS;
        let legal = paragraph
            .iter()
            .any(|l| LEGAL_PROSE.iter().any(|word| l.lower.contains(word)));
        for (i, line) in paragraph.iter_mut().enumerate() {
            line.in_short_paragraph = short;
            let opens_answer = start == 0 && i == 0;
            line.may_be_banner = (short || opens_answer) && !legal;
        }
    };
    for raw in answer.lines().map(str::trim) {
        let content = raw.trim_start_matches(['%', '#', '*', ';']).trim();
        // `%-`, `%%`, `#####`: comment rules end a paragraph too.
        if !content.chars().any(char::is_alphanumeric) {
            close(&mut lines, paragraph_start);
            paragraph_start = lines.len();
            continue;
        }
        // Layouts pad with runs of spaces (`Status:      free`): match on
        // single spaces.
        let lower = content
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        lines.push(AnswerLine {
            raw,
            lower,
            in_short_paragraph: false,
            may_be_banner: false,
        });
    }
    close(&mut lines, paragraph_start);
    lines
}

/// Where in an answer a phrase counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Any statement-sized line.
    Anywhere,
    /// Lines of short paragraphs.
    ShortParagraph,
    /// Lines that may be a banner (see [`AnswerLine::may_be_banner`]).
    Banner,
}

/// Classifies a decoded WHOIS `answer` from a server of `tld` (lower case;
/// empty for "no TLD", e.g. a referral server). `now` resolves retry times.
pub fn classify(tld: &str, answer: &str, now: Timestamp) -> Classification {
    let own = profile(tld);
    let lines = answer_lines(answer);
    // Phrases are looked for in lines short enough to be a statement rather
    // than a one-line terms-of-use blob, and only where `place` allows.
    let find = |phrases: &mut dyn Iterator<Item = Phrase>, place: Place| -> Option<String> {
        let phrases: Vec<Phrase> = phrases.collect();
        lines
            .iter()
            .filter(|line| line.lower.len() <= MAX_STATEMENT_CHARS)
            .filter(|line| match place {
                Place::Anywhere => true,
                Place::ShortParagraph => line.in_short_paragraph,
                Place::Banner => line.may_be_banner,
            })
            .find(|line| phrases.iter().any(|p| p.matches(&line.lower)))
            .map(|line| evidence(line.raw))
    };
    // A registration record is never a throttle or a refusal, whatever its
    // terms of use say about high-volume queries.
    let is_record = || {
        let facts = parse_record_with(answer, &layout_for(tld)).facts;
        facts.registrar.is_some()
            || facts.created.is_some()
            || facts.expires.is_some()
            || !facts.nameservers.is_empty()
    };

    let throttle = own.map_or(&[][..], |p| p.rate_limited);
    if let Some(evidence) = find(
        &mut throttle.iter().chain(GENERIC.rate_limited).copied(),
        Place::Banner,
    ) && !is_record()
    {
        return Classification::RateLimited {
            evidence,
            retry_after: parse_retry_after(answer, now),
        };
    }
    if let Some(evidence) = find(&mut REFUSED.iter().copied(), Place::Banner)
        && !is_record()
    {
        return Classification::Refused { evidence };
    }
    let reserved = own.map_or(&[][..], |p| p.reserved);
    if let Some(evidence) = find(
        &mut reserved.iter().chain(GENERIC.reserved).copied(),
        Place::Anywhere,
    ) {
        return Classification::Reserved { evidence };
    }
    if let Some(own) = own {
        for not_found in own.not_found {
            if let Some(evidence) = find(&mut std::iter::once(not_found.phrase), Place::Anywhere) {
                return Classification::NotFound {
                    evidence,
                    strength: not_found.strength,
                };
            }
        }
    }
    for not_found in GENERIC.not_found {
        if let Some(evidence) = find(
            &mut std::iter::once(not_found.phrase),
            Place::ShortParagraph,
        ) {
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

/// The first line of `answer` that says something: not blank, not a
/// `%`/`#` comment banner (unless the answer has nothing else), not a
/// `>>> Last update <<<` footer. What a user files when an answer is not
/// recognised.
pub fn first_meaningful_line(answer: &str) -> Option<String> {
    let says_something = |line: &&str| {
        let content = line
            .trim_start_matches(['%', '#', '*', ';', '[', '-', '='])
            .trim();
        content.chars().any(char::is_alphanumeric) && !content.starts_with(">>>")
    };
    let lines = || answer.lines().map(str::trim).filter(says_something);
    lines()
        .find(|line| !line.starts_with(['%', '#']))
        .or_else(|| lines().next())
        .map(evidence)
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
    fn terms_of_use_about_throttling_are_not_a_throttle() {
        let terms = "Domain not found.\n>>> Last update of WHOIS database: 2026-01-01T00:00:00Z <<<\n\n\
            Terms of Use: queries from one address are throttled: too many queries are\n\
            rejected for a while, and the answer then says the limit exceeded. Do not\n\
            use high-volume automated processes; excessive querying leads to access\n\
            denied answers. Please try again later when you were throttled by us.\n\
            The data is provided for information purposes only, without warranty.\n";
        assert_eq!(not_found("org", terms), Some(Strength::Strong));
        let one_line_terms = format!(
            "Not found: free-name.ca\n\n% {}\n",
            "Too many queries from one address are rejected (limit exceeded). ".repeat(8)
        );
        assert_eq!(not_found("ca", &one_line_terms), Some(Strength::Strong));
        let record = "% Queries are rate limited: quota exceeded answers follow too many requests.\n\
            Domain Name: TAKEN.COM\nRegistrar: Example Registrar, LLC\n\
            Registry Expiry Date: 2027-02-03T04:05:06Z\n";
        assert_eq!(classify("com", record, now()), Classification::Unmatched);
    }

    #[test]
    fn a_throttle_banner_opening_a_long_answer_is_a_throttle() {
        let answer = "Rate limit exceeded. Try again after:\n\t2026-01-01 00:01:00\n\
            Try again after:\n\t2026-01-01 00:01:00\nNo match for \"X.COM\".\n";
        assert!(matches!(
            classify("com", answer, now()),
            Classification::RateLimited { .. }
        ));
    }

    #[test]
    fn refusals_of_automated_clients_are_their_own_answer() {
        let refusal = "Requests of this client are not permitted. Please use https://www.nic.ch/whois/ for queries.\n";
        assert_eq!(
            classify("ch", refusal, now()),
            Classification::Refused {
                evidence: refusal.trim().to_owned()
            }
        );
        // A throttle that also denies access is a throttle: it will end.
        assert!(matches!(
            classify("org", "%% excessive querying, access denied\n", now()),
            Classification::RateLimited { .. }
        ));
    }

    #[test]
    fn first_meaningful_line_skips_banners_and_footers() {
        assert_eq!(
            first_meaningful_line("% Registry WHOIS\n%\n\n>>> Last update <<<\nSomething new\n"),
            Some("Something new".to_owned())
        );
        assert_eq!(
            first_meaningful_line("%% only comments here\n"),
            Some("%% only comments here".to_owned())
        );
        assert_eq!(first_meaningful_line("\n \n%%\n"), None);
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
        let long = format!("No match for \"{}.com\".", "a".repeat(240));
        let Classification::NotFound { evidence, .. } = classify("com", &long, now()) else {
            panic!("not classified");
        };
        assert_eq!(evidence.chars().count(), MAX_EVIDENCE_CHARS + 1);
    }
}
