//! `Tx`: proof that code runs inside a write transaction. Only this module
//! makes one: `Db::write` hands each write a `&Tx` of the group commit's
//! `BEGIN IMMEDIATE` transaction (inside the write's own savepoint), and
//! `immediate` opens one on a connection outside a `Db` (the CLI's backup
//! record); a rusqlite `Transaction` the caller opened converts into one
//! (the importer). A function that writes takes `&Tx`, so it cannot
//! be handed a read connection or run outside a transaction; it reads like
//! a `Connection` (`Deref`), so it can call the read functions too.

use std::ops::Deref;

use rusqlite::{Connection, TransactionBehavior};

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

/// Runs `f` in a `BEGIN IMMEDIATE` transaction on `conn` (a file opened
/// outside a `Db`); commits when `f` succeeds, rolls back when it fails.
pub fn immediate<T, E, F>(conn: &mut Connection, f: F) -> std::result::Result<T, E>
where
    E: From<rusqlite::Error>,
    F: FnOnce(&Tx<'_>) -> std::result::Result<T, E>,
{
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&Tx::new(&tx))?;
    tx.commit()?;
    Ok(value)
}
