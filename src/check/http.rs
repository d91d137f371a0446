//! The http checker (in progress).
