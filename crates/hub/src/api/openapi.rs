//! The OpenAPI 3.1 document of the REST front doors, generated from the handlers' own
//! annotations and served at `/openapi.json`.

use axum::Json;
use axum::http::HeaderMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, ServerBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferret",
        description = "Ferret's scanning service: the Yandex-compatible ScannerService, ImageService and OperationService over REST, the Aqua-style on-demand flow for CI, and Ferret's own scans API (`ferret remote`)."
    ),
    paths(
        crate::api::aqua::login,
        crate::api::aqua::register_image,
        crate::api::aqua::get_image,
        crate::api::yandex_rest::scan,
        crate::api::yandex_rest::list_scans,
        crate::api::yandex_rest::get_scan,
        crate::api::yandex_rest::list_vulnerabilities,
        crate::api::yandex_rest::list_images,
        crate::api::yandex_rest::get_image,
        crate::api::yandex_rest::get_last,
        crate::api::yandex_rest::get_operation,
        crate::api::native::submit,
        crate::api::native::list,
        crate::api::native::one,
        crate::api::native::sbom,
        crate::api::native::report,
        crate::api::hooks::registry_events,
        crate::api::webhooks::create,
        crate::api::webhooks::list,
        crate::api::webhooks::remove,
        crate::api::webhooks::deliveries,
        crate::api::accounts::list_accounts,
        crate::api::accounts::me,
        crate::api::accounts::create_account,
        crate::api::accounts::delete_account,
        crate::api::accounts::set_password,
        crate::api::accounts::list_tokens,
        crate::api::accounts::create_token,
        crate::api::accounts::revoke_token,
    ),
    modifiers(&Bearer)
)]
struct Api;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`ferret token create`) or a session token from /api/v1/login",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, without a server (clients resolve paths against where they fetched it);
/// `docs/openapi.json` is a copy, checked by a test.
pub fn document_value() -> Document {
    let mut doc = Api::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `GET /openapi.json`: the document, naming this server as the request reached it.
pub(crate) async fn document(headers: HeaderMap) -> Json<Document> {
    let mut doc = document_value();
    if let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        let scheme = headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https")
            .unwrap_or("http");
        doc.servers = Some(vec![
            ServerBuilder::new()
                .url(format!("{scheme}://{host}"))
                .build(),
        ]);
    }
    Json(doc)
}
