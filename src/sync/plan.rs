//! The pure half of the domain list sync: parse the user's list, compare it
//! with the resources in the cluster, and say what to create, update and
//! delete — or refuse.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::{domain_name::DomainName, resource::HealthSpec};

/// Longest excerpt of a bad entry quoted in reports.
const MAX_QUOTE: usize = 80;

/// Why a domain list was rejected as a whole (nothing changes).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListError {
    /// The body is not JSON.
    #[error("the domain list is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON does not have the documented shape.
    #[error("the domain list must be a JSON object with a \"domains\" array; {0}")]
    WrongShape(String),
}

/// One entry that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedEntry {
    /// Position in the `domains` array.
    pub index: usize,
    /// The entry as JSON, shortened.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What the list says about one domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Listed {
    /// `priority`.
    pub priority: bool,
    /// `health`, validated and normalised (health mode; `None`: off).
    pub health: Option<HealthSpec>,
}

/// The user's list, normalised: domain → what it says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainList {
    /// Every valid domain once; a domain listed twice is priority if either
    /// says so, and takes the first `health` given.
    pub domains: BTreeMap<DomainName, Listed>,
    /// Entries skipped as invalid.
    pub rejected: Vec<RejectedEntry>,
    /// Entries that repeated a domain already listed.
    pub duplicates: usize,
}

/// Parses `{"domains": [...]}` whose entries are strings or
/// `{"domain": "...", "priority": bool, "health": {...}}` (`health` as
/// `spec.health`). Bad entries are skipped and reported; a body of the
/// wrong shape is an error.
pub fn parse_domain_list(body: &[u8]) -> Result<DomainList, ListError> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| ListError::NotJson(e.to_string()))?;
    let entries = match &json {
        Value::Object(map) => match map.get("domains") {
            Some(Value::Array(entries)) => entries,
            Some(other) => {
                return Err(ListError::WrongShape(format!(
                    "\"domains\" is {}",
                    json_kind(other)
                )));
            }
            None => {
                return Err(ListError::WrongShape(
                    "it has no \"domains\" key".to_owned(),
                ));
            }
        },
        other => return Err(ListError::WrongShape(format!("got {}", json_kind(other)))),
    };
    let mut list = DomainList::default();
    for (index, entry) in entries.iter().enumerate() {
        match parse_entry(entry) {
            Ok((domain, listed)) => {
                if let Some(existing) = list.domains.get_mut(&domain) {
                    existing.priority |= listed.priority;
                    if existing.health.is_none() {
                        existing.health = listed.health;
                    }
                    list.duplicates += 1;
                } else {
                    list.domains.insert(domain, listed);
                }
            }
            Err(reason) => list.rejected.push(RejectedEntry {
                index,
                entry: quote(entry),
                reason,
            }),
        }
    }
    Ok(list)
}

fn parse_entry(entry: &Value) -> Result<(DomainName, Listed), String> {
    match entry {
        Value::String(name) => DomainName::parse(name)
            .map(|d| (d, Listed::default()))
            .map_err(|e| e.to_string()),
        Value::Object(map) => {
            let name = match map.get("domain") {
                Some(Value::String(name)) => name,
                Some(other) => {
                    return Err(format!(
                        "\"domain\" must be a string, not {}",
                        json_kind(other)
                    ));
                }
                None => return Err("the object has no \"domain\" key".to_owned()),
            };
            let priority = match map.get("priority") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(format!(
                        "\"priority\" must be true or false, not {}",
                        json_kind(other)
                    ));
                }
            };
            let health = match map.get("health") {
                None | Some(Value::Null) => None,
                Some(health @ Value::Object(_)) => Some(
                    serde_json::from_value::<HealthSpec>(health.clone())
                        .map_err(|e| format!("\"health\" is not valid: {e}"))?
                        .validated()
                        .map_err(|e| format!("\"health\" is not valid: {e}"))?,
                ),
                Some(other) => {
                    return Err(format!(
                        "\"health\" must be an object, not {}",
                        json_kind(other)
                    ));
                }
            };
            DomainName::parse(name)
                .map(|d| (d, Listed { priority, health }))
                .map_err(|e| e.to_string())
        }
        other => Err(format!(
            "an entry must be a string or an object with \"domain\", not {}",
            json_kind(other)
        )),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn quote(entry: &Value) -> String {
    let text = entry.to_string();
    if text.chars().count() <= MAX_QUOTE {
        text
    } else {
        let mut short: String = text.chars().take(MAX_QUOTE).collect();
        short.push('…');
        short
    }
}

