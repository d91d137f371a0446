//! Typed label sets of the instruments: each label is a field whose value is
//! a word from a closed set, written by its type's own `as_str` (never
//! `Debug` output), so what the OTLP attributes, the Prometheus labels and
//! the JSON view say is decided in one place.

use std::borrow::Cow;

use crate::{
    check::CheckKind,
    health::RegistrationChange,
    resource::{Availability, CheckOutcome, StatusField, WriteReason},
};

/// A label value: one word of a closed set.
pub trait LabelValue {
    /// The word on the wire.
    fn label_value(&self) -> Cow<'static, str>;
}

/// A set of labels of one instrument: its names in order, and its values.
pub trait LabelSet: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static {
    /// The label (attribute) names, in order.
    const KEYS: &'static [&'static str];

    /// The values, in the order of [`LabelSet::KEYS`].
    fn values(&self) -> Vec<Cow<'static, str>>;

    /// `(name, value)` pairs, in the order of [`LabelSet::KEYS`].
    fn pairs(&self) -> Vec<(&'static str, Cow<'static, str>)> {
        Self::KEYS.iter().copied().zip(self.values()).collect()
    }
}

macro_rules! words {
    ($($ty:ty),* $(,)?) => {
        $(impl LabelValue for $ty {
            fn label_value(&self) -> Cow<'static, str> {
                Cow::Borrowed(self.as_str())
            }
        })*
    };
}

words!(
    CheckKind,
    CheckOutcome,
    Availability,
    WriteReason,
    StatusField,
    CallbackKind,
    CallbackOutcome,
    ReconcileErrorKind,
    SyncOutcome,
    SyncTrigger,
    HttpMethod,
    RegistrationChange,
);

/// A route of the HTTP surface, as its table names it (`/domain/{domain}`).
impl LabelValue for &'static str {
    fn label_value(&self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

/// An HTTP status code.
impl LabelValue for u16 {
    fn label_value(&self) -> Cow<'static, str> {
        Cow::Owned(self.to_string())
    }
}

macro_rules! label_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident $(as $key:literal)? : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl LabelSet for $name {
            const KEYS: &'static [&'static str] = &[$(label_set!(@key $field $($key)?)),*];

            fn values(&self) -> Vec<Cow<'static, str>> {
                vec![$(self.$field.label_value()),*]
            }
        }
    };
    (@key $field:ident $key:literal) => { $key };
    (@key $field:ident) => { stringify!($field) };
}
/// Declares a label set: a `Copy` struct of the fields, in order, and its
/// [`LabelSet`] impl; a field's label is its name unless `as "key"` names
/// it. Further attributes (docs, derives) go on the struct.
pub(crate) use label_set;

/// No labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NoLabels;

impl LabelSet for NoLabels {
    const KEYS: &'static [&'static str] = &[];

    fn values(&self) -> Vec<Cow<'static, str>> {
        Vec::new()
    }
}

label_set!(
    /// A check's checker and result.
    CheckLabels {
        /// The checker.
        checker: CheckKind,
        /// What it concluded.
        result: CheckOutcome,
    }
);

label_set!(
    /// A checker.
    CheckerLabels {
        /// The checker.
        checker: CheckKind,
    }
);

label_set!(
    /// An availability.
    AvailabilityLabels {
        /// The availability.
        availability: Availability,
    }
);

label_set!(
    /// An availability change.
    TransitionLabels {
        /// Before.
        from: Availability,
        /// After.
        to: Availability,
    }
);

label_set!(
    /// A callback's kind and outcome.
    CallbackLabels {
        /// Notification or check result.
        kind: CallbackKind,
        /// How the delivery ended.
        outcome: CallbackOutcome,
    }
);

label_set!(
    /// A callback's kind.
    CallbackKindLabels {
        /// Notification or check result.
        kind: CallbackKind,
    }
);

label_set!(
    /// Why a status was written.
    WriteReasonLabels {
        /// The reason.
        reason: WriteReason,
    }
);

label_set!(
    /// A status field a write changed.
    StatusFieldLabels {
        /// The field, as the status names it.
        field: StatusField,
    }
);

label_set!(
    /// What failed in a reconcile.
    ReconcileErrorLabels {
        /// The kind of failure.
        kind: ReconcileErrorKind,
    }
);

label_set!(
    /// How a domain list sync ended.
    SyncRunLabels {
        /// The outcome.
        outcome: SyncOutcome,
    }
);

