//! The one error type of the crate: a code (which carries its HTTP status),
//! a message, and an internal cause that is logged, never sent. Its JSON
//! envelope `{"error": CODE, "message": text, "status": n, "retryAfterSec"?: n}`
//! is written by `http::error`.

use ::http::StatusCode;

/// Result alias used across the crate.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Every error code the API can answer with. The match in `status` is the
/// documentation of which HTTP status each code carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidCredentials,
    EmailNotVerified,
    EmailAlreadyRegistered,
    WeakPassword,
    AccountLocked,
    SignupLimitReached,
    RateLimited,
    TokenExpired,
    TokenInvalid,
    TwoFactorRequired,
    TwoFactorFailed,
    PasskeyNotEnabled,
    PasskeyCancelled,
    PasskeyVerificationFailed,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    HeadersTooLarge,
    UnsupportedMediaType,
    RequestTimeout,
    Conflict,
    SpacePersonalUndeletable,
    SpaceMetadataInvalid,
    SpaceSlugTaken,
    SpaceLastOwner,
    InvitationExpired,
    InvitationNotPending,
    ZkRotateForbidden,
    ZkActive,
    RecoveryWrapMissing,
    VaultNotInitialised,
    GrantNotConfigured,
    BadRequest,
    SessionNotFresh,
    ServiceUnavailable,
    Overloaded,
    Internal,
}

impl ErrorCode {
    /// HTTP status of this code.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidCredentials => StatusCode::UNAUTHORIZED,
            EmailNotVerified => StatusCode::FORBIDDEN,
            EmailAlreadyRegistered => StatusCode::CONFLICT,
            WeakPassword => StatusCode::BAD_REQUEST,
            AccountLocked => StatusCode::TOO_MANY_REQUESTS,
            SignupLimitReached => StatusCode::TOO_MANY_REQUESTS,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            TokenExpired => StatusCode::UNAUTHORIZED,
            TokenInvalid => StatusCode::BAD_REQUEST,
            TwoFactorRequired => StatusCode::UNAUTHORIZED,
            TwoFactorFailed => StatusCode::UNAUTHORIZED,
            PasskeyNotEnabled => StatusCode::NOT_FOUND,
            PasskeyCancelled => StatusCode::BAD_REQUEST,
            PasskeyVerificationFailed => StatusCode::UNAUTHORIZED,
            Validation => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Conflict => StatusCode::CONFLICT,
            SpacePersonalUndeletable => StatusCode::FORBIDDEN,
            SpaceMetadataInvalid => StatusCode::BAD_REQUEST,
            SpaceSlugTaken => StatusCode::CONFLICT,
            SpaceLastOwner => StatusCode::CONFLICT,
            InvitationExpired => StatusCode::GONE,
            InvitationNotPending => StatusCode::CONFLICT,
            ZkRotateForbidden => StatusCode::CONFLICT,
            ZkActive => StatusCode::CONFLICT,
            RecoveryWrapMissing => StatusCode::BAD_REQUEST,
            VaultNotInitialised => StatusCode::NOT_FOUND,
            GrantNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            BadRequest => StatusCode::BAD_REQUEST,
            SessionNotFresh => StatusCode::FORBIDDEN,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wire name of this code.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidCredentials => "INVALID_CREDENTIALS",
            EmailNotVerified => "EMAIL_NOT_VERIFIED",
            EmailAlreadyRegistered => "EMAIL_ALREADY_REGISTERED",
            WeakPassword => "WEAK_PASSWORD",
            AccountLocked => "ACCOUNT_LOCKED",
            SignupLimitReached => "SIGNUP_LIMIT_REACHED",
            RateLimited => "RATE_LIMITED",
            TokenExpired => "TOKEN_EXPIRED",
            TokenInvalid => "TOKEN_INVALID",
            TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            TwoFactorFailed => "TWO_FACTOR_FAILED",
            PasskeyNotEnabled => "PASSKEY_NOT_ENABLED",
            PasskeyCancelled => "PASSKEY_CANCELLED",
            PasskeyVerificationFailed => "PASSKEY_VERIFICATION_FAILED",
            Validation => "VALIDATION",
            Unauthorized => "UNAUTHORIZED",
            Forbidden => "FORBIDDEN",
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            HeadersTooLarge => "HEADERS_TOO_LARGE",
            RequestTimeout => "REQUEST_TIMEOUT",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Conflict => "CONFLICT",
            SpacePersonalUndeletable => "SPACE_PERSONAL_UNDELETABLE",
            SpaceMetadataInvalid => "SPACE_METADATA_INVALID",
            SpaceSlugTaken => "SPACE_SLUG_TAKEN",
            SpaceLastOwner => "SPACE_LAST_OWNER",
            InvitationExpired => "INVITATION_EXPIRED",
            InvitationNotPending => "INVITATION_NOT_PENDING",
            ZkRotateForbidden => "ZK_ROTATE_FORBIDDEN",
            ZkActive => "ZK_ACTIVE",
            RecoveryWrapMissing => "RECOVERY_WRAP_MISSING",
            VaultNotInitialised => "VAULT_NOT_INITIALISED",
            GrantNotConfigured => "GRANT_NOT_CONFIGURED",
            BadRequest => "BAD_REQUEST",
            SessionNotFresh => "SESSION_NOT_FRESH",
            ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Overloaded => "OVERLOADED",
            Internal => "INTERNAL",
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// What went wrong, as a code.
    pub code: ErrorCode,
    /// Text for humans; never internal detail.
    pub message: String,
    /// Seconds until a retry can succeed (sets `Retry-After`).
    pub retry_after: Option<u64>,
    /// Extra JSON fields merged into the envelope (e.g. a two-factor ticket).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Internal cause, logged on 5xx, never sent.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Which refusal this is, where a door's wire tells refusals of one
    /// code apart (never sent as such).
    pub refusal: Option<Refusal>,
}

