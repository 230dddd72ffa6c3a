//! Accounts and who is asking: argon2 password hashes, API tokens (stored as SHA-256 only),
//! session JWTs for the Aqua-style flow, and the [`Principal`] every API call runs as.
//! A user owns the images they register and sees only those; an admin sees all.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use ferret_store::{Account, AccountStore, Store, StoreError};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::service::cache::Cache;

/// API tokens start with this, so that a leaked one is recognisable (and told apart from
/// a JWT at a glance).
pub const TOKEN_PREFIX: &str = "fer_";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub name: String,
    pub admin: bool,
    /// The owner (a DID) of the images this account registers.
    pub owner: String,
}

impl Principal {
    pub fn of(account: &Account) -> Self {
        Self {
            account_id: account.id.clone(),
            name: account.name.clone(),
            admin: account.admin,
            owner: owner_did(&account.id),
        }
    }

    /// The owner to restrict listings to: none for an admin.
    pub fn scope(&self) -> Option<&str> {
        (!self.admin).then_some(self.owner.as_str())
    }

    pub fn may_see(&self, owner: &str) -> bool {
        self.admin || self.owner == owner
    }
}

/// The DID that owns an account's images (and travels to scanners as `userDid`).
pub fn owner_did(account_id: &str) -> String {
    format!("did:ferret:{account_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("token signing: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// 32 random bytes, as 64 hex digits.
pub fn random_hex() -> String {
    // Two v4 UUIDs carry 244 random bits from the operating system's generator.
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A new API token and the SHA-256 (hex) that the store keeps.
pub fn new_api_token() -> (String, String) {
    let token = format!("{TOKEN_PREFIX}{}", random_hex());
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    iat: i64,
    exp: i64,
}

/// The hub's signing keys, derived from one secret that every hub on a database shares.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    page: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// The keys from the store's secret, made at first start.
    pub async fn load(store: &Store) -> Result<Self, AuthError> {
        let secret = store.setting_or_init("signing_secret", random_hex).await?;
        Ok(Self::from_secret(secret.as_bytes()))
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        // Separate keys per use, so a page token can never pass for a session token.
        let derive = |label: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
            mac.update(label);
            mac.finalize().into_bytes().to_vec()
        };
        let jwt = derive(b"ferret jwt");
        Self {
            encoding: EncodingKey::from_secret(&jwt),
            decoding: DecodingKey::from_secret(&jwt),
            page: derive(b"ferret page token"),
        }
    }

    /// A session JWT (HS256) for `account`, valid for `ttl_secs`.
    pub fn issue_jwt(&self, account: &Account, ttl_secs: i64) -> Result<String, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: account.id.clone(),
            name: account.name.clone(),
            iat: now,
            exp: now + ttl_secs,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The account id a JWT names and when it was issued (Unix seconds), when its
    /// signature and expiry hold.
    fn verify_jwt(&self, token: &str) -> Result<(String, i64), String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| (d.claims.sub, d.claims.iat))
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "the token has expired".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "the token's signature is not valid".to_owned()
                }
                _ => format!("the token is not valid: {e}"),
            })
    }

    /// A MAC over `data`, for page tokens.
    pub fn page_mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.page).unwrap_or_else(|_| unreachable!());
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// How long a token's account is remembered: a new account's rights, or a removed
/// token, take effect within this long.
const PRINCIPAL_TTL: Duration = Duration::from_secs(10);

/// Who an `Authorization` header names, remembered briefly so that polling clients do not
/// cost a store read per request.
#[derive(Debug)]
pub struct Authenticator {
    pub keys: Keys,
    principals: Cache<String, Principal>,
}

impl Authenticator {
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            principals: Cache::new(Some(PRINCIPAL_TTL), 10_000),
        }
    }

    /// The principal an `Authorization` header value names: `Bearer fer_…` (an API
    /// token) or `Bearer <JWT>` (a session from `/api/v1/login`).
    pub async fn authenticate(
        &self,
        store: &Store,
        header: Option<&str>,
    ) -> Result<Principal, ApiError> {
        let header = header.ok_or_else(|| {
            ApiError::unauthenticated(
                "authorization: missing; send `Authorization: Bearer <token>`",
            )
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthenticated("authorization: expected `Bearer <token>`"))?;
        // API tokens are remembered by their hash; JWTs are verified every time (expiry
        // and signature) and only their account is remembered.
        let (key, issued) = if token.starts_with(TOKEN_PREFIX) {
            (format!("t:{}", token_hash(token)), 0)
        } else {
            let (id, iat) = self
                .keys
                .verify_jwt(token)
                .map_err(|m| ApiError::unauthenticated(format!("authorization: {m}")))?;
            (format!("a:{id}:{iat}"), iat)
        };
        if let Some(p) = self.principals.get(&key) {
            return Ok(p);
        }
        let account = match key.split_at(2) {
            ("t:", hash) => {
                let account = store
                    .account_by_token(hash)
                    .await?
                    .ok_or_else(|| ApiError::unauthenticated("authorization: unknown API token"))?;
                // Looked up at most once per `PRINCIPAL_TTL` per hub: "last used" is that
                // precise, and costs no write per request.
                if let Err(e) = store.touch_token(hash, ferret_store::now_ms()).await {
                    tracing::warn!(error = %e, "recording a token's use");
                }
                account
            }
            (_, id_iat) => {
                let id = id_iat.rsplit_once(':').map_or(id_iat, |(id, _)| id);
                let account = store.account(id).await?.ok_or_else(|| {
                    ApiError::unauthenticated("authorization: the account no longer exists")
                })?;
                // `iat` is in whole seconds: a session from the second after the change
                // still counts.
                if account.password_changed_at >= issued.saturating_add(1).saturating_mul(1000) {
                    return Err(ApiError::unauthenticated(
                        "authorization: the password changed after this session began; log in again",
                    ));
                }
                account
            }
        };
        let principal = Principal::of(&account);
        self.principals.put(key, principal.clone());
        Ok(principal)
    }

    /// Forgets a revoked token at once (other hubs within `PRINCIPAL_TTL`).
    pub fn forget_token(&self, token_sha256: &str) {
        self.principals.remove(&format!("t:{token_sha256}"));
    }
}

