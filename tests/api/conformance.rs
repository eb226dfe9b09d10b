//! Wire conformance with the original service's clients: one table walks
//! every row of the contract's summary of what the clients read
//! (shared/UPSTREAM-WIRE.md §15, the routes and the error shapes clients
//! branch on) against a real server, and names each field a client reads
//! that is missing or of the wrong type. Deliberate differences are in
//! docs/COMPAT.md §7.
//!
//! A case is one call: who calls (`-` nobody, `bearer:NAME`, `cookie:NAME`,
//! `service`), the body (JSON with `@{var}` placeholders), the status, the
//! fields read (`a.b[].c:KIND`, see [`check`]) and the values kept for later
//! cases (`var <- path`).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::better_auth::ORIGIN as APP_ORIGIN;
use crate::common::{Resp, TestServer};
use crate::passkeys::{assertion, authenticator, register, ORIGIN};

const SERVICE_KEY: &str = "conformance-service-key-0123";

/// The rows of the summary table (§15), each of which some case below
/// exercises (checked at the end).
const ROWS: &[&str] = &[
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/session-to-token",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/validate",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/forgot-password, /reset-password, /resend-verification",
    "GET /api/v1/auth/profile",
    "POST /api/v1/auth/profile",
    "POST /api/v1/auth/change-password, /change-email, DELETE /account",
    "GET /api/v1/auth/security-events",
    "GET /api/v1/auth/jwks",
    "GET /api/v1/auth/passkeys/capability",
    "POST /api/v1/auth/passkeys/register/options, /authenticate/options",
    "POST /api/v1/auth/passkeys/authenticate/verify",
    "POST /api/v1/auth/passkeys/register/verify, DELETE/PATCH /passkeys/:id",
    "GET /api/v1/auth/passkeys",
    "GET/POST/DELETE /api/v1/api-keys",
    "POST /api/v1/api-keys/validate",
    "GET /api/v1/me/data",
    "GET /api/v1/me/data/export",
    "DELETE /api/v1/me/data",
    "PATCH /api/v1/me/profile",
    "GET /api/v1/me/encryption-vault/status",
    "POST /api/v1/me/encryption-vault/init, GET /key",
    "POST /api/v1/me/encryption-vault/rotate",
    "POST / DELETE /api/v1/me/encryption-vault/recovery-wrap",
    "POST /api/v1/me/encryption-vault/zero-knowledge",
    "GET / POST /complete / PATCH /reset /api/v1/me/onboarding",
    "POST /api/v1/me/bootstrap-singletons",
    "/api/v1/settings (all 7)",
    "GET /api/v1/admin/stats",
    "GET /api/v1/admin/users",
    "GET / DELETE /api/v1/admin/users/:id/data",
    "GET /api/v1/internal/users/:id/memberships",
    "GET /api/v1/internal/org/:o/member/:u",
    "GET /health",
    "/api/auth/* native",
    "Guard errors (all guarded routes)",
    // Beyond the table: what the shared client's listSessions reads (§2.x),
    // and the admin's tier routes (§11.5, §11.6).
    "GET /api/v1/auth/sessions",
    "GET / PUT /api/v1/admin/users/:id/tier",
];

struct Case {
    row: &'static str,
    call: &'static str,
    who: &'static str,
    body: &'static str,
    status: u16,
    reads: &'static [&'static str],
    keep: &'static [&'static str],
}

const fn case(
    row: &'static str,
    call: &'static str,
    who: &'static str,
    body: &'static str,
    status: u16,
    reads: &'static [&'static str],
) -> Case {
    Case {
        row,
        call,
        who,
        body,
        status,
        reads,
        keep: &[],
    }
}

const fn keep(c: Case, keep: &'static [&'static str]) -> Case {
    Case { keep, ..c }
}

/// What the user summary of `/me/data` and the admin's `/users/:id/data`
/// must hold (§6.1).
const SUMMARY: &[&str] = &[
    "user.id:s",
    "user.email:s",
    "user.name:s",
    "user.role:s",
    "user.createdAt:s",
    "user.emailVerified:b",
    "auth.sessionsCount:n",
    "auth.accountsCount:n",
    "auth.has2FA:b",
    "auth.lastLoginAt:s?",
    "credits.balance:n",
    "credits.totalEarned:n",
    "credits.totalSpent:n",
    "credits.transactionsCount:n",
    "projects[].projectId:s",
    "projects[].projectName:s",
    "projects[].icon:s",
    "projects[].available:b",
    "projects[].entities:a",
    "projects[].totalCount:n",
    "totals.totalEntities:n",
    "totals.projectsWithData:n",
];

const DELETION: &[&str] = &[
    "success:=true",
    "deletedFromProjects[].projectId:s",
    "deletedFromProjects[].projectName:s",
    "deletedFromProjects[].success:b",
    "deletedFromAuth.sessions:n",
    "deletedFromAuth.accounts:n",
    "deletedFromAuth.credits:n",
    "deletedFromAuth.user:=true",
    "totalDeleted:n",
];

