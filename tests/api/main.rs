//! Integration tests: one binary, each test owns a real server on an
//! ephemeral port with its own temporary SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod accounts;
mod api_keys;
mod bootstrap;
mod input;
mod mail;
mod process;
mod self_service;
mod settings;
mod spaces;
mod tokens;
mod two_factor;
mod vault;