impl crate::Hub {
    /// The caller an `Authorization` header names, from address `ip`: an address that
    /// presented wrong credentials too often is refused until its window ends, unchecked.
    pub(crate) async fn authenticate_from(
        &self,
        ip: Option<std::net::IpAddr>,
        header: Option<&str>,
    ) -> Result<Principal, ApiError> {
        if let Some(wait) = ip.and_then(|ip| self.throttle.blocked("api", ip)) {
            return Err(throttled(wait));
        }
        match self.auth.authenticate(&self.store, header).await {
            // A missing header is not a guess; a wrong token is.
            Err(e) if e.code == crate::api::error::Code::Unauthenticated && header.is_some() => {
                if let Some(ip) = ip {
                    self.throttle.failed("api", ip);
                }
                Err(e)
            }
            other => other,
        }
    }

    /// [`login`], refusing addresses that failed too often (argon2 is costly on purpose).
    pub(crate) async fn login_from(
        &self,
        ip: Option<std::net::IpAddr>,
        name: &str,
        password: &str,
    ) -> Result<Account, ApiError> {
        if let Some(wait) = ip.and_then(|ip| self.throttle.blocked("login", ip)) {
            return Err(throttled(wait));
        }
        let r = login(&self.store, name, password).await;
        if let (Err(e), Some(ip)) = (&r, ip)
            && e.code == crate::api::error::Code::Unauthenticated
        {
            self.throttle.failed("login", ip);
        }
        r
    }
}

fn throttled(wait: std::time::Duration) -> ApiError {
    ApiError::new(
        crate::api::error::Code::ResourceExhausted,
        format!(
            "too many failed authentications from this address; try again in {} s",
            wait.as_secs().max(1)
        ),
    )
}

/// Checks a name and password; the same answer for an unknown name as for a wrong password.
pub async fn login(store: &Store, name: &str, password: &str) -> Result<Account, ApiError> {
    let account = store.account_by_name(name).await?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let password = password.to_owned();
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            // Spend the same time on unknown names.
            let _ = hash_password(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    match account {
        Some(a) if ok => Ok(a),
        _ => Err(ApiError::unauthenticated("id or password is wrong")),
    }
}

/// Creates the first admin when the hub has no account yet and a password is configured.
pub async fn bootstrap_admin(
    store: &Store,
    name: &str,
    password: Option<&str>,
) -> Result<Option<Account>, AuthError> {
    if store.account_count().await? > 0 {
        return Ok(None);
    }
    let Some(password) = password else {
        return Ok(None);
    };
    let hash = hash_password(password)?;
    match store.create_account(name, &hash, true).await {
        Ok(a) => Ok(Some(a)),
        // Another hub on the same database created it first.
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn jwts_expire_and_resist_tampering() {
        let keys = Keys::from_secret(b"secret");
        let account = Account {
            id: "acc1".to_owned(),
            name: "alice".to_owned(),
            password_hash: String::new(),
            admin: false,
            created_at: 0,
            password_changed_at: 0,
        };
        let good = keys.issue_jwt(&account, 60).unwrap_or_default();
        assert_eq!(
            keys.verify_jwt(&good).map(|(id, _)| id).as_deref(),
            Ok("acc1")
        );
        let expired = keys.issue_jwt(&account, -5).unwrap_or_default();
        assert!(
            keys.verify_jwt(&expired)
                .is_err_and(|m| m.contains("expired"))
        );
        let other = Keys::from_secret(b"other")
            .issue_jwt(&account, 60)
            .unwrap_or_default();
        assert!(keys.verify_jwt(&other).is_err());
        let mut tampered = good.clone();
        tampered.insert(good.len() - 3, 'x');
        assert!(keys.verify_jwt(&tampered).is_err());
    }
}
