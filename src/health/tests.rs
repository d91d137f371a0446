use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn now() -> Timestamp {
    at("2026-12-01T12:00:00Z")
}

fn spec() -> HealthSpec {
    HealthSpec {
        registry_lock: RegistryLockPolicy::Required,
        ..HealthSpec::default()
    }
}

const LOCKED: [&str; 4] = [
    "clientTransferProhibited",
    "serverDeleteProhibited",
    "serverTransferProhibited",
    "serverUpdateProhibited",
];

fn registry(statuses: &[&str], expires: &str) -> HealthFacts {
    HealthFacts {
        registry: Some(RegistrationFacts {
            registrar: Some("Demo Registrar Inc.".to_owned()),
            created: Some(at("2020-01-15T10:00:00Z")),
            expires: Some(at(expires)),
            statuses: statuses.iter().map(|s| (*s).to_owned()).collect(),
            nameservers: vec!["NS1.Example.NET.".to_owned(), "ns2.example.net".to_owned()],
            ..RegistrationFacts::default()
        }),
        ..HealthFacts::default()
    }
}

fn healthy_facts() -> HealthFacts {
    registry(&LOCKED, "2027-06-01T00:00:00Z")
}

/// The state after a first check with `facts`, as the previous state of
/// the next one.
fn baseline(spec: &HealthSpec, facts: &HealthFacts) -> HealthState {
    let report = evaluate(Some(spec), facts, None, Some(1), now());
    assert!(
        report.events.is_empty(),
        "a baseline is no change: {report:?}"
    );
    report.state.expect("health is on")
}

/// The state after a first check with `facts`, and its events.
fn first(spec: &HealthSpec, facts: &HealthFacts) -> (HealthState, Vec<HealthEvent>) {
    let report = evaluate(Some(spec), facts, None, Some(1), now());
    (report.state.expect("health is on"), report.events)
}

fn condition<'a>(state: &'a HealthState, type_: &str) -> &'a Condition {
    state
        .condition(type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", state.conditions))
}

fn status_and_reason(state: &HealthState, type_: &str) -> (String, String) {
    let c = condition(state, type_);
    (c.status.clone(), c.reason.clone())
}

fn pair(status: &str, reason: &str) -> (String, String) {
    (status.to_owned(), reason.to_owned())
}

#[test]
fn a_locked_domain_far_from_expiry_is_healthy() {
    let state = baseline(&spec(), &healthy_facts());
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("True", "AllChecksPassed")
    );
    assert_eq!(
        status_and_reason(&state, REGISTRY_LOCKED),
        pair("True", "Locked")
    );
    assert_eq!(
        status_and_reason(&state, EXPIRING_SOON),
        pair("False", "NotExpiringSoon")
    );
    assert_eq!(
        status_and_reason(&state, DELEGATION_DRIFT),
        pair("Unknown", "NotChecked"),
        "no delegation view yet"
    );
    assert!(
        state.condition(DNSSEC_VALID).is_none(),
        "dnssec: Ignore gives no condition"
    );
    assert!(
        condition(&state, HEALTHY)
            .message
            .contains("not known yet: DelegationDrift"),
        "{:?}",
        condition(&state, HEALTHY)
    );
    let registration = state.status.registration.as_ref().unwrap();
    assert_eq!(
        registration.nameservers,
        ["ns1.example.net", "ns2.example.net"],
        "normalised"
    );
    assert_eq!(
        registration.registrar.as_deref(),
        Some("Demo Registrar Inc.")
    );
    let lock = state.status.lock.as_ref().unwrap();
    assert!(lock.locked);
    assert!(lock.missing.is_empty());
    assert_eq!(lock.client, ["clientTransferProhibited"]);
    assert_eq!(
        state
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect::<Vec<_>>(),
        [HEALTHY, REGISTRY_LOCKED, EXPIRING_SOON, DELEGATION_DRIFT]
    );
    assert_eq!(
        state.expires_at(),
        Some(at("2027-06-01T00:00:00Z").as_second())
    );
}

#[test]
fn the_same_facts_again_change_nothing_and_a_check_without_the_registry_keeps_them() {
    let spec = spec();
    let first = baseline(&spec, &healthy_facts());
    let later = now() + jiff::SignedDuration::from_hours(5);
    let again = evaluate(Some(&spec), &healthy_facts(), Some(&first), Some(1), later);
    assert!(again.events.is_empty());
    assert_eq!(
        again.state.as_ref(),
        Some(&first),
        "no write when nothing changed"
    );
    let dns_only = evaluate(
        Some(&spec),
        &HealthFacts::default(),
        Some(&first),
        Some(1),
        later,
    );
    assert!(dns_only.events.is_empty());
    assert_eq!(dns_only.state.as_ref(), Some(&first));
    // Order and case of the registry's lists are not changes.
    let mut shuffled = healthy_facts();
    let registry = shuffled.registry.as_mut().unwrap();
    registry.statuses.reverse();
    registry.nameservers = vec!["ns2.example.net.".to_owned(), "NS1.EXAMPLE.NET".to_owned()];
    let report = evaluate(Some(&spec), &shuffled, Some(&first), Some(1), later);
    assert!(report.events.is_empty(), "{:?}", report.events);
    assert_eq!(report.state.as_ref(), Some(&first));
}

