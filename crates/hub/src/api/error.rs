//! One error table for every front door: each [`ApiError`] has a gRPC status code, and REST
//! answers with the matching HTTP status and the body `{"code", "message", "details"}` that
//! Google-style REST gateways use (the code is the gRPC one).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    NotFound,
    Unauthenticated,
    PermissionDenied,
    FailedPrecondition,
    /// Too many tries (failed authentications from one address).
    ResourceExhausted,
    Unavailable,
    Internal,
}

impl Code {
    fn grpc(self) -> tonic::Code {
        match self {
            Self::InvalidArgument => tonic::Code::InvalidArgument,
            Self::NotFound => tonic::Code::NotFound,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::PermissionDenied => tonic::Code::PermissionDenied,
            Self::FailedPrecondition => tonic::Code::FailedPrecondition,
            Self::ResourceExhausted => tonic::Code::ResourceExhausted,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    fn http(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::FailedPrecondition => StatusCode::BAD_REQUEST,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error: what kind, and a message that names the field or thing that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A bad value in `field`.
    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(Code::InvalidArgument, format!("{field}: {why}"))
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} {id:?} not found"))
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(Code::Internal, "internal error")
    }
}

impl From<ferret_store::StoreError> for ApiError {
    fn from(e: ferret_store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        tonic::Status::new(e.code.grpc(), e.message)
    }
}

/// The REST error body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, 16 UNAUTHENTICATED, …).
    pub code: i32,
    pub message: String,
    pub details: Vec<serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.grpc() as i32,
            message: self.message,
            details: Vec::new(),
        };
        (self.code.http(), Json(body)).into_response()
    }
}

/// The answer for a path no front door serves.
pub(crate) async fn unknown_path(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        Code::NotFound,
        format!("{method} {}: no such path", uri.path()),
    )
}

/// The answer for a known path asked with a method it does not serve.
pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    let body = ErrorBody {
        code: tonic::Code::Unimplemented as i32,
        message: format!("{}: method {method} not allowed", uri.path()),
        details: Vec::new(),
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
