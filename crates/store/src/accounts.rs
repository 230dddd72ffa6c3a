//! Accounts with their API tokens, and long-running operations (a scan asked through the
//! Yandex-shaped API is one).

use sqlx::Row;

use crate::row::Columns;
use crate::{Result, Store, StoreError, new_id, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// An argon2 PHC string; verified by the hub.
    pub password_hash: String,
    pub admin: bool,
    pub created_at: i64,
    /// When the password last changed (0: never); session JWTs issued before are refused.
    pub password_changed_at: i64,
}

/// An API token as it is listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Account {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.col("id")?,
            name: r.col("name")?,
            password_hash: r.col("password_hash")?,
            admin: r.col::<i64>("admin")? != 0,
            created_at: r.col("created_at")?,
            password_changed_at: r.col("password_changed_at")?,
        })
    }
}

#[allow(async_fn_in_trait)]
pub trait AccountStore {
    /// Creates an account; a taken name is a conflict.
    async fn create_account(&self, name: &str, password_hash: &str, admin: bool)
    -> Result<Account>;
    async fn account_by_name(&self, name: &str) -> Result<Option<Account>>;
    async fn account(&self, id: &str) -> Result<Option<Account>>;
    async fn account_count(&self) -> Result<i64>;
    /// Records an API token by its SHA-256 (hex); the token itself is never stored.
    async fn add_token(&self, account_id: &str, token_sha256: &str, name: &str) -> Result<Token>;
    async fn account_by_token(&self, token_sha256: &str) -> Result<Option<Account>>;
    /// Records that a token was used at `now`, unless it was already recorded within the
    /// minute before (a write per minute per token at most).
    async fn touch_token(&self, token_sha256: &str, now: i64) -> Result<()>;
    /// Every account, by name.
    async fn accounts(&self) -> Result<Vec<Account>>;
    /// Sets an account's password hash and ends its console sessions; whether it exists.
    async fn set_password(&self, account_id: &str, password_hash: &str) -> Result<bool>;
    /// Deletes an account with its tokens and console sessions (its images stay, for an
    /// admin to see); the SHA-256 of each token deleted, or `None` when there was no such
    /// account.
    async fn delete_account(&self, account_id: &str) -> Result<Option<Vec<String>>>;
    /// The tokens of an account (everyone's when `None`), oldest first.
    async fn tokens(&self, account_id: Option<&str>) -> Result<Vec<Token>>;
    /// Deletes a token, when it belongs to `account_id` (any account's when `None`); the
    /// SHA-256 it was kept by, for caches to forget it.
    async fn revoke_token(
        &self,
        token_id: &str,
        account_id: Option<&str>,
    ) -> Result<Option<String>>;
}

const ACCOUNT_COLUMNS: &str = "id, name, password_hash, admin, created_at, password_changed_at";
/// The same, from `accounts a`.
pub(crate) const ACCOUNT_COLUMNS_A: &str =
    "a.id, a.name, a.password_hash, a.admin, a.created_at, a.password_changed_at";
const TOKEN_COLUMNS: &str = "id, account_id, name, created_at, last_used_at";