#[test]
fn a_removed_registry_lock_is_unhealthy_and_announced() {
    let spec = spec();
    let first = baseline(&spec, &healthy_facts());
    let unlocked = registry(
        &[
            "clientTransferProhibited",
            "serverDeleteProhibited",
            "serverUpdateProhibited",
        ],
        "2027-06-01T00:00:00Z",
    );
    let later = now() + jiff::SignedDuration::from_hours(1);
    let report = evaluate(Some(&spec), &unlocked, Some(&first), Some(1), later);
    let state = report.state.unwrap();
    assert_eq!(
        status_and_reason(&state, REGISTRY_LOCKED),
        pair("False", "NotLocked")
    );
    let lock = condition(&state, REGISTRY_LOCKED);
    assert!(
        lock.message.contains("serverTransferProhibited missing"),
        "{lock:?}"
    );
    assert!(lock.message.contains("ask your registrar"), "{lock:?}");
    assert_ne!(
        lock.last_transition_time,
        condition(&first, REGISTRY_LOCKED).last_transition_time,
        "a transition"
    );
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("False", "NotLocked")
    );
    assert_eq!(
        report.events,
        [
            HealthEvent::StatusesChanged {
                added: vec![],
                removed: vec!["serverTransferProhibited".to_owned()],
            },
            HealthEvent::LockLost {
                missing: vec!["serverTransferProhibited".to_owned()],
            },
        ]
    );
    assert_eq!(
        report.events[0].registration_change(),
        Some(RegistrationChange::Statuses)
    );
    assert_eq!(report.events[1].registration_change(), None);
    assert_eq!(report.events[1].reason(), "LockLost");

    // Not required: reported, but healthy.
    let relaxed = HealthSpec::default();
    let report = evaluate(Some(&relaxed), &unlocked, Some(&first), Some(1), now());
    let state = report.state.unwrap();
    assert_eq!(status_and_reason(&state, REGISTRY_LOCKED).0, "False");
    let message = &condition(&state, REGISTRY_LOCKED).message;
    assert!(
        message.ends_with("; not required (registryLock: Ignore)"),
        "{message}"
    );
    assert_eq!(status_and_reason(&state, HEALTHY).0, "True");
    // A one-off run has no registryLock setting: it says what it does.
    let mut one_off = unlocked.clone();
    one_off.mode = Mode::OneOff(RunFindings::default());
    let state = evaluate(Some(&relaxed), &one_off, Some(&first), Some(1), now())
        .state
        .unwrap();
    let message = &condition(&state, REGISTRY_LOCKED).message;
    assert!(message.ends_with("; reported, not required"), "{message}");
}

#[test]
fn an_expiry_within_the_warning_is_unhealthy_once_announced_and_cleared_by_a_renewal() {
    let spec = HealthSpec {
        expiry_warning: Some("60d".to_owned()),
        ..spec()
    };
    let first = baseline(&spec, &healthy_facts());
    // Time passes: the same expiry is now within 60 days.
    let later = at("2027-04-15T00:00:00Z");
    let report = evaluate(Some(&spec), &healthy_facts(), Some(&first), Some(1), later);
    let expiring = report.state.unwrap();
    assert_eq!(
        status_and_reason(&expiring, EXPIRING_SOON),
        pair("True", "WithinWarning")
    );
    let message = &condition(&expiring, EXPIRING_SOON).message;
    assert!(
        message.contains("2027-06-01") && message.contains("60d:"),
        "{message}"
    );
    assert!(message.contains("renew"), "{message}");
    assert_eq!(
        status_and_reason(&expiring, HEALTHY),
        pair("False", "WithinWarning")
    );
    assert_eq!(
        report.events,
        [HealthEvent::ExpiringSoon {
            expires_at: at("2027-06-01T00:00:00Z"),
            warning: Duration::from_secs(60 * 24 * 3600),
        }]
    );
    // A day later: still expiring, no new event, nothing to write.
    let day_later = later + jiff::SignedDuration::from_hours(24);
    let report = evaluate(
        Some(&spec),
        &healthy_facts(),
        Some(&expiring),
        Some(1),
        day_later,
    );
    assert!(report.events.is_empty());
    assert_eq!(report.state.as_ref(), Some(&expiring));

    // Renewed: the expiry moves a year later.
    let renewed = registry(&LOCKED, "2028-06-01T00:00:00Z");
    let report = evaluate(Some(&spec), &renewed, Some(&expiring), Some(1), day_later);
    assert_eq!(
        report.events,
        [HealthEvent::Renewed {
            from: at("2027-06-01T00:00:00Z"),
            to: at("2028-06-01T00:00:00Z"),
        }]
    );
    assert!(!report.events[0].is_warning());
    assert!(report.events[0].note().contains("2028-06-01"));
    let state = report.state.unwrap();
    assert_eq!(status_and_reason(&state, EXPIRING_SOON).0, "False");
    assert_eq!(status_and_reason(&state, HEALTHY).0, "True");

    // Past the expiry: expired.
    let report = evaluate(
        Some(&spec),
        &healthy_facts(),
        Some(&first),
        Some(1),
        at("2027-06-02T00:00:00Z"),
    );
    assert_eq!(
        status_and_reason(report.state.as_ref().unwrap(), EXPIRING_SOON),
        pair("True", "Expired")
    );
}

