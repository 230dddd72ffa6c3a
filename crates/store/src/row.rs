//! Reading a row by column name from either driver, so each record type is read by one
//! function whichever backend and path wrote it.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::Result;

/// A value a column holds: text or a 64-bit integer, either possibly NULL.
pub(crate) trait ColumnValue: Sized {
    fn from_any(row: &AnyRow, name: &str) -> Result<Self>;
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> Result<Self>;
}

macro_rules! column_value {
    ($($t:ty),*) => {$(
        impl ColumnValue for $t {
            fn from_any(row: &AnyRow, name: &str) -> Result<Self> {
                Ok(row.try_get::<Self, _>(name)?)
            }
            fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> Result<Self> {
                Ok(row.get::<_, Self>(name)?)
            }
        }
    )*};
}

column_value!(String, Option<String>, i64, Option<i64>);

/// A row of either driver.
pub(crate) trait Columns {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T>;
}

impl Columns for AnyRow {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T> {
        T::from_any(self, name)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T> {
        T::from_sqlite(self, name)
    }
}

/// A value bound to a statement of either driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Null,
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Self::Null, Self::from)
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Self::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Self::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// Binds `args` in order to an async-driver query.
pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
            Arg::Null => q.bind(None::<String>),
        };
    }
    q
}
