//! Unit tests of the DNSSEC assessment: zones signed here with hickory's
//! signer (ECDSA P-256), judged at a fixed time.

use hickory_proto::{
    dnssec::{
        Algorithm, DigestType, DnssecSigner, SigningKey, TBS,
        crypto::EcdsaSigningKey,
        rdata::{DNSSECRData, NSEC, SigInput},
    },
    op::{MessageType, OpCode},
    rr::rdata::NS,
};

use super::*;

/// "Now" in every test: 2026-12-01T00:00:00Z.
const NOW: u32 = 1_795_996_800;
const DAY: u32 = 86_400;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

struct Key {
    signer: DnssecSigner,
    dnskey: DNSKEY,
}

impl Key {
    fn new(zone: &str, flags: u16) -> Self {
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).unwrap();
        let key = EcdsaSigningKey::from_pkcs8(&pkcs8, Algorithm::ECDSAP256SHA256).unwrap();
        let dnskey = DNSKEY::with_flags(flags, key.to_public_key().unwrap());
        let signer = DnssecSigner::new(
            dnskey.clone(),
            Box::new(key),
            name(zone),
            Duration::from_secs(u64::from(DAY)),
        );
        Self { signer, dnskey }
    }

    fn ksk(zone: &str) -> Self {
        Self::new(zone, 257)
    }

    fn zsk(zone: &str) -> Self {
        Self::new(zone, 256)
    }

    fn tag(&self) -> u16 {
        self.dnskey.calculate_key_tag().unwrap()
    }

    fn record(&self, owner: &str) -> Record {
        Record::from_rdata(
            name(owner),
            3600,
            RData::DNSSEC(DNSSECRData::DNSKEY(self.dnskey.clone())),
        )
    }

    fn ds(&self, owner: &str, digest: DigestType) -> DS {
        DS::new(
            self.tag(),
            self.dnskey.algorithm(),
            digest,
            self.dnskey
                .to_digest(&name(owner), digest)
                .unwrap()
                .as_ref()
                .to_owned(),
        )
    }

    /// An RRSIG over `records` (one RRset) valid from `inception` to
    /// `expiration`.
    fn sign(&self, records: &[Record], inception: u32, expiration: u32) -> Record {
        let first = &records[0];
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: self.dnskey.algorithm(),
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(expiration),
            sig_inception: SerialNumber::new(inception),
            key_tag: self.tag(),
            signer_name: self.signer.signer_name().clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, records.iter()).unwrap();
        let sig = self.signer.sign(&tbs).unwrap();
        Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }
}

fn ds_record(owner: &str, ds: &DS) -> Record {
    Record::from_rdata(
        name(owner),
        3600,
        RData::DNSSEC(DNSSECRData::DS(ds.clone())),
    )
}

fn ns_record(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 3600, RData::NS(NS(name(target))))
}

/// An authoritative NOERROR answer holding `records`.
fn answer(records: Vec<Record>) -> Message {
    let mut message = Message::new(1, MessageType::Response, OpCode::Query);
    message.metadata.authoritative = true;
    message.answers = records;
    message
}

/// A signed RRset and its signature.
fn signed(records: Vec<Record>, key: &Key, inception: u32, expiration: u32) -> Vec<Record> {
    let sig = key.sign(&records, inception, expiration);
    let mut all = records;
    all.push(sig);
    all
}

/// A root, `test.` under it, and `secure.test.` with a KSK and a ZSK.
struct World {
    anchors: TrustAnchors,
    root: Key,
    tld: Key,
    ksk: Key,
    zsk: Key,
}

const DOMAIN: &str = "secure.test.";

impl World {
    fn new() -> Self {
        let root = Key::ksk(".");
        let mut anchors = TrustAnchors::empty();
        anchors.insert(root.dnskey.public_key());
        Self {
            anchors,
            root,
            tld: Key::ksk("test."),
            ksk: Key::ksk(DOMAIN),
            zsk: Key::zsk(DOMAIN),
        }
    }

