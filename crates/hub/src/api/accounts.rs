//! Accounts and API tokens under `/api/ferret/v1`: an admin lists, creates and deletes
//! accounts and sets anyone's password; everyone changes their own password (proving the
//! current one) and creates, lists and revokes their own tokens. A token is shown once,
//! when it is made.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use ferret_store::{Account, Token};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Hub;
use crate::api::error::{ApiError, ErrorBody};
use crate::auth::Principal;

pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route(
            "/api/ferret/v1/accounts",
            get(list_accounts).post(create_account),
        )
        .route("/api/ferret/v1/accounts/me", get(me))
        .route("/api/ferret/v1/accounts/{id}", delete(delete_account))
        .route("/api/ferret/v1/accounts/{id}/password", put(set_password))
        .route("/api/ferret/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/ferret/v1/tokens/{id}", delete(revoke_token))
}

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub admin: bool,
    /// The DID that owns the images this account registers.
    pub owner: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.clone(),
            name: a.name.clone(),
            admin: a.admin,
            owner: crate::auth::owner_did(&a.id),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAccount {
    /// 1 to 128 characters without spaces.
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetPassword {
    /// At least 8 characters.
    pub password: String,
    /// Required to change one's own password.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: i64,
    /// When it was last used (milliseconds since the epoch, to within a minute); absent
    /// when never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    /// The token itself: only in the answer to its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&Token> for TokenView {
    fn from(t: &Token) -> Self {
        Self {
            id: t.id.clone(),
            account_id: t.account_id.clone(),
            name: t.name.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            token: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to tell tokens apart (1 to 64 characters).
    pub name: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenQuery {
    /// Everyone's tokens (admins only).
    #[serde(default)]
    all: bool,
}

fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::invalid("body", e.body_text()))
}

/// Lists every account (admins only).
#[utoipa::path(get, path = "/api/ferret/v1/accounts", operation_id = "listAccounts", tag = "Accounts",
    security(("bearer" = [])),
    responses((status = 200, body = AccountList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_accounts(
    State(hub): State<Arc<Hub>>,
    p: Principal,
) -> Result<Json<AccountList>, ApiError> {
    let accounts = hub.accounts(&p).await?;
    Ok(Json(AccountList {
        accounts: accounts.iter().map(AccountView::from).collect(),
    }))
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/ferret/v1/accounts/me", operation_id = "getOwnAccount", tag = "Accounts",
    security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn me(
    State(hub): State<Arc<Hub>>,
    p: Principal,
) -> Result<Json<AccountView>, ApiError> {
    use ferret_store::AccountStore;
    let a = hub
        .store
        .account(&p.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    Ok(Json(AccountView::from(&a)))
}

/// Creates an account (admins only).
#[utoipa::path(post, path = "/api/ferret/v1/accounts", operation_id = "createAccount", tag = "Accounts",
    request_body = CreateAccount, security(("bearer" = [])),
    responses((status = 201, body = AccountView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create_account(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    req: Result<Json<CreateAccount>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let req = body(req)?;
    let a = hub
        .create_account(&p, &req.name, &req.password, req.admin)
        .await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&a))))
}

/// Deletes an account with its tokens and console sessions (admins only); its images stay.
#[utoipa::path(delete, path = "/api/ferret/v1/accounts/{id}", operation_id = "deleteAccount", tag = "Accounts",
    security(("bearer" = [])), params(("id" = String, Path, description = "The account's id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete_account(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    hub.delete_account(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a password: one's own with `currentPassword`, or anyone's as an admin. The
/// account's console sessions end and its earlier session tokens stop working.
#[utoipa::path(put, path = "/api/ferret/v1/accounts/{id}/password", operation_id = "setPassword", tag = "Accounts",
    request_body = SetPassword, security(("bearer" = [])),
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn set_password(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
    req: Result<Json<SetPassword>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let req = body(req)?;
    hub.set_password(&p, &id, req.current_password.as_deref(), &req.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the caller's API tokens (`all`: everyone's, admins only).
#[utoipa::path(get, path = "/api/ferret/v1/tokens", operation_id = "listTokens", tag = "Accounts",
    security(("bearer" = [])), params(TokenQuery),
    responses((status = 200, body = TokenList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TokenList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let tokens = hub.tokens(&p, q.all).await?;
    Ok(Json(TokenList {
        tokens: tokens.iter().map(TokenView::from).collect(),
    }))
}

/// Creates an API token for the caller; the answer is the only time it is shown.
#[utoipa::path(post, path = "/api/ferret/v1/tokens", operation_id = "createToken", tag = "Accounts",
    request_body = CreateToken, security(("bearer" = [])),
    responses((status = 201, body = TokenView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn create_token(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    req: Result<Json<CreateToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let req = body(req)?;
    let (secret, token) = hub.create_token(&p, &req.name).await?;
    let mut view = TokenView::from(&token);
    view.token = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Revokes one of the caller's tokens (an admin: anyone's).
#[utoipa::path(delete, path = "/api/ferret/v1/tokens/{id}", operation_id = "revokeToken", tag = "Accounts",
    security(("bearer" = [])), params(("id" = String, Path, description = "The token's id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn revoke_token(
    State(hub): State<Arc<Hub>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    hub.revoke_token(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
