//! The domain list sync (SPEC.md §4): the user's API in, `MonitoredDomain`
//! resources out. [`plan`] is the pure half.

pub mod plan;