/// A `MonitoredDomain` already in the cluster, as the sync sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingResource {
    /// `metadata.name`.
    pub name: String,
    /// `spec.domain`, normalised (`None` when invalid).
    pub domain: Option<DomainName>,
    /// `spec.priority`.
    pub priority: bool,
    /// `spec.health`.
    pub health: Option<HealthSpec>,
    /// Carries `domainmonitor.io/source=api`.
    pub synced: bool,
}

/// What one sync will do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncPlan {
    /// Domains to create (with their priority and health settings).
    pub create: Vec<(String, Listed)>,
    /// Synced resources whose priority or health settings change:
    /// (resource name, what the list says now).
    pub update: Vec<(String, Listed)>,
    /// Synced resources no longer listed.
    pub delete: Vec<String>,
    /// Listed domains already watched by a pinned resource (left alone).
    pub pinned: usize,
    /// Listed domains already synced with the right priority.
    pub unchanged: usize,
}

/// Why a sync was refused (nothing changes).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "refusing to delete {deletions} of {synced} synced domains ({share:.0}% > the allowed {allowed:.0}%): \
     if the list really shrank, set SYNC_ALLOW_MASS_DELETE=true or raise SYNC_MAX_DELETE_SHARE"
)]
pub struct MassDeletion {
    /// Resources the list would delete.
    pub deletions: usize,
    /// Synced resources now.
    pub synced: usize,
    /// The share, in percent.
    pub share: f64,
    /// The allowed share, in percent.
    pub allowed: f64,
}

/// Compares the list with the cluster. Pinned resources are never changed;
/// a domain a pinned resource already watches is not created again.
pub fn plan(
    list: &DomainList,
    existing: &[ExistingResource],
    max_delete_share: f64,
    allow_mass_delete: bool,
) -> Result<SyncPlan, MassDeletion> {
    let mut plan = SyncPlan::default();
    let synced: BTreeMap<&DomainName, &ExistingResource> = existing
        .iter()
        .filter(|r| r.synced)
        .filter_map(|r| r.domain.as_ref().map(|d| (d, r)))
        .collect();
    let pinned: std::collections::BTreeSet<&DomainName> = existing
        .iter()
        .filter(|r| !r.synced)
        .filter_map(|r| r.domain.as_ref())
        .collect();
    for (domain, listed) in &list.domains {
        if let Some(resource) = synced.get(domain) {
            if resource.priority == listed.priority && resource.health == listed.health {
                plan.unchanged += 1;
            } else {
                plan.update.push((resource.name.clone(), listed.clone()));
            }
        } else if pinned.contains(domain) {
            plan.pinned += 1;
        } else {
            plan.create.push((domain.to_string(), listed.clone()));
        }
    }
    for resource in existing.iter().filter(|r| r.synced) {
        let listed = resource
            .domain
            .as_ref()
            .is_some_and(|d| list.domains.contains_key(d));
        if !listed {
            plan.delete.push(resource.name.clone());
        }
    }
    let synced_count = existing.iter().filter(|r| r.synced).count();
    if !allow_mass_delete && synced_count > 0 {
        #[allow(clippy::cast_precision_loss)]
        let share = plan.delete.len() as f64 / synced_count as f64;
        if share > max_delete_share {
            return Err(MassDeletion {
                deletions: plan.delete.len(),
                synced: synced_count,
                share: share * 100.0,
                allowed: max_delete_share * 100.0,
            });
        }
    }
    Ok(plan)
}

/// The bad entries of the last list, remembered so that the same ones are
/// warned about once, not on every sync. An entry is its text and reason,
/// not its position: entries inserted ahead of it do not make it new.
#[derive(Debug, Default)]
pub struct RejectedSeen {
    /// A fingerprint of the last set; `None` before the first list, whose
    /// set counts as empty.
    last: Option<u64>,
}