label_set!(
    /// What started a domain list sync.
    SyncTriggerLabels {
        /// The trigger.
        trigger: SyncTrigger,
    }
);

label_set!(
    /// One request to the HTTP surface, with the attribute names of the
    /// OpenTelemetry semantic conventions for HTTP servers.
    HttpRequestLabels {
        /// `http.request.method`.
        method as "http.request.method": HttpMethod,
        /// `http.route`: the route's template, never the raw path.
        route as "http.route": &'static str,
        /// `http.response.status_code`.
        status as "http.response.status_code": u16,
    }
);

label_set!(
    /// A kind of registration change of a health-mode domain.
    HealthChangeLabels {
        /// What changed.
        kind: RegistrationChange,
    }
);

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackKind {
    /// The availability notification (`API_CALLBACK_URL`).
    Notification,
    /// A check result sent to the callback.
    CheckResult,
}

impl CallbackKind {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "notification",
            Self::CheckResult => "check_result",
        }
    }
}

/// How one callback delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackOutcome {
    /// The receiver accepted it (2xx).
    Delivered,
    /// It failed and will be tried again (network error, 5xx, 408, 429).
    Retry,
    /// The receiver refused it for good (another 4xx).
    Rejected,
    /// A check result that failed (check results are not retried).
    Failed,
    /// A check result not sent: too many were in flight.
    Dropped,
}

impl CallbackOutcome {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

/// What failed in a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconcileErrorKind {
    /// The resource's labels could not be set.
    Relabel,
    /// A check panicked.
    Panic,
    /// Another error of the check.
    Other,
    /// A status write failed for good.
    WriteStatus,
    /// A status write failed and is tried again.
    WriteStatusRetry,
    /// An Event was not published: too many in flight.
    EventDropped,
}

impl ReconcileErrorKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Relabel,
        Self::Panic,
        Self::Other,
        Self::WriteStatus,
        Self::WriteStatusRetry,
        Self::EventDropped,
    ];

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relabel => "relabel",
            Self::Panic => "panic",
            Self::Other => "other",
            Self::WriteStatus => "write_status",
            Self::WriteStatusRetry => "write_status_retry",
            Self::EventDropped => "event_dropped",
        }
    }
}

/// How a domain list sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncOutcome {
    /// Applied.
    Ok,
    /// Refused by the mass-deletion guard.
    Refused,
    /// The list could not be parsed.
    Malformed,
    /// The list could not be fetched or applied.
    Failed,
}

impl SyncOutcome {
    /// Every outcome.
    pub const ALL: [Self; 4] = [Self::Ok, Self::Refused, Self::Malformed, Self::Failed];

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Malformed => "malformed",
            Self::Failed => "failed",
        }
    }
}

/// What started a domain list sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncTrigger {
    /// The refresh interval.
    Scheduled,
    /// `POST /refresh`.
    Refresh,
}

impl SyncTrigger {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Refresh => "refresh",
        }
    }
}

/// An HTTP request method; the ones the surface does not serve are
/// `_OTHER`, as the OpenTelemetry semantic conventions ask, so a client
/// cannot grow the label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// Any other.
    Other,
}

impl HttpMethod {
    /// The method of `name` (case-sensitive, as HTTP methods are).
    pub fn of(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            _ => Self::Other,
        }
    }

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Other => "_OTHER",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_named_by_field_or_by_the_semantic_convention() {
        assert_eq!(CheckLabels::KEYS, ["checker", "result"]);
        assert_eq!(
            CheckLabels {
                checker: CheckKind::Rdap,
                result: CheckOutcome::RateLimited
            }
            .pairs(),
            [
                ("checker", Cow::Borrowed("rdap")),
                ("result", Cow::Borrowed("rate_limited"))
            ]
        );
        assert_eq!(
            HttpRequestLabels {
                method: HttpMethod::of("PATCH"),
                route: "/domain/{domain}",
                status: 404
            }
            .values(),
            ["_OTHER", "/domain/{domain}", "404"]
        );
        assert_eq!(
            HttpRequestLabels::KEYS,
            [
                "http.request.method",
                "http.route",
                "http.response.status_code"
            ]
        );
        assert_eq!(
            TransitionLabels {
                from: Availability::PendingDelete,
                to: Availability::Available
            }
            .values(),
            ["PendingDelete", "Available"]
        );
    }
}
