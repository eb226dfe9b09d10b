//! `Tx`: proof that code runs inside a write transaction. Nothing but a
//! transaction makes one: `Db::write` hands each write a `&Tx` of the group commit's
//! `BEGIN IMMEDIATE` transaction (inside the write's own savepoint); code
//! that works on a file outside a `Db` (the importer, the CLI's backup
//! record, the benchmark seed) opens its own rusqlite `Transaction` and
//! converts it. A function that writes takes `&Tx`, so it cannot
//! be handed a read connection or run outside a transaction; it reads like
//! a `Connection` (`Deref`), so it can call the read functions too.

use std::ops::Deref;

use rusqlite::Connection;

/// A write transaction (see the module docs).
pub struct Tx<'a>(&'a Connection);

impl<'a> Tx<'a> {
    /// Only `db` wraps a connection whose transaction it opened.
    pub(super) fn new(conn: &'a Connection) -> Self {
        Self(conn)
    }
}

/// A transaction the caller opened on a file outside a `Db` and ends itself
/// (the importer, which rolls a dry run back).
impl<'a> From<&'a rusqlite::Transaction<'_>> for Tx<'a> {
    fn from(tx: &'a rusqlite::Transaction<'_>) -> Self {
        Self(tx)
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.0
    }
}