impl AccountStore for Store {
    async fn create_account(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
    ) -> Result<Account> {
        if self.account_by_name(name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "an account named {name:?} exists"
            )));
        }
        let account = Account {
            id: new_id("acc"),
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            admin,
            created_at: now_ms(),
            password_changed_at: 0,
        };
        // Two creators at once: the unique name stops the second.
        let inserted = self
            .exec(
                "INSERT INTO accounts (id, name, password_hash, admin, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO NOTHING",
                vec![
                    account.id.clone().into(),
                    account.name.clone().into(),
                    account.password_hash.clone().into(),
                    i64::from(admin).into(),
                    account.created_at.into(),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "an account named {name:?} exists"
            )));
        }
        Ok(account)
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Account::from_row)
        .transpose()
    }

    async fn account(&self, id: &str) -> Result<Option<Account>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Account::from_row)
        .transpose()
    }

    async fn account_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn add_token(&self, account_id: &str, token_sha256: &str, name: &str) -> Result<Token> {
        let token = Token {
            id: new_id("tok"),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            created_at: now_ms(),
            last_used_at: None,
        };
        self.exec(
            "INSERT INTO tokens (hash, id, account_id, name, created_at) VALUES ($1, $2, $3, $4, $5)",
            vec![
                token_sha256.into(),
                token.id.clone().into(),
                account_id.into(),
                name.into(),
                token.created_at.into(),
            ],
        )
        .await?;
        Ok(token)
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Account::from_row)
        .collect()
    }

    async fn set_password(&self, account_id: &str, password_hash: &str) -> Result<bool> {
        // Milliseconds, and never the same as a JWT's second it would have to refuse.
        let changed = self
            .exec_guarded_in(
                crate::sqlite::Lane::Foreground,
                vec![
                    (
                        "UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3"
                            .to_owned(),
                        vec![password_hash.into(), now_ms().into(), account_id.into()],
                    ),
                    (
                        "DELETE FROM console_sessions WHERE account_id = $1".to_owned(),
                        vec![account_id.into()],
                    ),
                ],
            )
            .await?;
        Ok(changed)
    }

    async fn delete_account(&self, account_id: &str) -> Result<Option<Vec<String>>> {
        let hashes = sqlx::query("SELECT hash FROM tokens WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("hash"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let deleted = self
            .exec_guarded_in(
                crate::sqlite::Lane::Foreground,
                vec![
                    (
                        "DELETE FROM accounts WHERE id = $1".to_owned(),
                        vec![account_id.into()],
                    ),
                    (
                        "DELETE FROM tokens WHERE account_id = $1".to_owned(),
                        vec![account_id.into()],
                    ),
                    (
                        "DELETE FROM console_sessions WHERE account_id = $1".to_owned(),
                        vec![account_id.into()],
                    ),
                ],
            )
            .await?;
        Ok(deleted.then_some(hashes))
    }

    async fn tokens(&self, account_id: Option<&str>) -> Result<Vec<Token>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ($1 IS NULL OR account_id = $1) ORDER BY created_at, id"
        )))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Token {
                    id: r.col("id")?,
                    account_id: r.col("account_id")?,
                    name: r.col("name")?,
                    created_at: r.col("created_at")?,
                    last_used_at: r.col("last_used_at")?,
                })
            })
            .collect()
    }

    async fn revoke_token(
        &self,
        token_id: &str,
        account_id: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(row) = sqlx::query(
            "SELECT hash FROM tokens WHERE id = $1 AND ($2 IS NULL OR account_id = $2)",
        )
        .bind(token_id)
        .bind(account_id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let hash: String = row.try_get("hash")?;
        let n = self
            .exec(
                "DELETE FROM tokens WHERE hash = $1",
                vec![hash.clone().into()],
            )
            .await?;
        Ok((n == 1).then_some(hash))
    }

    async fn touch_token(&self, token_sha256: &str, now: i64) -> Result<()> {
        self.exec(
            "UPDATE tokens SET last_used_at = $2 WHERE hash = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
            vec![
                token_sha256.into(),
                now.into(),
                now.saturating_sub(60_000).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn account_by_token(&self, token_sha256: &str) -> Result<Option<Account>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS_A} FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.hash = $1"
        )))
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(Account::from_row)
        .transpose()
    }
}

/// A long-running operation over a scan: done when the scan has finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: String,
    pub owner: String,
    pub description: String,
    pub scan_id: String,
    pub created_at: i64,
}

#[allow(async_fn_in_trait)]
pub trait OperationStore {
    async fn create_operation(
        &self,
        owner: &str,
        description: &str,
        scan_id: &str,
    ) -> Result<Operation>;
    async fn operation(&self, id: &str) -> Result<Option<Operation>>;
}

impl OperationStore for Store {
    async fn create_operation(
        &self,
        owner: &str,
        description: &str,
        scan_id: &str,
    ) -> Result<Operation> {
        let op = Operation {
            id: new_id("op"),
            owner: owner.to_owned(),
            description: description.to_owned(),
            scan_id: scan_id.to_owned(),
            created_at: now_ms(),
        };
        self.exec(
            "INSERT INTO operations (id, owner, description, scan_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            vec![
                op.id.clone().into(),
                op.owner.clone().into(),
                op.description.clone().into(),
                op.scan_id.clone().into(),
                op.created_at.into(),
            ],
        )
        .await?;
        Ok(op)
    }

    async fn operation(&self, id: &str) -> Result<Option<Operation>> {
        let Some(r) = sqlx::query(
            "SELECT id, owner, description, scan_id, created_at FROM operations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Operation {
            id: r.try_get("id")?,
            owner: r.try_get("owner")?,
            description: r.try_get("description")?,
            scan_id: r.try_get("scan_id")?,
            created_at: r.try_get("created_at")?,
        }))
    }
}