#[test]
fn an_expiry_moving_earlier_is_a_warning_counted_apart_from_renewals() {
    let spec = spec();
    let first = baseline(&spec, &registry(&LOCKED, "2028-06-01T00:00:00Z"));
    // The renewal undone: back to the term before it.
    let report = evaluate(Some(&spec), &healthy_facts(), Some(&first), Some(1), now());
    assert_eq!(
        report.events,
        [HealthEvent::ExpiryShortened {
            from: at("2028-06-01T00:00:00Z"),
            to: at("2027-06-01T00:00:00Z"),
        }]
    );
    let event = &report.events[0];
    assert!(event.is_warning());
    assert_eq!(event.reason(), "ExpiryShortened");
    assert_eq!(
        event.registration_change().map(RegistrationChange::as_str),
        Some("expiry_shortened")
    );
    let note = event.note();
    assert!(
        note.contains("2027-06-01") && note.contains("2028-06-01"),
        "{note}"
    );
    // Once shown, the shorter expiry is the baseline: no second event.
    let state = report.state.unwrap();
    let report = evaluate(Some(&spec), &healthy_facts(), Some(&state), Some(1), now());
    assert!(report.events.is_empty(), "{:?}", report.events);
}

#[test]
fn the_default_warning_is_thirty_days() {
    let spec = spec();
    assert_eq!(expiry_warning(&spec), DEFAULT_EXPIRY_WARNING);
    let in_29_days = registry(&LOCKED, "2026-12-30T12:00:00Z");
    let state = baseline_with_event(&spec, &in_29_days);
    assert_eq!(status_and_reason(&state, EXPIRING_SOON).0, "True");
    let in_31_days = registry(&LOCKED, "2027-01-01T13:00:00Z");
    let state = baseline(&spec, &in_31_days);
    assert_eq!(status_and_reason(&state, EXPIRING_SOON).0, "False");
    assert!(
        !condition(&state, EXPIRING_SOON)
            .message
            .contains("expiryWarning")
    );
}

#[test]
fn an_unreadable_expiry_warning_is_named_not_silently_replaced() {
    // Too large for a duration: the default applies, and the condition
    // says so.
    let spec = HealthSpec {
        expiry_warning: Some("99999999999999999999d".to_owned()),
        ..spec()
    };
    assert_eq!(
        read_expiry_warning(&spec),
        Err("99999999999999999999d".to_owned())
    );
    assert_eq!(expiry_warning(&spec), DEFAULT_EXPIRY_WARNING);
    let state = baseline(&spec, &registry(&LOCKED, "2027-01-01T13:00:00Z"));
    assert_eq!(
        condition(&state, EXPIRING_SOON).message,
        "the registration expires on 2027-01-01, after the warning of 30d; expiryWarning \
         \"99999999999999999999d\" is not a duration the operator can read, so the default 30d \
         is used: set it to a duration such as 30d"
    );
    // The API server's own check refuses it too.
    assert!(spec.validated().unwrap_err().contains("at most 9 digits"));
}

/// A first check that finds the domain expiring: its baseline, shown by
/// the condition, not announced (like every condition's first state).
fn baseline_with_event(spec: &HealthSpec, facts: &HealthFacts) -> HealthState {
    baseline(spec, facts)
}

#[test]
fn a_registrar_change_is_announced() {
    let spec = spec();
    let first = baseline(&spec, &healthy_facts());
    let mut moved = healthy_facts();
    moved.registry.as_mut().unwrap().registrar = Some("Other Registrar LLC".to_owned());
    let report = evaluate(Some(&spec), &moved, Some(&first), Some(1), now());
    assert_eq!(
        report.events,
        [HealthEvent::RegistrarChanged {
            from: "Demo Registrar Inc.".to_owned(),
            to: "Other Registrar LLC".to_owned(),
        }]
    );
    assert_eq!(report.events[0].reason(), "RegistrarChanged");
    assert!(report.events[0].is_warning());
    assert_eq!(
        report
            .state
            .unwrap()
            .status
            .registration
            .unwrap()
            .registrar
            .as_deref(),
        Some("Other Registrar LLC")
    );
}

#[test]
fn status_changes_list_what_was_added_and_removed() {
    let spec = HealthSpec::default();
    let first = baseline(
        &spec,
        &registry(
            &["active", "clientTransferProhibited"],
            "2027-06-01T00:00:00Z",
        ),
    );
    let held = registry(
        &["clientHold", "clientTransferProhibited"],
        "2027-06-01T00:00:00Z",
    );
    let report = evaluate(Some(&spec), &held, Some(&first), Some(1), now());
    assert_eq!(
        report.events,
        [HealthEvent::StatusesChanged {
            added: vec!["clientHold".to_owned()],
            removed: vec!["active".to_owned()],
        }]
    );
    let note = report.events[0].note();
    assert!(
        note.contains("added clientHold") && note.contains("removed active"),
        "{note}"
    );
    let state = report.state.unwrap();
    assert_eq!(status_and_reason(&state, HEALTHY), pair("False", "OnHold"));
}

#[test]
fn a_name_server_change_at_the_registry_is_announced() {
    let spec = spec();
    let first = baseline(&spec, &healthy_facts());
    let mut moved = healthy_facts();
    moved.registry.as_mut().unwrap().nameservers = vec![
        "ns1.attacker.example".to_owned(),
        "ns2.example.net".to_owned(),
    ];
    let report = evaluate(Some(&spec), &moved, Some(&first), Some(1), now());
    assert_eq!(
        report.events,
        [HealthEvent::NameserversChanged {
            from: vec!["ns1.example.net".to_owned(), "ns2.example.net".to_owned()],
            to: vec![
                "ns1.attacker.example".to_owned(),
                "ns2.example.net".to_owned()
            ],
        }]
    );
    assert_eq!(
        report.events[0].registration_change(),
        Some(RegistrationChange::Nameservers)
    );
}

#[test]
fn health_off_gives_nothing() {
    let report = evaluate(None, &healthy_facts(), None, Some(1), now());
    assert_eq!(report, HealthReport::default());
    let previous = baseline(&spec(), &healthy_facts());
    let report = evaluate(None, &healthy_facts(), Some(&previous), Some(1), now());
    assert!(report.state.is_none() && report.events.is_empty());
}

