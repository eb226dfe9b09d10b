//! One module per route group; handlers stay thin.

pub mod auth;
pub mod health;
pub mod wellknown;
