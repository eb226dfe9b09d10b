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

/// A read transaction on a pooled read-only connection: `Db::read` opens
/// it (`BEGIN`, deferred) before the closure and ends it after, so every
/// statement of one closure reads the same snapshot of the file (SQLite
/// fixes it at the closure's first statement); a write that commits
/// meanwhile is seen by the next read, never by half of this one.
///
/// It reads like a `Connection` (`Deref`), as `Tx` does: the read
/// functions take `&Connection`, so one function serves a read closure and
/// a write (which sees its own transaction). Nothing outside `db` can make
/// one, and `Db` hands out no bare connection, so a read through `Db` is
/// always a snapshot.
pub struct ReadTx<'a>(&'a Connection);

impl<'a> ReadTx<'a> {
    /// Only `db` wraps a connection whose read transaction it opened.
    pub(super) fn new(conn: &'a Connection) -> Self {
        Self(conn)
    }
}

impl Deref for ReadTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.0
    }
}
