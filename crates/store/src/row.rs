//! Reading a row by column name from either driver, so each record type is read by one
//! function whichever backend and path wrote it.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::Result;

/// A value a column holds: text or a 64-bit integer, either possibly NULL.
pub(crate) trait ColumnValue: Sized {
    fn from_any(row: &AnyRow, name: &str) -> Result<Self>;
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> Result<Self>;
    /// From a row PostgreSQL returned as JSON (`json_agg`): NULL, absent, a string or a
    /// number.
    fn from_json(value: Option<&serde_json::Value>, name: &str) -> Result<Self>;
}

fn json_mismatch(name: &str, want: &str, got: Option<&serde_json::Value>) -> crate::StoreError {
    crate::StoreError::Corrupt {
        what: "row",
        message: format!("column {name}: expected {want}, got {got:?}"),
    }
}

fn json_text(v: Option<&serde_json::Value>, name: &str) -> Result<Option<String>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        other => Err(json_mismatch(name, "text", other)),
    }
}

fn json_int(v: Option<&serde_json::Value>, name: &str) -> Result<Option<i64>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| json_mismatch(name, "a 64-bit integer", v)),
        other => Err(json_mismatch(name, "an integer", other)),
    }
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
            fn from_json(v: Option<&serde_json::Value>, name: &str) -> Result<Self> {
                <Self as JsonValue>::from_json(v, name)
            }
        }
    )*};
}

column_value!(String, Option<String>, i64, Option<i64>);

impl JsonValue for String {
    fn from_json(v: Option<&serde_json::Value>, name: &str) -> Result<Self> {
        json_text(v, name)?.ok_or_else(|| json_mismatch(name, "text", v))
    }
}

impl JsonValue for Option<String> {
    fn from_json(v: Option<&serde_json::Value>, name: &str) -> Result<Self> {
        json_text(v, name)
    }
}

impl JsonValue for i64 {
    fn from_json(v: Option<&serde_json::Value>, name: &str) -> Result<Self> {
        json_int(v, name)?.ok_or_else(|| json_mismatch(name, "an integer", v))
    }
}

impl JsonValue for Option<i64> {
    fn from_json(v: Option<&serde_json::Value>, name: &str) -> Result<Self> {
        json_int(v, name)
    }
}

/// [`ColumnValue::from_json`], one impl per type (the macro covers the drivers).
trait JsonValue: Sized {
    fn from_json(v: Option<&serde_json::Value>, name: &str) -> Result<Self>;
}

/// A row of either driver.
pub(crate) trait Columns {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T>;
}

impl Columns for AnyRow {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T> {
        T::from_any(self, name)
    }
}

impl Columns for serde_json::Map<String, serde_json::Value> {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T> {
        T::from_json(self.get(name), name)
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
    /// A NULL PostgreSQL must take as a BIGINT.
    NullInt,
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

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        s.map_or(Self::Null, Self::Text)
    }
}

impl From<Option<i64>> for Arg {
    fn from(i: Option<i64>) -> Self {
        i.map_or(Self::NullInt, Self::Int)
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
            Self::Null | Self::NullInt => ToSqlOutput::Borrowed(ValueRef::Null),
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
            Arg::NullInt => q.bind(None::<i64>),
        };
    }
    q
}
