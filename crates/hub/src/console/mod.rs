//! The operator's console: server-rendered pages under `/ui/` on the hub's HTTP port. Plain
//! forms and links do everything; one small script refreshes a running scan. Pages call the
//! same service layer as the APIs with the signed-in [`crate::auth::Principal`], so a user
//! sees exactly their own images. Sessions are cookies naming store rows; every form
//! carries the session's CSRF token and must come from this origin.

mod pages;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::Hub;

pub(crate) use session::IDLE;

/// The console's routes, with its security headers.
pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/images") }))
        .route("/ui", get(|| async { Redirect::to("/ui/images") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/images") }))
        .route("/ui/login", get(pages::login_page).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/images", get(pages::images))
        .route("/ui/images/{id}", get(pages::image))
        .route("/ui/images/{id}/status", get(pages::image_status))
        .route("/ui/scans/{id}/diff", get(pages::diff))
        .route("/ui/scans/{id}/download/{format}", get(pages::download))
        .route("/ui/queue", get(pages::queue))
        .route("/ui/tokens", get(pages::tokens).post(pages::create_token))
        .route("/ui/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/ui/account", get(pages::account))
        .route("/ui/account/password", post(pages::change_password))
        .route(
            "/ui/admin/accounts",
            get(pages::accounts).post(pages::create_account),
        )
        .route(
            "/ui/admin/accounts/{id}/delete",
            post(pages::delete_account),
        )
        .route(
            "/ui/admin/accounts/{id}/password",
            post(pages::reset_password),
        )
        .route("/ui/static/{name}", get(assets::serve))
        .route("/ui/{*rest}", get(not_found))
        .layer(axum::middleware::map_response(headers))
}

async fn not_found() -> Response {
    pages::error_page(StatusCode::NOT_FOUND, "there is no such page")
}

/// No inline script or style, no framing, nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// The stylesheet and the script, embedded and named by a hash of their content so that
/// browsers may keep them forever.
pub(crate) mod assets {
    use std::sync::LazyLock;

    use super::*;

    pub(crate) struct Asset {
        bytes: &'static [u8],
        content_type: &'static str,
        path: LazyLock<String>,
    }

    impl Asset {
        pub(crate) fn path(&'static self) -> &'static str {
            self.path.as_str()
        }
    }

    fn hashed(stem: &str, ext: &str, bytes: &[u8]) -> String {
        use sha2::Digest as _;
        let h = hex::encode(sha2::Sha256::digest(bytes));
        format!("/ui/static/{stem}.{}.{ext}", &h[..16])
    }

    pub(crate) static CSS: Asset = Asset {
        bytes: include_bytes!("../../assets/console.css"),
        content_type: "text/css; charset=utf-8",
        path: LazyLock::new(|| {
            hashed("console", "css", include_bytes!("../../assets/console.css"))
        }),
    };
    pub(crate) static JS: Asset = Asset {
        bytes: include_bytes!("../../assets/console.js"),
        content_type: "text/javascript; charset=utf-8",
        path: LazyLock::new(|| hashed("console", "js", include_bytes!("../../assets/console.js"))),
    };

    pub(crate) async fn serve(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
        let path = format!("/ui/static/{name}");
        for a in [&CSS, &JS] {
            if a.path() == path {
                return (
                    [
                        (header::CONTENT_TYPE, a.content_type),
                        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    ],
                    a.bytes,
                )
                    .into_response();
            }
        }
        super::pages::error_page(StatusCode::NOT_FOUND, "there is no such file")
    }
}