#[test]
fn before_the_registry_answers_health_is_unknown() {
    let report = evaluate(Some(&spec()), &HealthFacts::default(), None, Some(1), now());
    let state = report.state.unwrap();
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("Unknown", "NoRegistrationData")
    );
    assert_eq!(status_and_reason(&state, REGISTRY_LOCKED).0, "Unknown");
    assert_eq!(
        status_and_reason(&state, EXPIRING_SOON),
        pair("Unknown", "ExpiryUnknown")
    );
    assert_eq!(state.status, HealthStatus::default());
}

#[test]
fn delegation_drift_and_lame_servers_make_the_domain_unhealthy() {
    let spec = spec();
    let mut facts = healthy_facts();
    facts.delegation = Some(DelegationView {
        parent: vec!["ns1.example.net".to_owned(), "ns2.example.net".to_owned()],
        registry: vec!["ns1.example.net".to_owned(), "ns2.example.net".to_owned()],
        ..DelegationView::default()
    });
    let state = baseline(&spec, &facts);
    assert_eq!(
        status_and_reason(&state, DELEGATION_DRIFT),
        pair("False", "Consistent")
    );
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("True", "AllChecksPassed")
    );
    assert_eq!(
        condition(&state, HEALTHY).message,
        "every health check passes"
    );

    // The registry moved to other servers; the parent did not follow, and
    // the registry's new server does not answer.
    let view = facts.delegation.as_mut().unwrap();
    view.registry = vec!["ns1.example.net".to_owned(), "ns3.example.net".to_owned()];
    view.drift = vec![
        "The registry lists ns1.example.net, ns3.example.net; the parent lists ns1.example.net, ns2.example.net."
            .to_owned(),
    ];
    view.lame = vec!["ns3.example.net: no address".to_owned()];
    let report = evaluate(Some(&spec), &facts, Some(&state), Some(1), now());
    let drifting = report.state.unwrap();
    assert_eq!(
        status_and_reason(&drifting, DELEGATION_DRIFT),
        pair("True", "Drift")
    );
    assert_eq!(
        condition(&drifting, DELEGATION_DRIFT).message,
        "The registry lists ns1.example.net, ns3.example.net; the parent lists ns1.example.net, \
         ns2.example.net. Lame servers: ns3.example.net: no address. Set the name servers at \
         your registrar and in the domain's zone to the ones the domain should use. Make every \
         listed server answer for the domain with authority, or take it out of the delegation."
    );
    assert_eq!(
        status_and_reason(&drifting, HEALTHY),
        pair("False", "Drift")
    );
    assert_eq!(
        condition(&drifting, HEALTHY).message,
        "Not healthy: DelegationDrift (the registry's name servers differ from the parent's; \
         lame servers: ns3.example.net). Each condition says what to do.",
        "Healthy names the failing condition briefly, not its whole message"
    );
    // Drift against the expectation is summed up against it; an old view's
    // lines (before they were sentences) still read as sentences.
    let expecting = HealthSpec {
        expected_nameservers: vec!["NS1.example.net.".to_owned()],
        ..spec.clone()
    };
    let view = facts.delegation.as_mut().unwrap();
    view.registry = view.parent.clone();
    view.drift = vec!["parent, registry (ns1.example.net, ns2.example.net) differs".to_owned()];
    view.lame.clear();
    let state = first(&expecting, &facts).0;
    assert_eq!(
        condition(&state, DELEGATION_DRIFT).message,
        "Parent, registry (ns1.example.net, ns2.example.net) differs. Set the name servers at \
         your registrar and in the domain's zone to the ones the domain should use."
    );
    assert_eq!(
        condition(&state, HEALTHY).message,
        "Not healthy: DelegationDrift (the parent's and the registry's name servers differ from \
         expectedNameservers). Each condition says what to do."
    );
    // A check that did not probe the delegation keeps the last view.
    let report = evaluate(
        Some(&spec),
        &healthy_facts(),
        Some(&drifting),
        Some(1),
        now(),
    );
    assert_eq!(report.state.as_ref(), Some(&drifting));
}

#[test]
fn dnssec_is_checked_only_when_asked_for() {
    let required = HealthSpec {
        dnssec: DnssecPolicy::Required,
        ..spec()
    };
    let state = baseline(&required, &healthy_facts());
    assert_eq!(
        status_and_reason(&state, DNSSEC_VALID),
        pair("Unknown", "NotChecked")
    );
    let mut facts = healthy_facts();
    facts.dnssec = Some(DnssecView::default());
    let state = first(&required, &facts).0;
    assert_eq!(
        status_and_reason(&state, DNSSEC_VALID),
        pair("False", "Unsigned")
    );
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("False", "Unsigned")
    );
    let optional = HealthSpec {
        dnssec: DnssecPolicy::Optional,
        ..spec()
    };
    let state = first(&optional, &facts).0;
    assert_eq!(status_and_reason(&state, DNSSEC_VALID).0, "False");
    assert_eq!(
        status_and_reason(&state, HEALTHY).0,
        "True",
        "unsigned is fine when optional"
    );
    facts.dnssec = Some(DnssecView {
        ds_at_parent: true,
        dnskey_at_child: true,
        problem: Some("no DNSKEY matches the DS at the parent".to_owned()),
        ..DnssecView::default()
    });
    let state = first(&optional, &facts).0;
    assert_eq!(
        status_and_reason(&state, DNSSEC_VALID),
        pair("False", "Invalid")
    );
    assert_eq!(status_and_reason(&state, HEALTHY), pair("False", "Invalid"));
    // Off: neither the condition nor the view.
    let state = baseline(&spec(), &facts);
    assert!(state.condition(DNSSEC_VALID).is_none());
    assert!(state.status.dnssec.is_none());
}