const SETTINGS: &[&str] = &[
    "success:=true",
    "globalSettings:o",
    "appOverrides:o",
    "deviceSettings:o",
];

const E_AUTH: &[&str] = &["error:s", "message:s", "status:n"];

const KEY_RESULT: &[&str] = &["masterKey:s", "formatVersion:n", "kekId:s"];

/// Calls before the passkey ceremonies (run in code between the tables).
#[rustfmt::skip]
const BEFORE_PASSKEYS: &[Case] = &[
    case("GET /health", "GET /health", "-", "", 200, &["status:=\"ok\"", "service:=\"mana-auth\"",
        "timestamp:s"]),
    // Registration (a taken address answers like a new one, as the original),
    // and the refusals of a malformed address and a weak password.
    case("POST /api/v1/auth/register", "POST /api/v1/auth/register", "-",
        r#"{"email":"new@example.com","password":"correct-horse-battery","name":"New"}"#, 200,
        &["user.emailVerified:b", "user.id:s"]),
    case("POST /api/v1/auth/register", "POST /api/v1/auth/register", "-",
        r#"{"email":"new@example.com","password":"correct-horse-battery","name":"New"}"#, 200,
        &["token:null", "user.emailVerified:=false", "user.id:s"]),
    case("POST /api/v1/auth/register", "POST /api/v1/auth/register", "-",
        r#"{"email":"x","password":"correct-horse-battery","name":"X"}"#, 400, E_AUTH),
    case("POST /api/v1/auth/register", "POST /api/v1/auth/register", "-",
        r#"{"email":"weak@example.com","password":"short","name":"W"}"#, 400,
        &["error:=\"WEAK_PASSWORD\"", "message:s", "status:=400"]),
    // Sign-in: tokens, then the error codes clients branch on.
    keep(case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"alice@example.com","password":"correct-horse-battery"}"#, 200,
        &["accessToken:s", "refreshToken:s", "token:s", "user.id:s", "user.email:s"]),
        &["alice.access <- accessToken", "alice.refresh <- refreshToken", "alice.id <- user.id"]),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"alice@example.com","password":"wrong-password-1"}"#, 401,
        &["error:=\"INVALID_CREDENTIALS\"", "message:s", "status:=401"]),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"lock@example.com","password":"wrong-password-1"}"#, 401, E_AUTH),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"lock@example.com","password":"wrong-password-2"}"#, 401, E_AUTH),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"lock@example.com","password":"wrong-password-3"}"#, 401, E_AUTH),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"lock@example.com","password":"wrong-password-4"}"#, 401, E_AUTH),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"lock@example.com","password":"wrong-password-5"}"#, 429,
        &["error:=\"ACCOUNT_LOCKED\"", "message:s", "status:=429", "retryAfterSec:n"]),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"lock@example.com","password":"correct-horse-battery"}"#, 429,
        &["error:=\"ACCOUNT_LOCKED\"", "message:s", "status:=429", "retryAfterSec:n",
        "header retry-after:"]),
    case("POST /api/v1/auth/login", "POST /api/v1/auth/login", "-",
        r#"{"email":"unverified@example.com","password":"correct-horse-battery"}"#, 403,
        &["error:=\"EMAIL_NOT_VERIFIED\"", "message:s", "status:=403"]),
    // The cookie session of the framework's sign-in, turned into tokens.
    keep(case("/api/auth/* native", "POST /api/auth/sign-in/email", "-",
        r#"{"email":"alice@example.com","password":"correct-horse-battery"}"#, 200,
        &["user.email:s", "token:s"]), &["alice.cookie <- @cookie"]),
    case("/api/auth/* native", "GET /api/auth/get-session", "cookie:alice", "", 200,
        &["session.id:s", "session.token:s", "user.email:=\"alice@example.com\"", "user.id:s"]),
    case("/api/auth/* native", "POST /api/auth/update-user", "-", r#"{"name":"X"}"#, 401,
        &["code:=\"UNAUTHORIZED\"", "message:s"]),
    case("POST /api/v1/auth/session-to-token", "POST /api/v1/auth/session-to-token", "cookie:alice",
        "", 200, &["accessToken:s", "refreshToken:s"]),
    case("POST /api/v1/auth/session-to-token", "POST /api/v1/auth/session-to-token", "-", "", 401,
        E_AUTH),
    keep(case("POST /api/v1/auth/refresh", "POST /api/v1/auth/refresh", "-",
        r#"{"refreshToken":"@{alice.refresh}"}"#, 200, &["accessToken:s", "refreshToken:s"]),
        &["alice.access <- accessToken", "alice.refresh <- refreshToken"]),
    case("POST /api/v1/auth/refresh", "POST /api/v1/auth/refresh", "-",
        r#"{"refreshToken":"not-a-refresh-token"}"#, 401, &["message:s", "error:s"]),
    case("POST /api/v1/auth/validate", "POST /api/v1/auth/validate", "-",
        r#"{"token":"@{alice.access}"}"#, 200, &["valid:=true", "payload.sub:s"]),
    case("POST /api/v1/auth/validate", "POST /api/v1/auth/validate", "-", r#"{"token":"garbage"}"#,
        200, &["valid:=false"]),
    case("POST /api/v1/auth/forgot-password, /reset-password, /resend-verification",
        "POST /api/v1/auth/forgot-password", "-",
        r#"{"email":"alice@example.com","redirectTo":"http://app.mana.test/reset"}"#, 200,
        &["success:=true"]),
    case("POST /api/v1/auth/forgot-password, /reset-password, /resend-verification",
        "POST /api/v1/auth/reset-password", "-",
        r#"{"token":"not-a-token","newPassword":"a-brand-new-password"}"#, 400,
        &["error:=\"TOKEN_INVALID\"", "message:s", "status:=400"]),
    case("POST /api/v1/auth/forgot-password, /reset-password, /resend-verification",
        "POST /api/v1/auth/resend-verification", "-", r#"{"email":"unverified@example.com"}"#, 200,
        &["success:=true"]),
    case("GET /api/v1/auth/profile", "GET /api/v1/auth/profile", "bearer:alice", "", 200,
        &["name:s", "email:=\"alice@example.com\"", "image:s?", "user.email:s"]),
    case("POST /api/v1/auth/profile", "POST /api/v1/auth/profile", "bearer:alice",
        r#"{"name":"Alice A"}"#, 200, &["user.name:=\"Alice A\"", "user.email:s"]),
    case("POST /api/v1/auth/profile", "POST /api/v1/auth/profile", "bearer:alice",
        r#"{"email":"other@example.com"}"#, 400, E_AUTH),
    case("POST /api/v1/auth/change-password, /change-email, DELETE /account",
        "POST /api/v1/auth/change-password", "bearer:alice",
        r#"{"currentPassword":"wrong-password-1","newPassword":"a-brand-new-password"}"#, 401,
        &["error:=\"INVALID_CREDENTIALS\"", "message:s", "status:=401"]),
    case("POST /api/v1/auth/change-password, /change-email, DELETE /account",
        "POST /api/v1/auth/change-password", "bearer:bob",
        r#"{"currentPassword":"correct-horse-battery","newPassword":"a-brand-new-password"}"#, 200,
        &["success:=true"]),
    case("POST /api/v1/auth/change-password, /change-email, DELETE /account",
        "POST /api/v1/auth/change-email", "bearer:alice",
        r#"{"newEmail":"alice.new@example.com","callbackURL":"http://app.mana.test/profile"}"#, 200,
        &["success:=true", "message:s"]),
    case("POST /api/v1/auth/change-password, /change-email, DELETE /account",
        "POST /api/v1/auth/change-email", "bearer:alice", r#"{}"#, 400, E_AUTH),
    case("GET /api/v1/auth/security-events", "GET /api/v1/auth/security-events?limit=20",
        "bearer:alice", "", 200, &["[].id:s", "[].event_type:s", "[].created_at:s"]),
    case("GET /api/v1/auth/sessions", "GET /api/v1/auth/sessions", "bearer:alice", "", 200,
        &["[].id:s", "[].createdAt:s", "[].expiresAt:s"]),
    case("GET /api/v1/auth/jwks", "GET /api/v1/auth/jwks", "-", "", 200, &["keys[].kid:s",
        "keys[].kty:=\"OKP\"", "keys[].crv:=\"Ed25519\"", "keys[].x:s", "keys[].alg:=\"EdDSA\""]),
    case("GET /api/v1/auth/passkeys/capability", "GET /api/v1/auth/passkeys/capability", "-", "",
        200, &["enabled:=true", "rpId:s"]),
    case("POST /api/v1/auth/passkeys/register/options, /authenticate/options",
        "POST /api/v1/auth/passkeys/register/options", "bearer:alice", "", 200,
        &["options.challenge:s", "options.rp.id:s", "options.user.id:s", "challengeId:s"]),
    case("POST /api/v1/auth/passkeys/register/options, /authenticate/options",
        "POST /api/v1/auth/passkeys/register/options", "-", "", 401, E_AUTH),
    case("POST /api/v1/auth/passkeys/register/options, /authenticate/options",
        "POST /api/v1/auth/passkeys/authenticate/options", "-", "", 200, &["options.challenge:s",
        "options.rpId:s", "challengeId:s"]),
    case("POST /api/v1/auth/passkeys/authenticate/verify",
        "POST /api/v1/auth/passkeys/authenticate/verify", "-",
        r#"{"challengeId":"nope","credential":{"id":"x","rawId":"x","type":"public-key","response":{}}}"#,
        400, E_AUTH),
];

/// Calls after the passkey ceremonies.
#[rustfmt::skip]
const AFTER_PASSKEYS: &[Case] = &[
    // API keys: created (201, with the secret), listed, checked by a
    // service without a token, revoked.
    keep(case("GET/POST/DELETE /api/v1/api-keys", "POST /api/v1/api-keys", "bearer:alice",
        r#"{"name":"CLI","scopes":["stt"],"rateLimitRequests":60,"rateLimitWindow":60}"#, 201,
        &["key:s", "id:s", "name:=\"CLI\"", "keyPrefix:s", "scopes:=[\"stt\"]", "createdAt:s",
        "lastUsedAt:null", "revokedAt:null"]), &["key.id <- id", "key.secret <- key"]),
    case("GET/POST/DELETE /api/v1/api-keys", "GET /api/v1/api-keys", "bearer:alice", "", 200,
        &["[].id:s", "[].name:s", "[].keyPrefix:s", "[].scopes:a", "[].createdAt:s",
        "[].lastUsedAt:s?", "[].revokedAt:s?"]),
    case("POST /api/v1/api-keys/validate", "POST /api/v1/api-keys/validate", "-",
        r#"{"apiKey":"@{key.secret}","scope":"stt"}"#, 200, &["valid:=true", "userId:s",
        "scopes:=[\"stt\"]", "rateLimit.requests:n", "rateLimit.window:n"]),
    case("POST /api/v1/api-keys/validate", "POST /api/v1/api-keys/validate", "-",
        r#"{"apiKey":"@{key.secret}","scope":"tts"}"#, 200, &["valid:=false"]),
    case("POST /api/v1/api-keys/validate", "POST /api/v1/api-keys/validate", "-",
        r#"{"apiKey":"sk_live_0000"}"#, 200, &["valid:=false", "error:s"]),
    case("GET/POST/DELETE /api/v1/api-keys", "DELETE /api/v1/api-keys/@{key.id}", "bearer:alice",
        "", 200, &["success:=true"]),
    case("GET/POST/DELETE /api/v1/api-keys", "DELETE /api/v1/api-keys/@{key.id}", "bearer:bob", "",
        404, &["message:s"]),
    case("GET/POST/DELETE /api/v1/api-keys", "GET /api/v1/api-keys", "bearer:alice", "", 200,
        &["[].revokedAt:s"]),
    // /me.
    case("GET /api/v1/me/data", "GET /api/v1/me/data", "bearer:alice", "", 200, SUMMARY),
    case("GET /api/v1/me/data/export", "GET /api/v1/me/data/export", "bearer:alice", "", 200,
        &["exportedAt:s", "exportVersion:s", "data.user.id:s", "data.projects:a",
        "header content-disposition:attachment; filename=\"meine-daten-"]),
    case("PATCH /api/v1/me/profile", "PATCH /api/v1/me/profile", "bearer:alice",
        r#"{"name":"Alice"}"#, 200, &["name:=\"Alice\""]),
    case("GET / POST /complete / PATCH /reset /api/v1/me/onboarding", "GET /api/v1/me/onboarding",
        "bearer:alice", "", 200, &["completedAt:null"]),
    case("GET / POST /complete / PATCH /reset /api/v1/me/onboarding",
        "POST /api/v1/me/onboarding/complete", "bearer:alice", "", 200, &["completedAt:s"]),
    case("GET / POST /complete / PATCH /reset /api/v1/me/onboarding", "GET /api/v1/me/onboarding/",
        "bearer:alice", "", 200, &["completedAt:s"]),
    case("GET / POST /complete / PATCH /reset /api/v1/me/onboarding",
        "PATCH /api/v1/me/onboarding/reset", "bearer:alice", "", 200, &["completedAt:null"]),
    case("POST /api/v1/me/bootstrap-singletons", "POST /api/v1/me/bootstrap-singletons",
        "bearer:alice", "", 200, &["ok:=true", "bootstrapped.userContext:b",
        "bootstrapped.spaces:o"]),
    // The vault, through every state the web client branches on.
    case("GET /api/v1/me/encryption-vault/status", "GET /api/v1/me/encryption-vault/status",
        "bearer:alice", "", 200, &["vaultExists:=false", "hasRecoveryWrap:=false",
        "zeroKnowledge:=false", "recoverySetAt:null"]),
    case("POST /api/v1/me/encryption-vault/init, GET /key", "GET /api/v1/me/encryption-vault/key",
        "bearer:alice", "", 404, &["code:=\"VAULT_NOT_INITIALISED\"", "error:s"]),
    case("POST / DELETE /api/v1/me/encryption-vault/recovery-wrap",
        "POST /api/v1/me/encryption-vault/recovery-wrap", "bearer:alice",
        r#"{"recoveryWrappedMk":"cmVjb3Zlcnktd3JhcHBlZC1tYXN0ZXIta2V5LWJsb2IhIQ==","recoveryIv":"aXYtMTItYnl0ZXMh"}"#,
        404, &["code:=\"VAULT_NOT_INITIALISED\"", "error:s"]),
    case("POST /api/v1/me/encryption-vault/init, GET /key", "POST /api/v1/me/encryption-vault/init",
        "bearer:alice", "", 200, KEY_RESULT),
    keep(case("POST /api/v1/me/encryption-vault/init, GET /key",
        "GET /api/v1/me/encryption-vault/key", "bearer:alice", "", 200, KEY_RESULT),
        &["vault.mk <- masterKey"]),
    keep(case("POST /api/v1/me/encryption-vault/rotate", "POST /api/v1/me/encryption-vault/rotate",
        "bearer:alice", "", 200, KEY_RESULT), &["vault.mk <- masterKey"]),
    case("POST /api/v1/me/encryption-vault/zero-knowledge",
        "POST /api/v1/me/encryption-vault/zero-knowledge", "bearer:alice", r#"{"enable":true}"#,
        400, &["code:=\"RECOVERY_WRAP_MISSING\"", "error:s"]),
    case("POST / DELETE /api/v1/me/encryption-vault/recovery-wrap",
        "POST /api/v1/me/encryption-vault/recovery-wrap", "bearer:alice",
        r#"{"recoveryWrappedMk":"cmVjb3Zlcnktd3JhcHBlZC1tYXN0ZXIta2V5LWJsb2IhIQ==","recoveryIv":"aXYtMTItYnl0ZXMh"}"#,
        200, &["ok:=true"]),
    case("GET /api/v1/me/encryption-vault/status", "GET /api/v1/me/encryption-vault/status",
        "bearer:alice", "", 200, &["vaultExists:=true", "hasRecoveryWrap:=true",
        "zeroKnowledge:=false", "recoverySetAt:s"]),
    case("POST /api/v1/me/encryption-vault/zero-knowledge",
        "POST /api/v1/me/encryption-vault/zero-knowledge", "bearer:alice", r#"{"enable":true}"#,
        200, &["ok:=true", "zeroKnowledge:=true"]),
    case("POST /api/v1/me/encryption-vault/init, GET /key", "GET /api/v1/me/encryption-vault/key",
        "bearer:alice", "", 200, &["requiresRecoveryCode:=true",
        "recoveryWrappedMk:=\"cmVjb3Zlcnktd3JhcHBlZC1tYXN0ZXIta2V5LWJsb2IhIQ==\"",
        "recoveryIv:=\"aXYtMTItYnl0ZXMh\"", "formatVersion:n"]),
    case("POST /api/v1/me/encryption-vault/rotate", "POST /api/v1/me/encryption-vault/rotate",
        "bearer:alice", "", 409, &["code:=\"ZK_ROTATE_FORBIDDEN\"", "error:s"]),
    case("POST / DELETE /api/v1/me/encryption-vault/recovery-wrap",
        "DELETE /api/v1/me/encryption-vault/recovery-wrap", "bearer:alice", "", 409,
        &["code:=\"ZK_ACTIVE\"", "error:s"]),
    case("POST /api/v1/me/encryption-vault/zero-knowledge",
        "POST /api/v1/me/encryption-vault/zero-knowledge", "bearer:alice",
        r#"{"enable":false,"masterKey":"@{vault.mk}"}"#, 200, &["ok:=true",
        "zeroKnowledge:=false"]),
    case("POST / DELETE /api/v1/me/encryption-vault/recovery-wrap",
        "DELETE /api/v1/me/encryption-vault/recovery-wrap", "bearer:alice", "", 200, &["ok:=true"]),
    // Settings: the seven routes of the settings store.
    case("/api/v1/settings (all 7)", "GET /api/v1/settings", "bearer:alice", "", 200, SETTINGS),
    case("/api/v1/settings (all 7)", "PATCH /api/v1/settings/global", "bearer:alice",
        r#"{"theme":{"mode":"dark"}}"#, 200, &["success:=true",
        "globalSettings.theme.mode:=\"dark\"", "appOverrides:o", "deviceSettings:o"]),
    case("/api/v1/settings (all 7)", "PATCH /api/v1/settings/app/todo", "bearer:alice",
        r#"{"view":"list"}"#, 200, &["success:=true", "globalSettings:o",
        "appOverrides.todo.view:=\"list\"", "deviceSettings:o"]),
    case("/api/v1/settings (all 7)", "DELETE /api/v1/settings/app/todo", "bearer:alice", "", 200,
        SETTINGS),
    case("/api/v1/settings (all 7)", "PATCH /api/v1/settings/device/laptop-1/todo", "bearer:alice",
        r#"{"deviceName":"Laptop","deviceType":"desktop","settings":{"zoom":2}}"#, 200,
        &["success:=true", "globalSettings:o", "appOverrides:o",
        "deviceSettings.laptop-1.deviceName:=\"Laptop\"",
        "deviceSettings.laptop-1.deviceType:=\"desktop\"", "deviceSettings.laptop-1.lastSeen:s",
        "deviceSettings.laptop-1.apps.todo.zoom:=2"]),
    case("/api/v1/settings (all 7)", "GET /api/v1/settings/devices", "bearer:alice", "", 200,
        &["success:=true", "devices[].deviceId:=\"laptop-1\"", "devices[].deviceName:s",
        "devices[].deviceType:s", "devices[].lastSeen:s?", "devices[].appCount:=1"]),
    case("/api/v1/settings (all 7)", "DELETE /api/v1/settings/device/laptop-1", "bearer:alice", "",
        200, SETTINGS),
    // Admin.
    case("GET /api/v1/admin/stats", "GET /api/v1/admin/stats", "bearer:root", "", 200,
        &["totalUsers:n", "newUsers7d:n", "newUsers30d:n", "activeSessions:n", "uniqueUsers24h:n",
        "loginSuccess7d:n", "loginFailed7d:n", "generatedAt:s"]),
    case("GET /api/v1/admin/users", "GET /api/v1/admin/users?page=1&limit=20&search=alice",
        "bearer:root", "", 200, &["users[].id:s", "users[].email:s", "users[].name:s",
        "users[].role:s", "users[].createdAt:s", "total:n", "page:=1", "limit:=20"]),
    case("GET /api/v1/admin/stats", "GET /api/v1/admin/stats", "bearer:alice", "", 403,
        &["message:s"]),
    case("GET / PUT /api/v1/admin/users/:id/tier", "PUT /api/v1/admin/users/@{bob.id}/tier",
        "bearer:root", r#"{"tier":"beta"}"#, 200,
        &["success:=true", "user.id:s", "user.email:=\"bob@example.com\"", "user.accessTier:=\"beta\""]),
    case("GET / PUT /api/v1/admin/users/:id/tier", "GET /api/v1/admin/users/@{bob.id}/tier",
        "bearer:root", "", 200, &["id:s", "email:=\"bob@example.com\"", "accessTier:=\"beta\""]),
    case("GET / PUT /api/v1/admin/users/:id/tier", "PUT /api/v1/admin/users/@{bob.id}/tier",
        "bearer:root", r#"{"tier":"emperor"}"#, 400, &["error:s", "message:s"]),
    case("GET / DELETE /api/v1/admin/users/:id/data", "GET /api/v1/admin/users/@{alice.id}/data",
        "bearer:root", "", 200, SUMMARY),
    case("GET / DELETE /api/v1/admin/users/:id/data", "GET /api/v1/admin/users/no-such-user/data",
        "bearer:root", "", 404, &["error:s"]),
    // Internal (x-service-key).
    case("GET /api/v1/internal/users/:id/memberships",
        "GET /api/v1/internal/users/@{alice.id}/memberships", "service", "", 200, &["userId:s",
        "memberships[].organizationId:s", "memberships[].role:=\"owner\""]),
    case("GET /api/v1/internal/users/:id/memberships",
        "GET /api/v1/internal/users/no-such-user/memberships", "service", "", 200,
        &["memberships:=[]"]),
    case("GET /api/v1/internal/org/:o/member/:u",
        "GET /api/v1/internal/org/@{alice.space}/member/@{alice.id}", "service", "", 200,
        &["isMember:=true", "role:=\"owner\""]),
    case("GET /api/v1/internal/org/:o/member/:u",
        "GET /api/v1/internal/org/@{alice.space}/member/@{bob.id}", "service", "", 200,
        &["isMember:=false", "role:=\"\""]),
    // Guards: clients branch on the status only.
    case("Guard errors (all guarded routes)", "GET /api/v1/me/data", "-", "", 401, &["message:s"]),
    case("Guard errors (all guarded routes)", "GET /api/v1/settings", "bearer:garbage", "", 401,
        &["message:s"]),
    case("Guard errors (all guarded routes)", "GET /api/v1/api-keys", "-", "", 401, &["message:s"]),
    case("Guard errors (all guarded routes)", "GET /api/v1/internal/users/x/memberships", "-", "",
        401, &["message:s"]),
    // The organizations and the second factor of the framework's routes.
    keep(case("/api/auth/* native", "POST /api/auth/organization/create", "cookie:alice",
        r#"{"name":"Club","slug":"conf-club","metadata":{"type":"club","tier":"free"}}"#, 200,
        &["id:s", "name:=\"Club\"", "slug:=\"conf-club\"", "metadata.type:=\"club\"",
        "members[].role:=\"owner\""]), &["org.id <- id"]),
    case("/api/auth/* native", "POST /api/auth/two-factor/enable", "cookie:alice",
        r#"{"password":"correct-horse-battery"}"#, 200, &["totpURI:s", "backupCodes[]:s"]),
    case("/api/auth/* native", "POST /api/auth/two-factor/enable", "cookie:alice",
        r#"{"password":"wrong-password-1"}"#, 400, &["message:s", "code:s"]),
    // Last: the erasures and sign-outs.
    case("GET / DELETE /api/v1/admin/users/:id/data", "DELETE /api/v1/admin/users/@{carol.id}/data",
        "bearer:root", "", 200, DELETION),
    case("DELETE /api/v1/me/data", "DELETE /api/v1/me/data", "bearer:dave", "", 200, DELETION),
    case("POST /api/v1/auth/change-password, /change-email, DELETE /account",
        "DELETE /api/v1/auth/account", "bearer:erin", r#"{"password":"wrong-password-1"}"#, 401,
        E_AUTH),
    case("POST /api/v1/auth/change-password, /change-email, DELETE /account",
        "DELETE /api/v1/auth/account", "bearer:erin",
        r#"{"password":"correct-horse-battery","reason":"testing"}"#, 200, &["success:=true"]),
    case("POST /api/v1/auth/logout", "POST /api/v1/auth/logout", "-",
        r#"{"refreshToken":"@{alice.refresh}"}"#, 200, &[]),
    case("POST /api/v1/auth/logout", "POST /api/v1/auth/logout", "cookie:alice", "", 200, &[]),
    case("/api/auth/* native", "GET /api/auth/get-session", "cookie:alice", "", 200, &[":null"]),
];

/// Checks one read against `v`: `path:KIND` where the path is dotted keys,
/// `key[]` for every element of a non-empty array (`[]` alone: the answer
/// itself), and KIND one of `s` string, `s?` string or null, `b`, `n`, `a`,
/// `o`, `null`, `*` any, or `=JSON` that exact value.
fn check(v: &Value, spec: &str) -> Result<(), String> {
    let (path, kind) = spec.rsplit_once(':').ok_or("no kind")?;
    let segments: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').collect()
    };
    walk(v, &segments, kind)
}

fn walk(v: &Value, segments: &[&str], kind: &str) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return kind_of(v, kind);
    };
    let (key, each) = match first.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (*first, false),
    };
    let here = if key.is_empty() {
        v
    } else {
        v.get(key).ok_or_else(|| format!("`{key}` missing"))?
    };
    if !each {
        return walk(here, rest, kind).map_err(|e| format!("{key}.{e}"));
    }
    let items = here
        .as_array()
        .ok_or_else(|| format!("`{key}` is not an array"))?;
    if items.is_empty() {
        return Err(format!("`{key}` is an empty array"));
    }
    for (i, item) in items.iter().enumerate() {
        walk(item, rest, kind).map_err(|e| format!("{key}[{i}].{e}"))?;
    }
    Ok(())
}

fn kind_of(v: &Value, kind: &str) -> Result<(), String> {
    let ok = match kind {
        "s" => v.is_string(),
        "s?" => v.is_string() || v.is_null(),
        "b" => v.is_boolean(),
        "n" => v.is_number(),
        "a" => v.is_array(),
        "o" => v.is_object(),
        "null" => v.is_null(),
        "*" => true,
        _ => match kind.strip_prefix('=') {
            Some(want) => serde_json::from_str::<Value>(want).map_err(|e| e.to_string())? == *v,
            None => return Err(format!("unknown kind {kind}")),
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!(" is {v}, wanted {kind}"))
    }
}

struct Walk<'a> {
    t: &'a TestServer,
    vars: BTreeMap<String, String>,
    rows: BTreeSet<&'static str>,
    failures: Vec<String>,
}

impl Walk<'_> {
    fn fill(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (k, v) in &self.vars {
            out = out.replace(&format!("@{{{k}}}"), v);
        }
        assert!(!out.contains("@{"), "unknown variable in {out}");
        out
    }

    async fn run(&mut self, c: &Case) -> Resp {
        let (method, path) = c.call.split_once(' ').unwrap();
        let path = self.fill(path);
        let method: Method = method.parse().unwrap();
        let mut req = self.t.client.request(method, self.t.url(&path));
        match c.who.split_once(':') {
            Some(("bearer", name)) => {
                let token = self
                    .vars
                    .get(&format!("{name}.access"))
                    .cloned()
                    .unwrap_or_else(|| name.to_owned());
                req = req.bearer_auth(token);
            }
            Some(("cookie", name)) => {
                let cookie = &self.vars[&format!("{name}.cookie")];
                req = req
                    .header("cookie", format!("__Secure-mana.session_token={cookie}"))
                    .header("origin", APP_ORIGIN);
            }
            _ if c.who == "service" => req = req.header("x-service-key", SERVICE_KEY),
            _ => {}
        }
        if !c.body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(self.fill(c.body));
        }
        let r = self.t.send(req).await;
        self.rows.insert(c.row);
        self.judge(
            c.row,
            &format!("{} {path}", c.call.split(' ').next().unwrap()),
            &r,
            c.status,
            c.reads,
        );
        for k in c.keep {
            let (var, from) = k.split_once(" <- ").unwrap();
            let value = if from == "@cookie" {
                r.session_cookie()
            } else {
                from.split('.')
                    .try_fold(&r.body, |v, key| v.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            match value {
                Some(v) => {
                    self.vars.insert(var.to_owned(), v);
                }
                None => self
                    .failures
                    .push(format!("{}: nothing to keep at {from}", c.call)),
            }
        }
        r
    }

    fn judge(&mut self, row: &'static str, call: &str, r: &Resp, status: u16, reads: &[&str]) {
        self.rows.insert(row);
        if r.status.as_u16() != status {
            self.failures.push(format!(
                "{call}: status {} (wanted {status}): {}",
                r.status, r.body
            ));
            return;
        }
        for spec in reads {
            let result = match spec.strip_prefix("header ") {
                Some(h) => {
                    let (name, want) = h.split_once(':').unwrap();
                    match r.headers.get(name).and_then(|v| v.to_str().ok()) {
                        Some(got) if got.starts_with(want) => Ok(()),
                        got => Err(format!("header {name} is {got:?}")),
                    }
                }
                None => check(&r.body, spec),
            };
            if let Err(e) = result {
                self.failures
                    .push(format!("{call}: {spec}: {e} in {}", r.body));
            }
        }
    }
}

#[tokio::test]
async fn every_row_of_the_summary_table_answers_what_its_clients_read() {
    let t = TestServer::start_with(|c| {
        c.base_url = Some(ORIGIN.into());
        c.require_email_verification = true;
        // Every call comes from one address; the limits have their own tests.
        c.rate_limit_auth = 10_000;
        c.mana_service_key = mana_auth::config::Secret::new(SERVICE_KEY.to_owned());
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(
            crate::self_service::KEK_B64.to_owned(),
        ));
    })
    .await;
    let alice = t.account("alice@example.com").await;
    let mut vars = BTreeMap::new();
    for name in ["bob", "carol", "dave", "erin", "lock"] {
        let a = t.account(&format!("{name}@example.com")).await;
        vars.insert(format!("{name}.access"), a.access);
        vars.insert(format!("{name}.id"), a.id);
    }
    let root = crate::admin::admin(&t, "root@example.com").await;
    vars.insert("root.access".into(), root.access);
    vars.insert("alice.space".into(), t.personal_space(&alice.id));
    assert_eq!(t.register("unverified@example.com").await.status, 200);
    let mut w = Walk {
        t: &t,
        vars,
        rows: BTreeSet::new(),
        failures: Vec::new(),
    };
    for c in BEFORE_PASSKEYS {
        w.run(c).await;
    }

    // The passkey ceremonies with a software authenticator, in the shapes
    // the shared client sends (`credential`, `friendlyName`).
    let access = w.vars["alice.access"].clone();
    let me = crate::common::Account {
        id: alice.id.clone(),
        email: alice.email.clone(),
        access: access.clone(),
        refresh: String::new(),
    };
    let mut auth = authenticator();
    let reg = register(&t, &me, &mut auth, ORIGIN, "Laptop").await;
    let row = "POST /api/v1/auth/passkeys/register/verify, DELETE/PATCH /passkeys/:id";
    w.judge(row, "POST register/verify", &reg, 200, &[]);
    let list = t.get_auth("/api/v1/auth/passkeys", &access).await;
    w.judge(
        "GET /api/v1/auth/passkeys",
        "GET /passkeys",
        &list,
        200,
        &[
            "[].id:s",
            "[].friendlyName:=\"Laptop\"",
            "[].createdAt:s",
            "[].lastUsedAt:s?",
        ],
    );
    let id = list.body[0]["id"].as_str().unwrap_or_default().to_owned();
    let renamed = t
        .send(
            t.client
                .patch(t.url(&format!("/api/v1/auth/passkeys/{id}")))
                .bearer_auth(&access)
                .json(&json!({ "friendlyName": "Phone" })),
        )
        .await;
    w.judge(row, "PATCH /passkeys/:id", &renamed, 200, &[]);
    let (challenge, credential) = assertion(&t, "alice@example.com", &mut auth, ORIGIN).await;
    let signed = t
        .post(
            "/api/v1/auth/passkeys/authenticate/verify",
            json!({ "challengeId": challenge, "credential": credential }),
        )
        .await;
    w.judge(
        "POST /api/v1/auth/passkeys/authenticate/verify",
        "POST authenticate/verify",
        &signed,
        200,
        &[
            "accessToken:s",
            "refreshToken:s",
            "user.email:=\"alice@example.com\"",
        ],
    );
    let renamed = t.get_auth("/api/v1/auth/passkeys", &access).await;
    w.judge(
        "GET /api/v1/auth/passkeys",
        "GET /passkeys",
        &renamed,
        200,
        &["[].friendlyName:=\"Phone\""],
    );
    let stranger = w.vars["bob.access"].clone();
    let foreign = t
        .delete_auth(&format!("/api/v1/auth/passkeys/{id}"), &stranger)
        .await;
    w.judge(
        row,
        "DELETE /passkeys/:id (not the owner)",
        &foreign,
        404,
        &["message:s"],
    );
    let deleted = t
        .delete_auth(&format!("/api/v1/auth/passkeys/{id}"), &access)
        .await;
    w.judge(row, "DELETE /passkeys/:id", &deleted, 200, &[]);

    for c in AFTER_PASSKEYS {
        w.run(c).await;
    }

    let missing: Vec<_> = ROWS.iter().filter(|r| !w.rows.contains(*r)).collect();
    assert!(missing.is_empty(), "rows without a case: {missing:?}");
    let extra: Vec<_> = w.rows.iter().filter(|r| !ROWS.contains(r)).collect();
    assert!(extra.is_empty(), "cases of no row: {extra:?}");
    assert!(
        w.failures.is_empty(),
        "{} reads fail:\n{}",
        w.failures.len(),
        w.failures.join("\n")
    );
}
