//! The per-IP limits live in `crate::ratelimit`; this path names them too.

pub use crate::ratelimit::*;