#[test]
fn the_dnssec_reason_is_the_views_and_only_insecure_states_depend_on_the_policy() {
    let view = |reason: &str| DnssecView {
        ds_at_parent: true,
        dnskey_at_child: true,
        reason: Some(reason.to_owned()),
        problem: Some(format!("found {reason} at ns2.example.com")),
        ..DnssecView::default()
    };
    for policy in [DnssecPolicy::Required, DnssecPolicy::Optional] {
        let spec = HealthSpec {
            dnssec: policy,
            ..spec()
        };
        for reason in [
            "DSMismatch",
            "MissingDNSKEY",
            "SignatureExpired",
            "SignatureNotYetValid",
            "SignatureInvalid",
            "SignatureMissing",
            "ChainBroken",
        ] {
            let mut facts = healthy_facts();
            facts.dnssec = Some(view(reason));
            let state = first(&spec, &facts).0;
            assert_eq!(
                status_and_reason(&state, DNSSEC_VALID),
                pair("False", reason)
            );
            assert_eq!(status_and_reason(&state, HEALTHY).0, "False", "{reason}");
            let message = &state.condition(DNSSEC_VALID).unwrap().message;
            assert!(message.contains("at ns2.example.com"), "{message}");
            // A bogus chain already breaks validating resolvers: no
            // "before resolvers stop answering".
            if reason != "ChainBroken" {
                assert!(
                    message.starts_with(
                        "validating resolvers already fail to resolve the domain (SERVFAIL): found"
                    ) && !message.contains("before"),
                    "{message}"
                );
            }
            if reason.starts_with("Signature") {
                assert!(
                    message.ends_with(
                        "re-sign the zone on every listed server now (and check their clocks)"
                    ),
                    "{message}"
                );
            }
        }
        // Insecure, not broken: unhealthy only with `Required`.
        for reason in ["NotDelegatedSecurely", "InsecureParent"] {
            let mut facts = healthy_facts();
            facts.dnssec = Some(view(reason));
            let state = first(&spec, &facts).0;
            assert_eq!(
                status_and_reason(&state, DNSSEC_VALID),
                pair("False", reason)
            );
            let healthy = status_and_reason(&state, HEALTHY).0;
            assert_eq!(
                healthy == "True",
                policy == DnssecPolicy::Optional,
                "{policy:?} {reason}: {healthy}"
            );
        }
    }
    let mut facts = healthy_facts();
    facts.dnssec = Some(DnssecView {
        valid: true,
        reason: Some("Valid".to_owned()),
        ..view("Valid")
    });
    let state = first(
        &HealthSpec {
            dnssec: DnssecPolicy::Required,
            ..spec()
        },
        &facts,
    )
    .0;
    assert_eq!(
        status_and_reason(&state, DNSSEC_VALID),
        pair("True", "Valid")
    );
}

#[test]
fn dnssec_turning_bad_is_one_event_per_new_reason() {
    let spec = HealthSpec {
        dnssec: DnssecPolicy::Optional,
        ..spec()
    };
    let view = |reason: &str, valid: bool| DnssecView {
        ds_at_parent: true,
        dnskey_at_child: true,
        valid,
        reason: Some(reason.to_owned()),
        problem: (!valid).then(|| format!("{reason} at ns1.example.com")),
        ..DnssecView::default()
    };
    let with = |reason: &str, valid: bool| HealthFacts {
        dnssec: Some(view(reason, valid)),
        ..healthy_facts()
    };
    let (valid, events) = first(&spec, &with("Valid", true));
    assert!(events.is_empty(), "{events:?}");
    let step = |previous: &HealthState, facts: &HealthFacts| {
        let report = evaluate(Some(&spec), facts, Some(previous), Some(1), now());
        (report.state.unwrap(), report.events)
    };
    let (mismatch, events) = step(&valid, &with("DSMismatch", false));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason(), "DSMismatch");
    assert!(events[0].is_warning());
    assert!(
        events[0].note().contains("ns1.example.com"),
        "{}",
        events[0].note()
    );
    // Still mismatched: no event, nothing to write.
    let (again, events) = step(&mismatch, &with("DSMismatch", false));
    assert!(events.is_empty());
    assert_eq!(again, mismatch);
    // Another problem: its own event.
    let (_, events) = step(&mismatch, &with("SignatureExpired", false));
    assert_eq!(
        events.iter().map(HealthEvent::reason).collect::<Vec<_>>(),
        ["SignatureExpired"]
    );
    // Insecure is no problem with `dnssec: Optional`: no event.
    let (_, events) = step(&valid, &with("NotDelegatedSecurely", false));
    assert!(events.is_empty(), "{events:?}");
    // Broken from the first check on: the baseline, not announced; nor
    // when DNSSEC goes from not checked to broken.
    let (broken, events) = first(&spec, &with("ChainBroken", false));
    assert!(events.is_empty(), "{events:?}");
    let unknown = first(&spec, &healthy_facts()).0;
    assert_eq!(status_and_reason(&unknown, DNSSEC_VALID).0, "Unknown");
    let (_, events) = step(&unknown, &with("ChainBroken", false));
    assert!(events.is_empty(), "{events:?}");
    // From the broken baseline, another problem is a change.
    let (_, events) = step(&broken, &with("DSMismatch", false));
    assert_eq!(
        events.iter().map(HealthEvent::reason).collect::<Vec<_>>(),
        ["DSMismatch"]
    );
}

