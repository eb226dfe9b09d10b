//! Integration tests: one binary, each test owns a real server on an
//! ephemeral port with its own temporary SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod accounts;
mod bootstrap;
mod input;
mod mail;
mod process;
mod spaces;
mod tokens;
