//! The rdap checker (in progress).
