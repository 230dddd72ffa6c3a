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
}

impl Account {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.col("id")?,
            name: r.col("name")?,
            password_hash: r.col("password_hash")?,
            admin: r.col::<i64>("admin")? != 0,
            created_at: r.col("created_at")?,
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
    async fn add_token(&self, account_id: &str, token_sha256: &str, name: &str) -> Result<()>;
    async fn account_by_token(&self, token_sha256: &str) -> Result<Option<Account>>;
}

const ACCOUNT_COLUMNS: &str = "id, name, password_hash, admin, created_at";

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

    async fn add_token(&self, account_id: &str, token_sha256: &str, name: &str) -> Result<()> {
        self.exec(
            "INSERT INTO tokens (hash, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
            vec![
                token_sha256.into(),
                account_id.into(),
                name.into(),
                now_ms().into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn account_by_token(&self, token_sha256: &str) -> Result<Option<Account>> {
        sqlx::query(
            "SELECT a.id, a.name, a.password_hash, a.admin, a.created_at FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.hash = $1",
        )
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
