//! The slim view of a `MonitoredDomain` the controller's watch decodes.
//!
//! The watch delivers every object on every change (our own status writes
//! included). Decoding them as [`MonitoredDomain`] allocates what the
//! controller never reads: `managedFields` (often larger than the rest of the
//! object), annotations, owner references. [`WatchedDomain`] keeps from
//! `metadata` only the name, namespace, uid, resource version, generation,
//! deletion time and the shard label; serde skips the rest while parsing, so
//! it is never allocated. The status is decoded (it seeds the compact state
//! the first time a replica sees a resource) and dropped once the event is
//! applied: nothing of the object outlives its watch event.

use std::{borrow::Cow, collections::BTreeMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use serde::{Deserialize, Deserializer};

use crate::{
    resource::{MonitoredDomain, MonitoredDomainSpec, MonitoredDomainStatus},
    shard::SHARD_LABEL,
};

/// A `MonitoredDomain` as the watch decodes it: the metadata the controller
/// reads, the spec and the status.
#[derive(Clone, Debug)]
pub struct WatchedDomain {
    /// Name, namespace, uid, resource version, generation, deletion time and
    /// the shard label ([`SHARD_LABEL`]) only.
    pub metadata: ObjectMeta,
    /// What the user asked for.
    pub spec: MonitoredDomainSpec,
    /// The last written status, if any.
    pub status: Option<MonitoredDomainStatus>,
}

impl Resource for WatchedDomain {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        MonitoredDomain::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        MonitoredDomain::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        MonitoredDomain::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        MonitoredDomain::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de> Deserialize<'de> for WatchedDomain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            metadata: SlimMeta,
            spec: MonitoredDomainSpec,
            #[serde(default)]
            status: Option<MonitoredDomainStatus>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(Self {
            metadata: wire.metadata.into(),
            spec: wire.spec,
            status: wire.status,
        })
    }
}

/// The fields of `metadata` the controller reads. Every other field
/// (`managedFields` first of all) is skipped by the parser.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    deletion_timestamp: Option<Time>,
    #[serde(default, deserialize_with = "shard_label_only")]
    labels: Option<BTreeMap<String, String>>,
}

impl From<SlimMeta> for ObjectMeta {
    fn from(meta: SlimMeta) -> Self {
        Self {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            generation: meta.generation,
            deletion_timestamp: meta.deletion_timestamp,
            labels: meta.labels,
            ..Self::default()
        }
    }
}

/// Reads a label map keeping only [`SHARD_LABEL`].
fn shard_label_only<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of labels")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key == SHARD_LABEL {
                    kept.insert(key.into_owned(), map.next_value::<String>()?);
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(Some(kept))
        }
    }
    deserializer.deserialize_option(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_the_controller_reads_are_kept() {
        let json = serde_json::json!({
            "apiVersion": "domainmonitor.io/v1alpha1",
            "kind": "MonitoredDomain",
            "metadata": {
                "name": "example-com",
                "namespace": "watch",
                "uid": "0b0c3f5e-7a1d-4c59-9a57-3f1f5b8b7c21",
                "resourceVersion": "42",
                "generation": 3,
                "labels": {"team": "brand", SHARD_LABEL: "7"},
                "annotations": {"note": "x".repeat(4096)},
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
            },
            "spec": {"domain": "Example.COM", "priority": true},
            "status": {"availability": "Registered", "confidence": 0.97},
        });
        let watched: WatchedDomain = serde_json::from_value(json).unwrap();
        assert_eq!(watched.metadata.name.as_deref(), Some("example-com"));
        assert_eq!(watched.metadata.generation, Some(3));
        assert_eq!(
            watched.metadata.labels,
            Some([(SHARD_LABEL.to_owned(), "7".to_owned())].into()),
            "other labels are not kept"
        );
        assert!(watched.metadata.annotations.is_none());
        assert!(watched.metadata.managed_fields.is_none());
        assert_eq!(watched.spec.domain, "Example.COM");
        assert!(watched.spec.priority);
        assert_eq!(
            watched.status.map(|s| s.availability),
            Some(crate::resource::Availability::Registered)
        );
    }
}
