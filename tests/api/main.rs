//! Integration tests: one binary, each test owns a real server on an
//! ephemeral port with its own temporary SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod accounts;
mod addresses;
mod admin;
mod admin_actions;
mod admin_browser;
mod admin_cli;
mod api_keys;
mod at_rest;
mod better_auth;
mod better_auth_client;
mod better_auth_core;
mod better_auth_plugins;
mod bootstrap;
mod browser;
mod conformance;
mod container;
mod cookie_prefix;
mod crash;
mod csrf;
mod door_limits;
mod files;
mod guessing;
mod hardening;
mod hash_pool;
#[cfg(feature = "import")]
mod import;
mod inflight;
mod input;
mod invitations;
mod links;
mod mail;
mod mission_grant;
mod openapi;
mod ops;
mod outbox_links;
mod passkey_limits;
mod passkeys;
mod personas;
mod personas_refusals;
mod process;
mod redirects;
mod replication;
mod resource_caps;
mod revocation;
mod rotation;
mod scrypt_passwords;
mod secret_settings;
mod security;
mod self_service;
mod settings;
mod smtp_tls;
mod space_integrity;
mod space_refusals;
mod spaces;
mod system;
mod takeover;
mod tokens;
mod two_factor;
mod vault;