    fn chain(&self, anchors: &TrustAnchors) -> Result<TrustedKeys, Untrusted> {
        let root_dnskey = answer(signed(
            vec![self.root.record(".")],
            &self.root,
            NOW - DAY,
            NOW + 10 * DAY,
        ));
        let tld_ds = answer(signed(
            vec![ds_record(
                "test.",
                &self.tld.ds("test.", DigestType::SHA256),
            )],
            &self.root,
            NOW - DAY,
            NOW + 10 * DAY,
        ));
        let tld_dnskey = answer(signed(
            vec![self.tld.record("test.")],
            &self.tld,
            NOW - DAY,
            NOW + 10 * DAY,
        ));
        chain(
            anchors,
            &name("test."),
            &tld_dnskey,
            Some((&root_dnskey, &tld_ds)),
            NOW,
        )
    }

    fn parent(&self, ds: &[DS]) -> Vec<Answer> {
        let records: Vec<Record> = ds.iter().map(|d| ds_record(DOMAIN, d)).collect();
        let records = if records.is_empty() {
            records
        } else {
            signed(records, &self.tld, NOW - DAY, NOW + 10 * DAY)
        };
        vec![Answer {
            server: "192.0.2.53:53".to_owned(),
            message: Ok(answer(records)),
        }]
    }

    /// A server of the domain serving its keys, the DNSKEY RRset signed by
    /// the KSK and the NS RRset by the ZSK, both valid in `window`.
    fn child(&self, server: &str, window: (u32, u32)) -> ChildAnswers {
        let keys = vec![self.ksk.record(DOMAIN), self.zsk.record(DOMAIN)];
        let ns = vec![ns_record(DOMAIN, "ns1.secure.test.")];
        ChildAnswers {
            server: server.to_owned(),
            dnskey: Ok(answer(signed(keys, &self.ksk, window.0, window.1))),
            ns: Ok(answer(signed(ns, &self.zsk, window.0, window.1))),
        }
    }

    fn good_ds(&self) -> Vec<DS> {
        vec![self.ksk.ds(DOMAIN, DigestType::SHA256)]
    }

    fn assess(&self, ds: &[DS], child: &[ChildAnswers]) -> DnssecView {
        assess(
            &name(DOMAIN),
            &self.chain(&self.anchors),
            &self.parent(ds),
            child,
            NOW,
        )
    }
}

fn reason(view: &DnssecView) -> &str {
    view.reason.as_deref().unwrap_or("")
}

const VALID: (u32, u32) = (NOW - DAY, NOW + 30 * DAY);

#[test]
fn a_signed_domain_validates_and_its_earliest_own_signature_is_the_expiry() {
    let w = World::new();
    let soon = (NOW - DAY, NOW + 2 * DAY);
    let view = w.assess(&w.good_ds(), &[w.child("ns1", VALID), w.child("ns2", soon)]);
    assert_eq!(reason(&view), "Valid", "{view:?}");
    assert!(view.valid && view.matched && view.ds_at_parent && view.dnskey_at_child);
    assert_eq!(view.problem, None);
    assert_eq!(
        view.signature_expires_at.map(|t| t.0.as_second()),
        Some(i64::from(NOW + 2 * DAY))
    );
}

#[test]
fn sha1_and_sha384_ds_records_match_too() {
    let w = World::new();
    for digest in [DigestType::SHA1, DigestType::SHA384] {
        let view = w.assess(&[w.ksk.ds(DOMAIN, digest)], &[w.child("ns1", VALID)]);
        assert_eq!(reason(&view), "Valid", "{digest:?}: {view:?}");
    }
}