#[test]
fn a_first_check_announces_no_bad_condition_the_conditions_show_them() {
    // Not locked (required), expiring, drifting, DNSSEC broken: all shown,
    // none announced; the same facts later announce nothing either.
    let spec = HealthSpec {
        registry_lock: RegistryLockPolicy::Required,
        dnssec: DnssecPolicy::Required,
        ..spec()
    };
    let mut facts = registry(&["active"], "2026-12-10T00:00:00Z");
    facts.delegation = Some(DelegationView {
        parent: vec!["ns1.example.net".to_owned()],
        registry: vec!["ns2.example.net".to_owned()],
        drift: vec![
            "The registry lists ns2.example.net; the parent lists ns1.example.net.".to_owned(),
        ],
        ..DelegationView::default()
    });
    facts.dnssec = Some(DnssecView {
        ds_at_parent: true,
        dnskey_at_child: true,
        reason: Some("DSMismatch".to_owned()),
        problem: Some("no DNSKEY matches".to_owned()),
        ..DnssecView::default()
    });
    let (state, events) = first(&spec, &facts);
    assert!(events.is_empty(), "{events:?}");
    for type_ in [REGISTRY_LOCKED, DELEGATION_DRIFT, DNSSEC_VALID] {
        assert_ne!(condition(&state, type_).status, "Unknown", "{type_}");
    }
    assert_eq!(
        status_and_reason(&state, EXPIRING_SOON),
        pair("True", "WithinWarning")
    );
    assert_eq!(status_and_reason(&state, HEALTHY).0, "False");
    let report = evaluate(Some(&spec), &facts, Some(&state), Some(1), now());
    assert!(report.events.is_empty(), "{:?}", report.events);
}

#[test]
fn health_round_trips_in_camel_case() {
    let state = baseline(&spec(), &healthy_facts());
    let json = serde_json::to_value(&state.status).unwrap();
    assert_eq!(json["registration"]["expiresAt"], "2027-06-01T00:00:00Z");
    assert_eq!(json["lock"]["locked"], true);
    assert!(json["lock"].get("missing").is_none());
    let back: HealthStatus = serde_json::from_value(json).unwrap();
    assert_eq!(back, state.status);
}

#[test]
fn a_domain_the_registry_no_longer_has_is_not_healthy() {
    let spec = spec();
    let first = baseline(&spec, &healthy_facts());
    let gone = HealthFacts {
        availability: Some(crate::resource::Availability::Available),
        ..HealthFacts::default()
    };
    let report = evaluate(Some(&spec), &gone, Some(&first), Some(1), now());
    let state = report.state.unwrap();
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("False", "NotRegistered")
    );
    assert!(
        condition(&state, HEALTHY)
            .message
            .contains("register it again")
    );
    assert_eq!(
        state.status.registration, first.status.registration,
        "the last registration known stays"
    );
    // Never seen registered: not "no longer".
    let never = super::evaluate(Some(&spec), &gone, None, None, now())
        .state
        .unwrap();
    assert_eq!(
        condition(&never, HEALTHY).message,
        "the domain is not registered (availability Available): register it at once, before someone else does"
    );
}

#[test]
fn a_parent_without_a_delegation_is_named_as_such() {
    let child = ChildView {
        server: "ns1.example.net".to_owned(),
        answered: true,
        authoritative: true,
        nameservers: vec!["ns1.example.net".to_owned()],
    };
    let mut facts = healthy_facts();
    facts.delegation = Some(DelegationView {
        registry: vec!["ns1.example.net".to_owned()],
        child: vec![child],
        drift: vec!["The registry and the child server list ns1.example.net; the parent lists no name servers.".to_owned()],
        ..DelegationView::default()
    });
    let state = first(&spec(), &facts).0;
    assert_eq!(
        condition(&state, HEALTHY).message,
        "Not healthy: DelegationDrift (the parent does not delegate the domain). Each condition says what to do."
    );
    // Against expected names the others differ from, both are said.
    let expected = HealthSpec {
        expected_nameservers: vec!["ns9.example.net".to_owned()],
        ..spec()
    };
    let state = first(&expected, &facts).0;
    assert_eq!(
        condition(&state, HEALTHY).message,
        "Not healthy: DelegationDrift (the parent does not delegate the domain; the registry's and \
         child server ns1.example.net's name servers differ from expectedNameservers). Each \
         condition says what to do."
    );
}

#[test]
fn the_registry_facts_come_from_rdap_else_whois_never_from_dns() {
    use crate::check::{CheckKind, CheckOutcome, CheckReport};
    let facts = |nameserver: &str| RegistrationFacts {
        nameservers: vec![nameserver.to_owned()],
        ..RegistrationFacts::default()
    };
    let report = |kind, outcome, nameserver: &str| {
        let mut report = CheckReport::new(kind, outcome, "", now());
        report.registration = Some(facts(nameserver));
        report
    };
    let dns = report(
        CheckKind::Dns,
        CheckOutcome::Registered,
        "ns.parent.example",
    );
    let rdap = report(CheckKind::Rdap, CheckOutcome::Registered, "ns.rdap.example");
    let whois = report(
        CheckKind::Whois,
        CheckOutcome::Registered,
        "ns.whois.example",
    );
    let throttled = report(
        CheckKind::Rdap,
        CheckOutcome::RateLimited,
        "ns.rdap.example",
    );
    let of = |reports: &[CheckReport]| HealthFacts::from_reports(reports).registry;
    assert_eq!(
        of(&[dns.clone(), whois.clone(), rdap]),
        Some(facts("ns.rdap.example"))
    );
    assert_eq!(
        of(&[dns.clone(), throttled, whois]),
        Some(facts("ns.whois.example"))
    );
    assert_eq!(of(&[dns]), None, "the parent's view is not the registry's");
}

