//! Magic links: `POST /sign-in/magic-link` mails a link to
//! `GET /magic-link/verify` (this module), which signs in and redirects to
//! `callbackURL` or answers JSON, as the framework does. Tokens, their TTL
//! (10 minutes) and single use are `auth::lifecycle`'s; links go only to
//! existing accounts (no sign-up by magic link), and an account with 2FA on
//! still needs its second factor.

use crate::http::openapi::routes;
use crate::http::routes::alias;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use super::session::{signed_in_cookies, ticket_of, TWO_FACTOR_COOKIE};
use super::wire::{BaSession, BaSignedIn, BaStatus, BaTwoFactorRedirect};
use super::{check_callback, BaError, BaJson, BaQuery, BaResult};
use crate::audit::ClientInfo;
use crate::auth::{lifecycle, two_factor};
use crate::email::{self, with_param};
use crate::error::ErrorCode;
use crate::http::cookie;
use crate::http::ratelimit::{guarded, Bucket};
use crate::state::AppState;
use crate::users;

/// The route the mailed links open.
const VERIFY_PATH: &str = "/api/auth/magic-link/verify";

/// Routes merged into `/api/auth` (the send route lives under `/sign-in`;
/// `/magic-link/send-magic-link`, the name the Mana clients were written
/// against, is the same handler).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(guarded(
            OpenApiRouter::new()
                .routes(routes!(post_sign_in_magic_link))
                .routes(alias(
                    routes!(post_sign_in_magic_link),
                    "/magic-link/send-magic-link",
                    "post_send_magic_link",
                )),
            state,
            Bucket::Auth,
            super::refusal,
        ))
        .routes(routes!(get_magic_link_verify))
}

/// A callback URL of the request checked as the framework checks it, with
/// its own error code per field (`INVALID_CALLBACK_URL`, …).
fn checked(
    state: &AppState,
    url: Option<&str>,
    code: &'static str,
    message: &'static str,
) -> BaResult<Option<String>> {
    check_callback(state, url).map_err(|_| BaError::forbidden(code, message))
}

/// The three callback URLs of a request.
struct Callbacks {
    callback: Option<String>,
    new_user: Option<String>,
    error: Option<String>,
}