#[test]
fn a_ds_with_the_right_digest_but_another_tag_or_algorithm_does_not_match() {
    let w = World::new();
    let good = w.ksk.ds(DOMAIN, DigestType::SHA256);
    assert!(ds_matches(&good, &name(DOMAIN), &w.ksk.dnskey));
    let other_tag = DS::new(
        good.key_tag().wrapping_add(1),
        good.algorithm(),
        good.digest_type(),
        good.digest().to_vec(),
    );
    let other_algorithm = DS::new(
        good.key_tag(),
        Algorithm::ECDSAP384SHA384,
        good.digest_type(),
        good.digest().to_vec(),
    );
    for ds in [other_tag, other_algorithm] {
        assert!(!ds_matches(&ds, &name(DOMAIN), &w.ksk.dnskey));
        let view = w.assess(&[ds], &[w.child("ns1", VALID)]);
        assert_eq!(reason(&view), "DSMismatch", "{view:?}");
        assert!(!view.matched && !view.valid);
        let problem = view.problem.unwrap();
        assert!(problem.contains(&w.ksk.tag().to_string()), "{problem}");
        assert!(problem.contains("secure.test. IN DS"), "{problem}");
    }
}

#[test]
fn ds_records_of_unsupported_algorithms_only_leave_the_domain_insecure() {
    let w = World::new();
    let good = w.ksk.ds(DOMAIN, DigestType::SHA256);
    let unknown_digest = DS::new(
        good.key_tag(),
        good.algorithm(),
        DigestType::Unknown(200),
        good.digest().to_vec(),
    );
    let view = w.assess(&[unknown_digest], &[w.child("ns1", VALID)]);
    assert_eq!(reason(&view), "NotDelegatedSecurely", "{view:?}");
    assert!(view.ds_at_parent && !view.valid);
}

#[test]
fn a_revoked_key_signs_nothing() {
    let w = World::new();
    // The KSK with REVOKE set (RFC 5011): its DS and signature are ignored.
    let revoked = Key::new(DOMAIN, 257 | 0x0080);
    let keys = vec![revoked.record(DOMAIN), w.zsk.record(DOMAIN)];
    let child = ChildAnswers {
        server: "ns1".to_owned(),
        dnskey: Ok(answer(signed(keys, &revoked, VALID.0, VALID.1))),
        ns: Ok(answer(signed(
            vec![ns_record(DOMAIN, "ns1.secure.test.")],
            &w.zsk,
            VALID.0,
            VALID.1,
        ))),
    };
    let view = w.assess(&[revoked.ds(DOMAIN, DigestType::SHA256)], &[child]);
    assert_eq!(reason(&view), "DSMismatch", "{view:?}");
}

#[test]
fn expired_and_future_signatures_name_the_server() {
    let w = World::new();
    let expired = (NOW - 60 * DAY, NOW - 30 * DAY);
    let view = w.assess(
        &w.good_ds(),
        &[w.child("ns1", VALID), w.child("ns2", expired)],
    );
    assert_eq!(reason(&view), "SignatureExpired", "{view:?}");
    assert!(view.matched && !view.valid);
    let problem = view.problem.unwrap();
    assert!(problem.contains("at ns2"), "{problem}");
    assert!(!problem.contains("at ns1"), "{problem}");
    // The same finding at two servers is one sentence naming both.
    let view = w.assess(
        &w.good_ds(),
        &[w.child("ns1", expired), w.child("ns2", expired)],
    );
    let problem = view.problem.unwrap();
    assert!(
        problem.contains("the DNSKEY RRset at ns1, ns2 expired"),
        "{problem}"
    );
    assert_eq!(problem.matches("DNSKEY RRset").count(), 1, "{problem}");
    let future = (NOW + DAY, NOW + 30 * DAY);
    let view = w.assess(&w.good_ds(), &[w.child("ns1", future)]);
    assert_eq!(reason(&view), "SignatureNotYetValid", "{view:?}");
}

#[test]
fn a_missing_or_tampered_signature_is_reported() {
    let w = World::new();
    let mut child = w.child("ns1", VALID);
    if let Ok(ns) = &mut child.ns {
        ns.answers.retain(|r| r.record_type() != RecordType::RRSIG);
    }
    let view = w.assess(&w.good_ds(), &[child]);
    assert_eq!(reason(&view), "SignatureMissing", "{view:?}");

    let mut child = w.child("ns1", VALID);
    if let Ok(ns) = &mut child.ns {
        // Another NS set than the one signed.
        ns.answers[0] = ns_record(DOMAIN, "ns9.elsewhere.test.");
    }
    let view = w.assess(&w.good_ds(), &[child]);
    assert_eq!(reason(&view), "SignatureInvalid", "{view:?}");
    assert!(view.problem.unwrap().contains("does not verify"));
}