#[test]
fn healthy_is_unknown_while_a_check_the_spec_asks_for_has_no_data() {
    let strict = HealthSpec {
        dnssec: DnssecPolicy::Required,
        expected_nameservers: vec!["ns1.example.net".to_owned(), "ns2.example.net".to_owned()],
        ..spec()
    };
    // The registry answered and passes; DNSSEC and the delegation are not
    // known yet.
    let state = first(&strict, &healthy_facts()).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("Unknown", "Pending")
    );
    let message = &condition(&state, HEALTHY).message;
    assert!(
        message.contains("DelegationDrift (the delegation has not been checked yet)")
            && message.contains("DNSSECValid (DNSSEC has not been checked yet)")
            && !message.contains("RegistryLocked")
            && !message.contains("ExpiringSoon"),
        "names the checks without data, and only them: {message}"
    );
    // dnssec: Optional asks for DNSSEC too.
    let optional = HealthSpec {
        dnssec: DnssecPolicy::Optional,
        expected_nameservers: Vec::new(),
        ..strict.clone()
    };
    let state = first(&optional, &healthy_facts()).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("Unknown", "Pending")
    );
    assert!(
        condition(&state, HEALTHY).message.contains("DNSSECValid"),
        "{:?}",
        condition(&state, HEALTHY)
    );
    // Without an expectation the delegation is not asked for: its absence
    // is named, but `Healthy` holds.
    let state = first(&spec(), &healthy_facts()).0;
    assert_eq!(status_and_reason(&state, HEALTHY).0, "True");

    // Once every asked check has data, the verdict is known.
    let mut facts = healthy_facts();
    facts.delegation = Some(DelegationView {
        parent: strict.expected_nameservers.clone(),
        registry: strict.expected_nameservers.clone(),
        ..DelegationView::default()
    });
    facts.dnssec = Some(DnssecView {
        ds_at_parent: true,
        dnskey_at_child: true,
        matched: true,
        valid: true,
        reason: Some("Valid".to_owned()),
        ..DnssecView::default()
    });
    let state = first(&strict, &facts).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("True", "AllChecksPassed")
    );

    // A failing check makes it False even while others are unknown, and
    // even before the registry answered.
    let mut failing = HealthFacts {
        dnssec: Some(DnssecView::default()),
        ..healthy_facts()
    };
    let state = first(&strict, &failing).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("False", "Unsigned")
    );
    failing.registry = None;
    let state = first(&strict, &failing).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("False", "Unsigned")
    );
}

#[test]
fn a_required_lock_or_an_expiry_the_registry_did_not_publish_keeps_healthy_unknown() {
    // The registry answers with neither statuses nor an expiry date.
    let facts = HealthFacts {
        registry: Some(RegistrationFacts {
            registrar: Some("Demo Registrar Inc.".to_owned()),
            ..RegistrationFacts::default()
        }),
        ..HealthFacts::default()
    };
    let state = first(&spec(), &facts).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("Unknown", "Pending")
    );
    let message = &condition(&state, HEALTHY).message;
    assert!(
        message.contains("RegistryLocked (the registry published no statuses")
            && message.contains("ExpiringSoon (the registry published no expiry date"),
        "{message}"
    );
    // The lock not required: only the expiry is missing.
    let ignore = HealthSpec {
        registry_lock: RegistryLockPolicy::Ignore,
        ..spec()
    };
    let state = first(&ignore, &facts).0;
    let message = &condition(&state, HEALTHY).message;
    assert!(
        !message.contains("RegistryLocked") && message.contains("ExpiringSoon"),
        "{message}"
    );
}

#[test]
fn a_one_off_run_says_what_it_found_instead_of_not_yet() {
    let strict = HealthSpec {
        dnssec: DnssecPolicy::Required,
        expected_nameservers: vec!["ns1.example.net".to_owned()],
        ..spec()
    };
    let one_off = Mode::OneOff(RunFindings {
        registry: "rdap: not found (404)".to_owned(),
        delegation: "finding the parent's servers of example.net timed out".to_owned(),
        dnssec: "the delegation was not probed".to_owned(),
    });
    let facts = HealthFacts {
        mode: one_off.clone(),
        ..HealthFacts::default()
    };
    let state = first(&strict, &facts).0;
    for type_ in [HEALTHY, REGISTRY_LOCKED, EXPIRING_SOON] {
        let message = &condition(&state, type_).message;
        assert!(
            message
                .starts_with("the registry returned no registration data: rdap: not found (404)")
                && !message.contains("yet")
                && !message.contains("next"),
            "{type_}: {message}"
        );
    }
    assert_eq!(
        condition(&state, DELEGATION_DRIFT).message,
        "the delegation could not be probed: finding the parent's servers of example.net timed out"
    );
    assert_eq!(
        condition(&state, DNSSEC_VALID).message,
        "DNSSEC could not be probed: the delegation was not probed"
    );
    // With the registry's facts, the pending checks are named without "yet".
    let facts = HealthFacts {
        mode: one_off,
        ..healthy_facts()
    };
    let state = first(&strict, &facts).0;
    assert_eq!(
        status_and_reason(&state, HEALTHY),
        pair("Unknown", "Pending")
    );
    let message = &condition(&state, HEALTHY).message;
    assert!(
        message.contains(
            "checks this run asks for are not known: DelegationDrift (asked for by \
             --expected-nameserver; the delegation could not be probed"
        ) && message.contains("DNSSECValid (asked for by --dnssec; DNSSEC could not be probed")
            && !message.contains("yet"),
        "{message}"
    );
    // The operator's words for the same facts.
    let state = first(&strict, &HealthFacts::default()).0;
    assert_eq!(
        condition(&state, HEALTHY).message,
        "the registry has not been asked yet; health is known after the next registration check"
    );
}

