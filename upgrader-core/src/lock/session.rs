//! The session lock of a server (PostgreSQL's advisory lock, MySQL/MariaDB's `GET_LOCK`): taken
//! and given back with the SQL of the dialect ([`SessionLockSql`]), held by the connection, and
//! released by the server when the connection closes.

use std::time::Duration;

use super::{Attempt, SessionLockSql, wait};
use crate::connection::AnyConnection;
use crate::context::Interaction;
use crate::error::Error;

/// A held session lock.
#[derive(Debug)]
pub(crate) struct SessionLock {
    sql: SessionLockSql,
}

/// A session lock being waited for, on the connection that will hold it.
struct Waiting<'a> {
    sql: &'a SessionLockSql,
    conn: &'a mut AnyConnection,
}

impl Attempt for Waiting<'_> {
    fn try_take(&mut self) -> Result<bool, Error> {
        match self
            .conn
            .query_i64(&self.sql.try_take)
            .map_err(Error::db("taking the upgrade lock"))?
        {
            Some(got) => Ok(got == 1),
            // GET_LOCK answers NULL on an error: that is not "someone else has it".
            None => Err(Error::Database {
                doing: "taking the upgrade lock".into(),
                cause: diesel::result::Error::DeserializationError(
                    "the server answered NULL instead of whether the lock was taken".into(),
                ),
            }),
        }
    }

    fn holder(&mut self) -> Option<String> {
        self.conn.query_text(&self.sql.holder).ok().flatten()
    }
}

impl SessionLock {
    /// Takes the lock on `conn`, waiting up to `timeout` for another session to release it.
    pub(crate) fn acquire(
        sql: SessionLockSql,
        conn: &mut AnyConnection,
        timeout: Duration,
        ui: &mut dyn Interaction,
    ) -> Result<SessionLock, Error> {
        wait(&mut Waiting { sql: &sql, conn }, timeout, ui)?;
        Ok(SessionLock { sql })
    }

    /// Gives the lock back, on the connection that holds it.
    pub(crate) fn release(self, conn: &mut AnyConnection) -> Result<(), Error> {
        conn.query_i64(&self.sql.release)
            .map(|_| ())
            .map_err(Error::db("releasing the upgrade lock"))
    }
}

/// Who holds the lock, when another session does. Takes nothing.
pub(crate) fn held_by_other(sql: &SessionLockSql, conn: &mut AnyConnection) -> Option<String> {
    let held = conn.query_i64(&sql.held_by_other).ok().flatten().unwrap_or(0) > 0;
    held.then(|| {
        conn.query_text(&sql.holder)
            .ok()
            .flatten()
            .unwrap_or_else(|| "another runner".into())
    })
}
