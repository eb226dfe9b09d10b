//! Cookie sessions: `sign-up/email`, `sign-in/email`, `get-session`,
//! `token`, `sign-out`.

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;

use super::wire::{
    BaAccessToken, BaSessionAndUser, BaSuccess, BaTokenAndUser, BaTwoFactorRedirect, BaUser,
};
use super::{check_callback, BaAuth, BaError, BaJson, BaResult};
use crate::audit::ClientInfo;
use crate::auth::{self, two_factor, Registration, SignedIn};
use crate::error::ErrorCode;
use crate::http::cookie;
use crate::http::ratelimit::{guarded, Bucket};
use crate::state::AppState;
use crate::users;

/// Name of the cookie that carries a pending second-factor sign-in.
pub const TWO_FACTOR_COOKIE: &str = "mana.two_factor";

/// Set (for the browser session) by a sign-in with `rememberMe: false`, so
/// that the second step of a two-factor sign-in keeps that choice.
pub const DONT_REMEMBER_COOKIE: &str = "mana.dont_remember";

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(guarded(
            OpenApiRouter::new()
                .routes(routes!(post_sign_up_email))
                .routes(routes!(post_sign_in_email)),
            state,
            Bucket::Auth,
            super::refusal,
        ))
        .routes(routes!(get_session))
        .routes(routes!(get_token))
        .routes(routes!(post_sign_out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignUpBody {
    name: String,
    email: String,
    password: String,
    image: Option<String>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    remember_me: Option<bool>,
}

/// The cookies and body of a completed sign-in: the session cookie (a
/// browser-session cookie when `remember` is false) and a cleared
/// two-factor cookie.
pub(crate) fn signed_in_cookies(state: &AppState, signed: &SignedIn, remember: bool) -> HeaderMap {
    let mut headers = cookie::set_session_remember(&state.config, &signed.session_token, remember);
    cookie::append(&mut headers, &state.config, TWO_FACTOR_COOKIE, "", Some(0));
    if !remember {
        cookie::append(
            &mut headers,
            &state.config,
            DONT_REMEMBER_COOKIE,
            "true",
            None,
        );
    }
    headers
}

/// Whether a request's sign-in asked to be remembered (no
/// `mana.dont_remember` cookie).
pub(crate) fn remembered(headers: &HeaderMap) -> bool {
    crate::http::extract::cookie(headers, DONT_REMEMBER_COOKIE).is_none()
}

#[utoipa::path(
    post, path = "/sign-up/email", request_body = SignUpBody,
    tag = "better-auth",
    responses(
        (status = 200, description = "`{token, user}`; `token` is null (and no cookie is set) while the email address must still be verified", body = BaTokenAndUser),
        (status = 400, description = "INVALID_EMAIL, PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 403, description = "INVALID_CALLBACK_URL, INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 422, description = "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED, SIGNUP_LIMIT_REACHED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_sign_up_email(
    State(state): State<AppState>,
    client: ClientInfo,
    BaJson(body): BaJson<SignUpBody>,
) -> BaResult<Response> {
    users::normalize_email(&body.email).map_err(|_| {
        BaError::bad_request("VALIDATION_ERROR", "[body.email] Invalid email address")
    })?;
    let callback = check_callback(&state, body.callback_url.as_deref())?;
    let reg = Registration {
        email: body.email,
        password: body.password,
        name: Some(body.name),
        image: body.image,
        source_app_url: callback,
    };
    let user = auth::register(&state, reg, client.clone()).await?;
    if state.config.require_email_verification {
        let body = BaTokenAndUser {
            token: None,
            user: user.into(),
        };
        return Ok(Json(body).into_response());
    }
    let signed = auth::start_session(&state, user, client, None).await?;
    let headers = signed_in_cookies(&state, &signed, body.remember_me != Some(false));
    let body = BaTokenAndUser {
        token: Some(signed.session_token),
        user: signed.user.into(),
    };
    Ok((headers, Json(body)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignInBody {
    email: String,
    password: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    remember_me: Option<bool>,
}

/// The answer of a first factor that needs a second: the pending sign-in
/// rides in the two-factor cookie, the session cookie is cleared, and
/// `remember: false` is kept for the second step in `mana.dont_remember`.
pub(crate) fn two_factor_redirect(
    state: &AppState,
    ticket: &str,
    remember: bool,
) -> (HeaderMap, BaTwoFactorRedirect) {
    let mut headers = cookie::clear_session(&state.config);
    cookie::append(
        &mut headers,
        &state.config,
        TWO_FACTOR_COOKIE,
        ticket,
        Some(two_factor::TICKET_TTL.num_seconds()),
    );
    if !remember {
        cookie::append(
            &mut headers,
            &state.config,
            DONT_REMEMBER_COOKIE,
            "true",
            None,
        );
    }
    (headers, BaTwoFactorRedirect::totp())
}

/// The ticket inside a TWO_FACTOR_REQUIRED error, if it is one.
pub(crate) fn ticket_of(e: &crate::error::ApiError) -> Option<String> {
    if e.code != ErrorCode::TwoFactorRequired {
        return None;
    }
    e.extra
        .as_ref()?
        .get("twoFactorTicket")?
        .as_str()
        .map(str::to_owned)
}

/// `sign-in/email` with the first factor done and no second due: `url` is
/// the callback, sent only when one was given.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BaEmailSignIn {
    redirect: bool,
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    user: BaUser,
}

/// The answer of `sign-in/email`: signed in, or a second factor is due.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum BaSignInAnswer {
    SignedIn(Box<BaEmailSignIn>),
    TwoFactor(BaTwoFactorRedirect),
}

#[utoipa::path(
    post, path = "/sign-in/email", request_body = SignInBody,
    tag = "better-auth",
    responses(
        (status = 200, description = "`{redirect, token, url?, user}` with the session cookie; or `{twoFactorRedirect: true, twoFactorMethods}` with the two-factor cookie", body = BaSignInAnswer),
        (status = 400, description = "INVALID_EMAIL, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "INVALID_EMAIL_OR_PASSWORD", body = super::BaErrorBody),
        (status = 403, description = "EMAIL_NOT_VERIFIED, INVALID_CALLBACK_URL, INVALID_ORIGIN", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED, ACCOUNT_LOCKED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_sign_in_email(
    State(state): State<AppState>,
    client: ClientInfo,
    BaJson(body): BaJson<SignInBody>,
) -> BaResult<Response> {
    users::normalize_email(&body.email).map_err(|_| BaError::invalid_email())?;
    let callback = check_callback(&state, body.callback_url.as_deref())?;
    let signed = match auth::login(&state, &body.email, body.password, client).await {
        Ok(signed) => signed,
        Err(e) => match ticket_of(&e) {
            Some(ticket) => {
                let remember = body.remember_me != Some(false);
                let (headers, body) = two_factor_redirect(&state, &ticket, remember);
                return Ok((headers, Json(BaSignInAnswer::TwoFactor(body))).into_response());
            }
            None => return Err(e.into()),
        },
    };
    let mut headers = signed_in_cookies(&state, &signed, body.remember_me != Some(false));
    if let Some(url) = &callback {
        if let Ok(v) = HeaderValue::from_str(url) {
            headers.insert(header::LOCATION, v);
        }
    }
    let out = BaSignInAnswer::SignedIn(Box::new(BaEmailSignIn {
        redirect: callback.is_some(),
        token: signed.session_token,
        url: callback,
        user: signed.user.into(),
    }));
    Ok((headers, Json(out)).into_response())
}

#[utoipa::path(
    get, path = "/get-session",
    tag = "better-auth",
    security((), ("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{session, user}`, or `null` without a live session", body = Option<BaSessionAndUser>)
    )
)]
pub(crate) async fn get_session(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> BaResult<Response> {
    let Some(mut found) = super::optional_auth(&state, &headers, &client).await? else {
        return Ok(no_store(Json(None::<BaSessionAndUser>).into_response()));
    };
    // Extend at most once a day, like every other use of the session; a
    // cookie session gets its cookie re-sent with the new lifetime.
    let extended = auth::extend_if_due(&state, &mut found.session, state.now()).await?;
    let cookies = match (&found.token, extended) {
        (Some(token), true) if crate::http::extract::session_cookie(&headers).is_some() => {
            Some(cookie::set_session(&state.config, token))
        }
        _ => None,
    };
    // Like the framework's jwt plugin: an access token rides along.
    let jwt = state
        .tokens
        .issue(&found.user, &found.session.id, state.now())?;
    let mut response = Json(Some(found.to_wire())).into_response();
    if let Some(cookies) = cookies {
        response.headers_mut().extend(cookies);
    }
    if let Ok(v) = HeaderValue::from_str(&jwt) {
        // (CORS exposes it to browser clients.)
        response.headers_mut().insert("set-auth-jwt", v);
    }
    Ok(no_store(response))
}

fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[utoipa::path(
    get, path = "/token",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{token}`: an EdDSA access token (JWT) for the session", body = BaAccessToken)
    )
)]
pub(crate) async fn get_token(State(state): State<AppState>, auth: BaAuth) -> BaResult<Response> {
    let token = state
        .tokens
        .issue(&auth.user, &auth.session.id, state.now())?;
    let jwt = HeaderValue::from_str(&token);
    let mut response = Json(BaAccessToken { token }).into_response();
    if let Ok(v) = jwt {
        response.headers_mut().insert("set-auth-jwt", v);
    }
    Ok(response)
}

#[utoipa::path(
    post, path = "/sign-out",
    tag = "better-auth",
    security((), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{success: true}`; the session is revoked and its cookie cleared", body = BaSuccess)
    )
)]
pub(crate) async fn post_sign_out(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> BaResult<Response> {
    if let Some(token) = crate::http::extract::session_cookie(&headers) {
        if let Ok((session, _)) = auth::resolve(&state, token, &client).await {
            auth::logout(&state, session, client).await?;
        }
    }
    let mut cookies = cookie::clear_session(&state.config);
    cookie::append(&mut cookies, &state.config, TWO_FACTOR_COOKIE, "", Some(0));
    cookie::append(
        &mut cookies,
        &state.config,
        DONT_REMEMBER_COOKIE,
        "",
        Some(0),
    );
    Ok((cookies, Json(BaSuccess { success: true })).into_response())
}