impl RejectedSeen {
    /// Whether `rejected` is a different set of bad entries than the last
    /// list had (an empty set after a first list with none is no change);
    /// remembers it either way.
    pub fn changed(&mut self, rejected: &[RejectedEntry]) -> bool {
        use std::hash::{Hash, Hasher};
        let mut entries: Vec<(&str, &str)> = rejected
            .iter()
            .map(|r| (r.entry.as_str(), r.reason.as_str()))
            .collect();
        entries.sort_unstable();
        entries.dedup();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        entries.hash(&mut hasher);
        let fingerprint = hasher.finish();
        let before = self.last.replace(fingerprint);
        match before {
            Some(last) => last != fingerprint,
            None => !entries.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bad_entries_are_news_once() {
        let bad = |index: usize, entry: &str| RejectedEntry {
            index,
            entry: entry.to_owned(),
            reason: "not a domain name".to_owned(),
        };
        let mut seen = RejectedSeen::default();
        assert!(!seen.changed(&[]), "a first list without bad entries");
        assert!(seen.changed(&[bad(0, "\"a b\""), bad(3, "\"c..d\"")]));
        assert!(
            !seen.changed(&[bad(0, "\"a b\""), bad(3, "\"c..d\"")]),
            "the same set again"
        );
        assert!(
            !seen.changed(&[bad(5, "\"c..d\""), bad(1, "\"a b\"")]),
            "moved in the list, still the same entries"
        );
        assert!(seen.changed(&[bad(0, "\"a b\"")]), "one was fixed");
        assert!(
            seen.changed(&[bad(0, "\"a b\""), bad(9, "\"x\"")]),
            "a new one"
        );
        assert!(seen.changed(&[]), "all fixed");
        assert!(!seen.changed(&[]));
        let mut first = RejectedSeen::default();
        assert!(first.changed(&[bad(0, "\"a b\"")]), "bad from the start");
    }

    fn d(name: &str) -> DomainName {
        DomainName::parse(name).unwrap()
    }

    #[test]
    fn both_entry_forms_are_accepted_and_normalised() {
        let list = parse_domain_list(
            br#"{"domains": ["Example.COM.", {"domain": "b\u00fccher.example", "priority": true},
                 {"domain": "example.com", "priority": true}]}"#,
        )
        .unwrap();
        assert_eq!(list.domains.len(), 2);
        assert!(
            list.domains[&d("example.com")].priority,
            "a duplicate's priority wins"
        );
        assert!(list.domains[&d("xn--bcher-kva.example")].priority);
        assert_eq!(list.duplicates, 1);
        assert!(list.rejected.is_empty());
    }