fn callbacks(
    state: &AppState,
    callback: Option<&str>,
    new_user: Option<&str>,
    error: Option<&str>,
) -> BaResult<Callbacks> {
    Ok(Callbacks {
        callback: checked(
            state,
            callback,
            "INVALID_CALLBACK_URL",
            "Invalid callbackURL",
        )?,
        new_user: checked(
            state,
            new_user,
            "INVALID_NEW_USER_CALLBACK_URL",
            "Invalid newUserCallbackURL",
        )?,
        error: checked(
            state,
            error,
            "INVALID_ERROR_CALLBACK_URL",
            "Invalid errorCallbackURL",
        )?,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendBody {
    email: String,
    /// Accepted and ignored: magic links do not create accounts.
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    /// Checked and carried in the link; never used, as no account is new.
    #[serde(rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    #[serde(rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    /// Accepted and ignored.
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

#[utoipa::path(
    post, path = "/sign-in/magic-link", request_body = SendBody,
    tag = "better-auth",
    responses(
        (status = 200, description = "`{status: true}`, whether or not an account has the address; an existing account is mailed a 10-minute link to `/api/auth/magic-link/verify?token=…&callbackURL=…`", body = BaStatus),
        (status = 400, description = "VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 403, description = "INVALID_CALLBACK_URL, INVALID_NEW_USER_CALLBACK_URL, INVALID_ERROR_CALLBACK_URL, INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN, CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_sign_in_magic_link(
    State(state): State<AppState>,
    client: ClientInfo,
    BaJson(body): BaJson<SendBody>,
) -> BaResult<Json<BaStatus>> {
    users::normalize_email(&body.email).map_err(|_| {
        BaError::bad_request("VALIDATION_ERROR", "[body.email] Invalid email address")
    })?;
    let urls = callbacks(
        &state,
        body.callback_url.as_deref(),
        body.new_user_callback_url.as_deref(),
        body.error_callback_url.as_deref(),
    )?;
    // The link carries the callbacks as given (relative ones stay
    // relative), `/` when there is none, as the framework's does; the token
    // stores the callback made absolute.
    let stored = urls
        .callback
        .as_deref()
        .map(|u| email::allowed_redirect(&state.config, u))
        .transpose()?;
    let mut params = vec![("callbackURL", urls.callback.unwrap_or_else(|| "/".into()))];
    if let Some(u) = urls.new_user {
        params.push(("newUserCallbackURL", u));
    }
    if let Some(u) = urls.error {
        params.push(("errorCallbackURL", u));
    }
    lifecycle::send_magic_link_via(&state, &body.email, stored, VERIFY_PATH, params, client)
        .await?;
    Ok(Json(BaStatus::TRUE))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyQuery {
    /// The token of the mailed link (required).
    token: Option<String>,
    /// Where to go when signed in; without it the answer is JSON.
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    /// Checked; never used, as no account is new.
    #[serde(rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    /// Where to go on failure (default: callbackURL, else `/`), with
    /// `?error=CODE`.
    #[serde(rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
}

/// A callback URL as a `Location` value (checked before the link is used).
fn location(url: &str) -> BaResult<HeaderValue> {
    HeaderValue::from_str(url)
        .map_err(|_| BaError::forbidden("INVALID_CALLBACK_URL", "Invalid callbackURL"))
}

/// A 302 to `location` with `headers` (cookies).
fn redirect(location: HeaderValue, headers: HeaderMap) -> Response {
    let mut response = (StatusCode::FOUND, headers).into_response();
    response.headers_mut().insert(LOCATION, location);
    response
}

/// The JSON answer of `magic-link/verify` (without callbackURL): signed
/// in, or a second factor is due.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum BaMagicLinkAnswer {
    SignedIn(Box<BaSignedIn>),
    TwoFactor(BaTwoFactorRedirect),
}

#[utoipa::path(
    get, path = "/magic-link/verify", params(VerifyQuery),
    tag = "better-auth",
    responses(
        (status = 200, description = "Without callbackURL: `{token, user, session}` and the session cookie; for an account with 2FA on, `{twoFactorRedirect: true, twoFactorMethods}` and the two-factor cookie instead", body = BaMagicLinkAnswer),
        (status = 302, description = "With callbackURL: to it (absolute) with the session cookie. A bad, used or expired link goes to errorCallbackURL (else callbackURL, else the app's `/`) with `?error=INVALID_TOKEN`; an account with 2FA on goes there with `?error=TWO_FACTOR_REQUIRED` and the two-factor cookie"),
        (status = 400, description = "VALIDATION_ERROR (no token)", body = super::BaErrorBody),
        (status = 403, description = "INVALID_CALLBACK_URL, INVALID_NEW_USER_CALLBACK_URL, INVALID_ERROR_CALLBACK_URL", body = super::BaErrorBody)
    )
)]
pub(crate) async fn get_magic_link_verify(
    State(state): State<AppState>,
    client: ClientInfo,
    BaQuery(q): BaQuery<VerifyQuery>,
) -> BaResult<Response> {
    let urls = callbacks(
        &state,
        q.callback_url.as_deref(),
        q.new_user_callback_url.as_deref(),
        q.error_callback_url.as_deref(),
    )?;
    let token = q.token.ok_or_else(|| {
        BaError::bad_request(
            "VALIDATION_ERROR",
            "[query.token] Invalid input: expected string, received undefined",
        )
    })?;
    // Relative URLs are the app's (made absolute as the framework does
    // against its base URL).
    let absolute = |u: Option<&str>| -> BaResult<Option<String>> {
        Ok(u.map(|u| email::allowed_redirect(&state.config, u))
            .transpose()?)
    };
    let success = absolute(urls.callback.as_deref())?;
    let failure = match absolute(urls.error.as_deref())? {
        Some(u) => u,
        None => match &success {
            Some(u) => u.clone(),
            None => email::allowed_redirect(&state.config, "/")?,
        },
    };
    // Both must be usable before the link is.
    let success = success.as_deref().map(location).transpose()?;
    location(&failure)?;
    let fail_to = |code: &str| location(&with_param(&failure, "error", code));
    match lifecycle::verify_magic_link(&state, token, client).await {
        Ok((signed, _stored)) => {
            let cookies = signed_in_cookies(&state, &signed, true);
            match success {
                Some(to) => Ok(redirect(to, cookies)),
                None => {
                    let body = BaMagicLinkAnswer::SignedIn(Box::new(BaSignedIn {
                        session: BaSession::new(&signed.session, Some(&signed.session_token)),
                        token: signed.session_token,
                        user: signed.user.into(),
                    }));
                    Ok((cookies, Json(body)).into_response())
                }
            }
        }
        Err(e) => {
            if let Some(ticket) = ticket_of(&e) {
                // A mailbox is one factor: the pending sign-in rides in the
                // two-factor cookie, as after sign-in/email.
                if success.is_none() {
                    let (headers, body) =
                        super::session::two_factor_redirect(&state, &ticket, true);
                    return Ok((headers, Json(BaMagicLinkAnswer::TwoFactor(body))).into_response());
                }
                let mut cookies = cookie::clear_session(&state.config);
                cookie::append(
                    &mut cookies,
                    &state.config,
                    TWO_FACTOR_COOKIE,
                    &ticket,
                    Some(two_factor::TICKET_TTL.num_seconds()),
                );
                return Ok(redirect(fail_to("TWO_FACTOR_REQUIRED")?, cookies));
            }
            let code = match e.code {
                ErrorCode::TokenInvalid | ErrorCode::TokenExpired => "INVALID_TOKEN",
                _ => {
                    let ba = BaError::from(e);
                    if ba.status.is_server_error() {
                        return Err(ba);
                    }
                    ba.code
                }
            };
            Ok(redirect(fail_to(code)?, HeaderMap::new()))
        }
    }
}
