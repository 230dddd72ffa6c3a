//! Console logins: an opaque random cookie whose SHA-256 names a row in the store, a
//! per-session CSRF token that every form carries, and a same-origin check on every POST.
//! The JSON API never reads these cookies, so it has no CSRF surface.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use ferret_store::now_ms;
use subtle::ConstantTimeEq;

use crate::Hub;
use crate::auth::{Principal, random_hex, token_hash};

/// The cookie's name on plain HTTP; behind TLS it is `__Host-ferret` and `Secure`.
pub(crate) const PLAIN_COOKIE: &str = "ferret_session";
pub(crate) const TLS_COOKIE: &str = "__Host-ferret";
/// The login form's double-submit cookie.
pub(crate) const LOGIN_COOKIE: &str = "ferret_login";
/// How long a session may go unused.
pub(crate) const IDLE: std::time::Duration = std::time::Duration::from_secs(3600);
/// `last_seen` is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Whether the request reached the hub over TLS: the hub's public URL is `https://`, or a
/// proxy in front says so.
pub(crate) fn over_tls(hub: &Hub, headers: &HeaderMap) -> bool {
    hub.config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub(crate) fn cookie_name(tls: bool) -> &'static str {
    if tls { TLS_COOKIE } else { PLAIN_COOKIE }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure behind TLS; `max_age`
/// zero removes it.
pub(crate) fn set_cookie(name: &'static str, value: String, max_age_s: i64, tls: bool) -> String {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(tls)
        .max_age(time::Duration::seconds(max_age_s))
        .build()
        .to_string()
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether a state-changing request comes from a page of this hub: a browser names the
/// page's origin in `Origin` (and `Sec-Fetch-Site`); either, when sent, must be ours.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Constant-time equality of two tokens.
pub(crate) fn tokens_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new session for `account_id`: the cookie to set and the session's CSRF token.
pub(crate) async fn start(
    hub: &Hub,
    account_id: &str,
    tls: bool,
) -> Result<(String, String), ferret_store::StoreError> {
    let id = random_hex();
    let csrf = random_hex();
    let now = now_ms();
    let ttl_ms = i64::try_from(hub.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    hub.store
        .create_console_session(
            &token_hash(&id),
            account_id,
            &csrf,
            now,
            now.saturating_add(ttl_ms),
        )
        .await?;
    let cookie = set_cookie(cookie_name(tls), id, ttl_ms / 1000, tls);
    Ok((cookie, csrf))
}

/// The signed-in caller of a console page.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    pub principal: Principal,
    /// The token this session's forms carry.
    pub csrf: String,
    /// The SHA-256 of the cookie, naming the session row.
    pub id_hash: String,
    pub tls: bool,
}

impl Console {
    /// Refuses a form whose CSRF token is not this session's, or that came from another site.
    pub(crate) fn refused(&self, headers: &HeaderMap, csrf: &str) -> Option<Response> {
        if !same_origin(headers) {
            return Some(forbidden("the form was sent from another site"));
        }
        if !tokens_match(csrf, &self.csrf) {
            return Some(forbidden(
                "the form's security token is missing or stale; reload the page and try again",
            ));
        }
        None
    }
}

pub(crate) fn forbidden(why: &str) -> Response {
    super::pages::error_page(StatusCode::FORBIDDEN, why)
}

impl FromRequestParts<Arc<Hub>> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, Response> {
        let tls = over_tls(hub, &parts.headers);
        let refuse = |parts: &Parts| -> Response {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/ui/images", |p| p.as_str());
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                Redirect::to(&format!("/ui/login?next={next}")).into_response()
            } else {
                forbidden("you are not signed in (or your session ended); sign in again")
            }
        };
        let Some(cookie) = read_cookie(&parts.headers, cookie_name(tls)) else {
            return Err(refuse(parts));
        };
        let id_hash = token_hash(&cookie);
        let now = now_ms();
        let idle_ms = i64::try_from(IDLE.as_millis()).unwrap_or(i64::MAX);
        let session = hub
            .store
            .console_session(&id_hash, now, now.saturating_sub(idle_ms))
            .await
            .map_err(|e| {
                super::pages::error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
            })?;
        let Some(session) = session else {
            return Err(refuse(parts));
        };
        if now - session.last_seen > TOUCH_EVERY_MS
            && let Err(e) = hub.store.touch_console_session(&id_hash, now).await
        {
            tracing::warn!(error = %e, "marking a console session used");
        }
        Ok(Self {
            principal: Principal::of(&session.account),
            csrf: session.csrf,
            id_hash,
            tls,
        })
    }
}

/// The login form's token: a random value both in a short-lived cookie and in the form
/// (double submit), so that another site cannot sign a browser in.
pub(crate) fn login_token(tls: bool) -> (String, String) {
    let token = random_hex();
    (set_cookie(LOGIN_COOKIE, token.clone(), 3600, tls), token)
}