    #[test]
    fn bad_entries_are_skipped_and_explained() {
        let list = parse_domain_list(
            br#"{"domains": ["ok.example", 42, {"priority": true}, {"domain": "x y.com"},
                 {"domain": "fine.example", "priority": "yes"}, null]}"#,
        )
        .unwrap();
        assert_eq!(list.domains.len(), 1);
        let reasons: Vec<(usize, &str)> = list
            .rejected
            .iter()
            .map(|r| (r.index, r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 5);
        assert!(reasons[0].1.contains("not a number"), "{reasons:?}");
        assert!(reasons[1].1.contains("no \"domain\" key"));
        assert!(reasons[2].1.contains("white space"));
        assert!(reasons[3].1.contains("\"priority\" must be true or false"));
        assert_eq!(reasons[4].0, 5);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(matches!(
            parse_domain_list(b"{\"domains\": [\"a.com\""),
            Err(ListError::NotJson(_))
        ));
        assert!(matches!(
            parse_domain_list(b"[\"a.com\"]"),
            Err(ListError::WrongShape(_))
        ));
        assert!(matches!(
            parse_domain_list(b"{\"domain\": []}"),
            Err(ListError::WrongShape(_))
        ));
        assert!(matches!(
            parse_domain_list(b"{\"domains\": {}}"),
            Err(ListError::WrongShape(_))
        ));
    }

    fn synced(name: &str, priority: bool) -> ExistingResource {
        ExistingResource {
            name: name.to_owned(),
            domain: Some(d(name)),
            priority,
            health: None,
            synced: true,
        }
    }

    #[test]
    fn plan_creates_updates_deletes_and_leaves_pinned_alone() {
        let list = parse_domain_list(
            br#"{"domains": ["new.example", {"domain": "keep.example", "priority": true},
                 "same.example", "pinned.example"]}"#,
        )
        .unwrap();
        let existing = [
            synced("keep.example", false),
            synced("same.example", false),
            synced("gone.example", false),
            synced("a.example", false),
            synced("b.example", false),
            ExistingResource {
                name: "my-pin".to_owned(),
                domain: Some(d("pinned.example")),
                priority: true,
                health: None,
                synced: false,
            },
            ExistingResource {
                name: "other-pin".to_owned(),
                domain: Some(d("unlisted.example")),
                priority: false,
                health: None,
                synced: false,
            },
        ];
        let plan = plan(&list, &existing, 0.75, false).unwrap();
        assert_eq!(plan.create, [("new.example".to_owned(), Listed::default())]);
        assert_eq!(
            plan.update,
            [(
                "keep.example".to_owned(),
                Listed {
                    priority: true,
                    health: None
                }
            )]
        );
        assert_eq!(plan.delete, ["gone.example", "a.example", "b.example"]);
        assert_eq!(plan.pinned, 1);
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn entries_may_set_health_mode_which_is_validated_and_synced() {
        let list = parse_domain_list(
            br#"{"domains": [
                {"domain": "owned.example", "health": {"expectedNameservers": ["NS2.Example.NET.", "ns1.example.net"],
                 "registryLock": "Required", "criticality": "tier-1"}},
                {"domain": "owned.example", "health": {"dnssec": "Required"}},
                {"domain": "plain.example", "health": null},
                {"domain": "bad-lock.example", "health": {"registryLock": "Maybe"}},
                {"domain": "bad-ns.example", "health": {"expectedNameservers": ["ns1.example.net:53"]}},
                {"domain": "bad-warning.example", "health": {"expiryWarning": "soon"}},
                {"domain": "bad-label.example", "health": {"criticality": "very critical"}},
                {"domain": "bad-shape.example", "health": true}
            ]}"#,
        )
        .unwrap();
        let owned = list.domains[&d("owned.example")].health.clone().unwrap();
        assert_eq!(
            owned.expected_nameservers,
            ["ns1.example.net", "ns2.example.net"],
            "normalised; the first entry's settings win"
        );
        assert_eq!(
            owned.registry_lock,
            crate::resource::RegistryLockPolicy::Required
        );
        assert_eq!(list.domains[&d("plain.example")].health, None);
        let reasons: Vec<&str> = list.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].contains("\"health\" is not valid") && reasons[0].contains("Maybe"));
        assert!(reasons[1].contains("expectedNameservers must be host names"));
        assert!(reasons[2].contains("expiryWarning must be a duration"));
        assert!(reasons[3].contains("criticality must be a short label"));
        assert!(reasons[4].contains("\"health\" must be an object"));

        // A synced resource follows the list's health settings both ways.
        let mut with_health = synced("owned.example", false);
        with_health.health = Some(owned.clone());
        let existing = [with_health, synced("plain.example", false)];
        let plan = plan(&list, &existing, 1.0, false).unwrap();
        assert!(plan.update.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 2);
        let mut without = synced("owned.example", false);
        without.health = None;
        let mut plain_with = synced("plain.example", false);
        plain_with.health = Some(HealthSpec::default());
        let plan = super::plan(&list, &[without, plain_with], 1.0, false).unwrap();
        assert_eq!(
            plan.update,
            [
                (
                    "owned.example".to_owned(),
                    Listed {
                        priority: false,
                        health: Some(owned)
                    }
                ),
                ("plain.example".to_owned(), Listed::default()),
            ]
        );
    }

    #[test]
    fn mass_deletion_is_refused_unless_allowed() {
        let existing: Vec<_> = (0..8)
            .map(|i| synced(&format!("d{i}.example"), false))
            .collect();
        let empty = parse_domain_list(br#"{"domains": []}"#).unwrap();
        let refused = plan(&empty, &existing, 0.25, false).unwrap_err();
        assert_eq!(refused.deletions, 8);
        assert!(refused.to_string().contains("SYNC_ALLOW_MASS_DELETE"));
        assert_eq!(plan(&empty, &existing, 0.25, true).unwrap().delete.len(), 8);
        // Two of eight (25 %) is within the default share.
        let most = parse_domain_list(
            br#"{"domains": ["d0.example","d1.example","d2.example","d3.example","d4.example","d5.example"]}"#,
        )
        .unwrap();
        assert_eq!(plan(&most, &existing, 0.25, false).unwrap().delete.len(), 2);
    }
}
