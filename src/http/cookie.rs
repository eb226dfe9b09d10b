//! The session cookie: HttpOnly, `Secure` in production (or behind https),
//! `SameSite=None` with `COOKIE_DOMAIN` for cross-subdomain sign-on, else
//! `Lax`.

use axum::http::{header::SET_COOKIE, HeaderMap, HeaderValue};

use super::extract::SESSION_COOKIE;
use crate::auth::session::SESSION_TTL;
use crate::config::Config;

fn build(config: &Config, value: &str, max_age: i64) -> String {
    build_named(config, SESSION_COOKIE, value, Some(max_age))
}

/// Whether this server's cookies are `Secure` and `__Secure-` prefixed.
pub fn secure(config: &Config) -> bool {
    config.secure_cookies() || config.cookie_domain.is_some()
}

/// A cookie with the session cookie's attributes; without `max_age` it is a
/// browser-session cookie.
fn build_named(config: &Config, name: &str, value: &str, max_age: Option<i64>) -> String {
    let secure = secure(config);
    let name = if secure {
        format!("__Secure-{name}")
    } else {
        name.to_owned()
    };
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly");
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    match &config.cookie_domain {
        Some(domain) => {
            cookie.push_str("; Domain=");
            cookie.push_str(domain);
            cookie.push_str("; SameSite=None");
        }
        None => cookie.push_str("; SameSite=Lax"),
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Headers that set the session cookie.
pub fn set_session(config: &Config, token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&build(config, token, SESSION_TTL.num_seconds())) {
        headers.insert(SET_COOKIE, v);
    }
    headers
}

/// Appends a `Set-Cookie` for `name` (session-cookie attributes).
pub fn append(
    headers: &mut HeaderMap,
    config: &Config,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    if let Ok(v) = HeaderValue::from_str(&build_named(config, name, value, max_age)) {
        headers.append(SET_COOKIE, v);
    }
}

/// Headers that set the session cookie; with `remember` false it lasts
/// only as long as the browser session (the session itself still expires
/// after its TTL).
pub fn set_session_remember(config: &Config, token: &str, remember: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let max_age = remember.then(|| SESSION_TTL.num_seconds());
    append(&mut headers, config, SESSION_COOKIE, token, max_age);
    headers
}

/// Headers that clear the session cookie.
pub fn clear_session(config: &Config) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&build(config, "", 0)) {
        headers.insert(SET_COOKIE, v);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_the_deployment() {
        let dev = Config::from_args(Vec::<String>::new()).unwrap();
        let c = build(&dev, "t", 10);
        assert!(c.starts_with("mana.session_token=t;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        let sso = Config::from_args([
            "--cookie-domain",
            ".mana.how",
            "--base-url",
            "https://auth.mana.how",
        ])
        .unwrap();
        let c = build(&sso, "t", 10);
        assert!(c.starts_with("__Secure-mana.session_token=t;"));
        assert!(
            c.contains("Domain=.mana.how") && c.contains("SameSite=None") && c.contains("Secure")
        );
    }
}