/// Refusals that share a code on `/api/v1` but not on every door: the Better
/// Auth surface answers each with its own code. Doors match on this, never
/// on the message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// WEAK_PASSWORD because the password is too long (not too short).
    PasswordTooLong,
    /// TWO_FACTOR_FAILED because of the ticket (unknown, used, expired, or
    /// two-factor turned off meanwhile), not the code.
    TwoFactorTicket,
    /// PASSKEY_VERIFICATION_FAILED: no such ceremony (unknown, used,
    /// expired) or one of the other kind.
    PasskeyChallenge,
    /// PASSKEY_VERIFICATION_FAILED: a registration ceremony finished by
    /// another session.
    PasskeyOtherSession,
    /// PASSKEY_VERIFICATION_FAILED: a credential nobody registered.
    PasskeyNotRegistered,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            extra: None,
            source: None,
            refusal: None,
        }
    }
    /// 400 VALIDATION.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }
    /// 404 NOT_FOUND naming the missing thing.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    /// 401 UNAUTHORIZED.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "authentication required")
    }
    /// 403 FORBIDDEN.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    /// 500 INTERNAL with a logged cause.
    pub fn internal<E: Into<Box<dyn std::error::Error + Send + Sync>>>(cause: E) -> Self {
        Self::new(ErrorCode::Internal, "internal error").with_source(cause)
    }
    /// Adds `retryAfterSec` and the `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    /// Attaches an internal cause for the log.
    pub fn with_source<E: Into<Box<dyn std::error::Error + Send + Sync>>>(mut self, e: E) -> Self {
        self.source = Some(e.into());
        self
    }
    /// Names the refusal (see `Refusal`).
    pub fn with_refusal(mut self, refusal: Refusal) -> Self {
        self.refusal = Some(refusal);
        self
    }
    /// Adds a field to the envelope.
    pub fn with_field(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_owned(), value);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Logs a server-side error with its cause (never sent to the client).
    pub fn log_if_internal(&self) {
        if self.code.status().is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = self.code.as_str(), error = %source, "request failed")
                }
                None => tracing::error!(code = self.code.as_str(), "request failed"),
            }
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => {
                ApiError::new(ErrorCode::ServiceUnavailable, "database busy, try again")
                    .with_retry_after(1)
                    .with_source(e)
            }
            _ => ApiError::internal(e),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "database unavailable, try again",
        )
        .with_retry_after(1)
        .with_source(e)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(e)
    }
}

/// Maps a UNIQUE / CHECK violation to the error it means; anything else stays
/// internal. Use where the constraint is known, like realworld's `on_constraint`.
pub fn on_constraint(e: rusqlite::Error, map: impl FnOnce(&str) -> Option<ApiError>) -> ApiError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            if let Some(mapped) = map(msg) {
                return mapped;
            }
        }
    }
    ApiError::from(e)
}