#[test]
fn unsigned_not_delegated_securely_and_missing_keys() {
    let w = World::new();
    let unsigned = ChildAnswers {
        server: "ns1".to_owned(),
        dnskey: Ok(answer(Vec::new())),
        ns: Ok(answer(vec![ns_record(DOMAIN, "ns1.secure.test.")])),
    };
    let view = w.assess(&[], std::slice::from_ref(&unsigned));
    assert_eq!(reason(&view), "Unsigned");
    assert!(!view.ds_at_parent && !view.dnskey_at_child && !view.valid);

    let view = w.assess(&w.good_ds(), &[unsigned]);
    assert_eq!(reason(&view), "MissingDNSKEY", "{view:?}");

    let view = w.assess(&[], &[w.child("ns1", VALID)]);
    assert_eq!(reason(&view), "NotDelegatedSecurely", "{view:?}");
    let problem = view.problem.unwrap();
    let ds = w.ksk.ds(DOMAIN, DigestType::SHA256);
    assert!(
        problem.contains(&format!("secure.test. IN DS {ds}")),
        "{problem} should give {ds}"
    );
    let publish = problem.split("publish").nth(1).unwrap();
    assert!(
        !publish.contains(&format!("DS {} ", w.zsk.tag())),
        "only the KSK's DS: {problem}"
    );
}

#[test]
fn a_chain_from_another_anchor_is_broken() {
    let w = World::new();
    let mut other = TrustAnchors::empty();
    other.insert(Key::ksk(".").dnskey.public_key());
    let broken = w.chain(&other);
    assert!(broken.is_err());
    let view = assess(
        &name(DOMAIN),
        &broken,
        &w.parent(&w.good_ds()),
        &[w.child("ns1", VALID)],
        NOW,
    );
    assert_eq!(reason(&view), "ChainBroken", "{view:?}");
    assert!(view.problem.unwrap().contains("trust anchors"));
    // An anchor at the TLD itself needs no root.
    let mut at_tld = TrustAnchors::empty();
    at_tld.insert_with_name(w.tld.dnskey.public_key(), LowerName::from(&name("test.")));
    assert!(w.chain(&at_tld).is_ok());
}

#[test]
fn the_window_uses_serial_arithmetic_with_inclusive_edges() {
    let at = SerialNumber::new;
    assert_eq!(window(at(100), at(200), 100), Ok(()));
    assert_eq!(window(at(100), at(200), 200), Ok(()));
    assert_eq!(window(at(100), at(200), 201), Err(Signed::Expired(200)));
    assert_eq!(window(at(100), at(200), 99), Err(Signed::NotYetValid(100)));
    // Across the wrap of 2^32 seconds (in 2106).
    let inception = u32::MAX - 100;
    assert_eq!(window(at(inception), at(100), u32::MAX), Ok(()));
    assert_eq!(window(at(inception), at(100), 5), Ok(()));
    assert_eq!(
        window(at(inception), at(100), 101),
        Err(Signed::Expired(100))
    );
    assert_eq!(
        window(at(inception), at(100), inception - 1),
        Err(Signed::NotYetValid(inception))
    );
    // Exactly half the serial space away is undefined (RFC 1982 §3.2): out.
    assert!(window(at(0), at(10), 1 << 31).is_err());
}

