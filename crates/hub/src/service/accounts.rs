//! Accounts and API tokens as the console and the REST API manage them: who may do what
//! (an admin manages every account; everyone their own password and tokens), with the
//! same rules for names and passwords as `ferret user`.

use ferret_store::{Account, AccountStore, StoreError, Token};

use crate::Hub;
use crate::api::error::{ApiError, Code};
use crate::auth::{self, Principal};

/// The shortest password accepted for a new one.
pub const MIN_PASSWORD: usize = 8;

/// A user name: 1 to 128 characters, no whitespace or control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.chars().count() > 128
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{name:?}: a user name is 1 to 128 characters without spaces"
        ));
    }
    Ok(())
}

/// A new password: at least [`MIN_PASSWORD`] characters, at most 1024.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "the password is {n} characters; at least {MIN_PASSWORD} are needed"
        ));
    }
    if password.len() > 1024 {
        return Err("the password is longer than 1024 bytes".to_owned());
    }
    Ok(())
}

/// A token's label: 1 to 64 printable characters.
fn check_token_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "a token's name is 1 to 64 printable characters",
        ));
    }
    Ok(())
}

async fn hash(password: String) -> Result<String, ApiError> {
    // argon2 is slow on purpose: off the async workers.
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

fn admin_only(p: &Principal) -> Result<(), ApiError> {
    if p.admin {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::PermissionDenied,
            "only an admin manages accounts",
        ))
    }
}

impl Hub {
    /// Every account (admins only).
    pub async fn accounts(&self, p: &Principal) -> Result<Vec<Account>, ApiError> {
        admin_only(p)?;
        Ok(self.store.accounts().await?)
    }

    /// Creates an account (admins only).
    pub async fn create_account(
        &self,
        p: &Principal,
        name: &str,
        password: &str,
        admin: bool,
    ) -> Result<Account, ApiError> {
        admin_only(p)?;
        check_name(name).map_err(|m| ApiError::invalid("name", m))?;
        check_password(password).map_err(|m| ApiError::invalid("password", m))?;
        let hash = hash(password.to_owned()).await?;
        match self.store.create_account(name, &hash, admin).await {
            Err(StoreError::Conflict(m)) => Err(ApiError::new(Code::FailedPrecondition, m)),
            other => Ok(other?),
        }
    }

    /// Sets a password: one's own, proving the current one, or anyone's as an admin. Ends
    /// the account's console sessions; session JWTs issued before are refused.
    pub async fn set_password(
        &self,
        p: &Principal,
        account_id: &str,
        current: Option<&str>,
        new: &str,
    ) -> Result<(), ApiError> {
        let account = self
            .store
            .account(account_id)
            .await?
            .filter(|a| p.admin || a.id == p.account_id)
            .ok_or_else(|| ApiError::not_found("account", account_id))?;
        check_password(new).map_err(|m| ApiError::invalid("password", m))?;
        if account.id == p.account_id {
            let current = current.ok_or_else(|| {
                ApiError::invalid("currentPassword", "give the current password to change it")
            })?;
            let (stored, given) = (account.password_hash.clone(), current.to_owned());
            let ok = tokio::task::spawn_blocking(move || auth::verify_password(&given, &stored))
                .await
                .unwrap_or(false);
            if !ok {
                return Err(ApiError::new(
                    Code::PermissionDenied,
                    "currentPassword: it is not the current password",
                ));
            }
        }
        let hash = hash(new.to_owned()).await?;
        if !self.store.set_password(&account.id, &hash).await? {
            return Err(ApiError::not_found("account", account_id));
        }
        Ok(())
    }

    /// Deletes an account (admins only, and not their own), with its tokens and sessions.
    pub async fn delete_account(&self, p: &Principal, account_id: &str) -> Result<(), ApiError> {
        admin_only(p)?;
        if account_id == p.account_id {
            return Err(ApiError::new(
                Code::FailedPrecondition,
                "an admin cannot delete their own account",
            ));
        }
        let hashes = self
            .store
            .delete_account(account_id)
            .await?
            .ok_or_else(|| ApiError::not_found("account", account_id))?;
        for h in hashes {
            self.auth.forget_token(&h);
        }
        Ok(())
    }

    /// The caller's tokens; an admin asking for `all` sees everyone's.
    pub async fn tokens(&self, p: &Principal, all: bool) -> Result<Vec<Token>, ApiError> {
        if all {
            admin_only(p)?;
        }
        Ok(self
            .store
            .tokens((!all).then_some(p.account_id.as_str()))
            .await?)
    }

    /// A new token for the caller: the token (shown this once) and its listing.
    pub async fn create_token(
        &self,
        p: &Principal,
        name: &str,
    ) -> Result<(String, Token), ApiError> {
        check_token_name(name)?;
        let (secret, hash) = auth::new_api_token();
        let token = self
            .store
            .add_token(&p.account_id, &hash, name.trim())
            .await?;
        Ok((secret, token))
    }

    /// Revokes one of the caller's tokens (an admin: anyone's); it stops working on this
    /// hub at once.
    pub async fn revoke_token(&self, p: &Principal, token_id: &str) -> Result<(), ApiError> {
        let owner = (!p.admin).then_some(p.account_id.as_str());
        let hash = self
            .store
            .revoke_token(token_id, owner)
            .await?
            .ok_or_else(|| ApiError::not_found("token", token_id))?;
        self.auth.forget_token(&hash);
        Ok(())
    }
}
