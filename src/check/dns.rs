//! The dns checker (in progress).