#[test]
fn the_operator_says_what_the_registry_answered_when_it_was_asked_without_data() {
    use crate::check::{CheckKind, CheckOutcome, CheckReport};
    let mut rdap = CheckReport::new(CheckKind::Rdap, CheckOutcome::Error, "", now());
    rdap.error = Some("connection refused".to_owned());
    let whois = CheckReport::new(CheckKind::Whois, CheckOutcome::Available, "no match", now());
    let skipped = CheckReport::new(CheckKind::Rdap, CheckOutcome::Skipped, "", now());
    let facts = HealthFacts::from_reports(&[rdap, whois]);
    let state = first(&spec(), &facts).0;
    for type_ in [HEALTHY, REGISTRY_LOCKED, EXPIRING_SOON] {
        let message = &condition(&state, type_).message;
        assert_eq!(
            message,
            "the registry returned no registration data: rdap: error (connection refused); \
             whois: available (no match); it is asked again at the next registration check",
            "{type_}"
        );
    }
    // The next check does not ask the registry: its last answer stays.
    let later = HealthFacts::from_reports(std::slice::from_ref(&skipped));
    let report = evaluate(Some(&spec()), &later, Some(&state), Some(1), now());
    let kept = report.state.unwrap();
    assert_eq!(
        condition(&kept, EXPIRING_SOON).message,
        condition(&state, EXPIRING_SOON).message
    );
    assert_eq!(kept, state, "nothing to write");
    // Not asked (skipped, or no registry check at all): "not asked yet".
    for reports in [vec![skipped], vec![]] {
        let facts = HealthFacts::from_reports(&reports);
        assert_eq!(facts.registry_answer, None);
        let state = first(&spec(), &facts).0;
        assert_eq!(
            condition(&state, REGISTRY_LOCKED).message,
            "the registry has not been asked yet"
        );
    }
}

#[test]
fn a_consistent_delegation_names_the_views_compared_and_never_one_without_data() {
    let child = ChildView {
        server: "ns1.example.net".to_owned(),
        answered: true,
        authoritative: true,
        nameservers: vec!["ns1.example.net".to_owned()],
    };
    let expected = HealthSpec {
        expected_nameservers: vec!["ns1.example.net".to_owned()],
        ..spec()
    };
    // Every view has data.
    let mut facts = healthy_facts();
    facts.delegation = Some(DelegationView {
        parent: vec!["ns1.example.net".to_owned()],
        registry: vec!["ns1.example.net".to_owned()],
        child: vec![child.clone()],
        ..DelegationView::default()
    });
    let state = first(&spec(), &facts).0;
    assert_eq!(
        condition(&state, DELEGATION_DRIFT).message,
        "the parent, the registry and the domain's servers agree"
    );
    // The registry gave no name servers: it is not claimed to agree.
    facts.delegation.as_mut().unwrap().registry.clear();
    let state = first(&expected, &facts).0;
    assert_eq!(
        status_and_reason(&state, DELEGATION_DRIFT),
        pair("False", "Consistent")
    );
    assert_eq!(
        condition(&state, DELEGATION_DRIFT).message,
        "the parent and the domain's servers agree and match expectedNameservers; \
         the registry's name servers are not known (the registry published none)"
    );
    // The registry answered with errors only: that is why.
    let mut facts = HealthFacts {
        registry_answer: Some("rdap: error (connection refused)".to_owned()),
        delegation: facts.delegation.clone(),
        ..HealthFacts::default()
    };
    let state = first(&spec(), &facts).0;
    assert_eq!(
        condition(&state, DELEGATION_DRIFT).message,
        "the parent and the domain's servers agree; the registry's name servers are not known \
         (the registry returned no registration data: rdap: error (connection refused); \
         it is asked again at the next registration check)"
    );
    // A one-off run names its option.
    facts.mode = Mode::OneOff(RunFindings::default());
    let state = first(&expected, &facts).0;
    assert!(
        condition(&state, DELEGATION_DRIFT).message.starts_with(
            "the parent and the domain's servers agree and match --expected-nameserver;"
        ),
        "{}",
        condition(&state, DELEGATION_DRIFT).message
    );
}

#[test]
fn with_no_view_holding_name_servers_drift_is_unknown_not_consistent() {
    let mut facts = healthy_facts();
    facts.delegation = Some(DelegationView {
        child: vec![ChildView {
            server: "ns1.example.net".to_owned(),
            answered: false,
            authoritative: false,
            nameservers: Vec::new(),
        }],
        ..DelegationView::default()
    });
    let state = first(&spec(), &facts).0;
    assert_eq!(
        status_and_reason(&state, DELEGATION_DRIFT),
        pair("Unknown", "NoNameservers")
    );
    let message = &condition(&state, DELEGATION_DRIFT).message;
    assert!(
        message.starts_with("no view gave name servers to compare;")
            && message.contains("the parent lists none")
            && message.contains("none answered with them"),
        "{message}"
    );
}

#[test]
fn registration_change_words_parse_back() {
    for change in RegistrationChange::ALL {
        assert_eq!(change.as_str().parse::<RegistrationChange>(), Ok(change));
    }
    assert!("moved".parse::<RegistrationChange>().is_err());
}
