use tidemark_ports::WarehouseError;
use tokio_postgres::error::SqlState;

/// The one function that turns a driver error into a typed error, deciding whether it is
/// retriable: lost connections, server shutdowns, serialization failures (PostgreSQL's 40001,
/// Redshift's error 1023) and deadlocks are; everything else is not.
pub fn classify(err: tokio_postgres::Error, context: &str) -> WarehouseError {
    let message = error_chain(&err);
    let sqlstate = err.code().map(|c| c.code().to_string());
    // 57014 is also an operator's pg_cancel_backend ("canceling statement due to user
    // request"), which a retry may get past; only the timeout says the statement is too big.
    if err.code() == Some(&SqlState::QUERY_CANCELED) && message.contains("statement timeout") {
        return WarehouseError::Timeout {
            context: context.to_string(),
            timeout: None,
            message,
        };
    }
    // Redshift reports its serialization failure (error 1023, "Serializable isolation
    // violation on table …") as an internal error (XX000), not 40001: retried the same way.
    let redshift_serialization = message.contains("Serializable isolation violation");
    let retriable = redshift_serialization
        || match err.code() {
            None => true, // IO / closed connection / protocol: no SQLSTATE
            Some(code) => {
                code.code().starts_with("08")
                    || *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CRASH_SHUTDOWN
                    || *code == SqlState::CANNOT_CONNECT_NOW
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::QUERY_CANCELED
                    || *code == SqlState::TOO_MANY_CONNECTIONS
            }
        };
    if retriable {
        WarehouseError::Connection {
            context: context.to_string(),
            sqlstate,
            message,
        }
    } else {
        WarehouseError::Statement {
            context: context.to_string(),
            sqlstate,
            message,
        }
    }
}

/// The error with all its causes, and the server's detail when there is one.
fn error_chain(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            s.push_str(": ");
            s.push_str(detail);
        }
        return s;
    }
    let mut s = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Reads a column, turning an unexpected type (someone altered tidemark's tables) into an
/// error instead of a panic.
pub(crate) fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
    context: &str,
) -> Result<T, tidemark_ports::WarehouseError> {
    // Not `classify`: a decoding error has no SQLSTATE but is not a lost connection.
    row.try_get(index)
        .map_err(|e| tidemark_ports::WarehouseError::Statement {
            context: context.to_string(),
            sqlstate: None,
            message: error_chain(&e),
        })
}