#[test]
fn reasons_round_trip_and_only_unsigned_states_are_insecure() {
    for text in [
        "Valid",
        "Unsigned",
        "NotDelegatedSecurely",
        "MissingDNSKEY",
        "DSMismatch",
        "SignatureInvalid",
        "SignatureMissing",
        "SignatureExpired",
        "SignatureNotYetValid",
        "ChainBroken",
        "InsecureParent",
    ] {
        let reason = text.parse::<Reason>().unwrap();
        assert_eq!(reason.as_str(), text);
        assert_eq!(
            reason.is_insecure(),
            matches!(text, "Unsigned" | "NotDelegatedSecurely" | "InsecureParent")
        );
    }
    assert!("Invalid".parse::<Reason>().is_err());
    assert!(Reason::ALL.iter().all(|r| r.as_str().parse() == Ok(*r)));
}

/// The root's NODATA answer to `DS test.` with `authority` (its NSEC and
/// RRSIG, or not).
fn nodata(authority: Vec<Record>) -> Message {
    let mut message = answer(Vec::new());
    message.authorities = authority;
    message
}

fn nsec_record(owner: &str, next: &str, types: &[RecordType]) -> Record {
    Record::from_rdata(
        name(owner),
        300,
        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
            name(next),
            types.iter().copied(),
        ))),
    )
}

#[test]
fn only_a_signed_nsec_at_the_cut_proves_an_unsigned_tld() {
    let w = World::new();
    let keys = [&w.root.dnskey];
    let tld = name("test.");
    let delegation = [RecordType::NS, RecordType::NSEC, RecordType::RRSIG];
    let proof = |types: &[RecordType], key: &Key| {
        nodata(signed(
            vec![nsec_record("test.", "zz.", types)],
            key,
            NOW - DAY,
            NOW + DAY,
        ))
    };
    // The root's signed NSEC at test.: NS, no DS, no SOA. Insecure.
    assert_eq!(
        insecure_delegation(&proof(&delegation, &w.root), &tld, &keys, NOW),
        Ok(())
    );
    // No NSEC at all (a stripped or unsigned answer): not a proof.
    let why = insecure_delegation(&nodata(Vec::new()), &tld, &keys, NOW).unwrap_err();
    assert!(why.contains("no NSEC"), "{why}");
    // An NSEC signed by another key than the root's: not a proof.
    let why = insecure_delegation(&proof(&delegation, &w.tld), &tld, &keys, NOW).unwrap_err();
    assert!(why.contains("NSEC of test."), "{why}");
    // The NSEC says there is a DS: the DS answer is missing it, bogus.
    let with_ds = [RecordType::NS, RecordType::DS, RecordType::NSEC];
    let why = insecure_delegation(&proof(&with_ds, &w.root), &tld, &keys, NOW).unwrap_err();
    assert!(why.contains("unsigned delegation"), "{why}");
    // An NXDOMAIN for the TLD proves nothing about a DS.
    let mut nx = proof(&delegation, &w.root);
    nx.metadata.response_code = ResponseCode::NXDomain;
    assert!(insecure_delegation(&nx, &tld, &keys, NOW).is_err());

    // In the chain: the proof makes the TLD insecure and the domain
    // `InsecureParent`, an insecure (not broken) state.
    let root_dnskey = answer(signed(
        vec![w.root.record(".")],
        &w.root,
        NOW - DAY,
        NOW + 10 * DAY,
    ));
    let unsigned_tld = answer(Vec::new());
    let insecure = chain(
        &w.anchors,
        &tld,
        &unsigned_tld,
        Some((&root_dnskey, &proof(&delegation, &w.root))),
        NOW,
    );
    assert!(
        matches!(insecure, Err(Untrusted::Insecure(_))),
        "{insecure:?}"
    );
    let view = assess(&name(DOMAIN), &insecure, &w.parent(&[]), &[], NOW);
    assert_eq!(reason(&view), "InsecureParent", "{view:?}");
    assert!(!view.valid);
    // Without the proof: broken, as before.
    let broken = chain(
        &w.anchors,
        &tld,
        &unsigned_tld,
        Some((&root_dnskey, &nodata(Vec::new()))),
        NOW,
    );
    assert!(matches!(broken, Err(Untrusted::Broken(_))), "{broken:?}");
}
