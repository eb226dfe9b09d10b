//! The rules that turn the service's rows into this server's, as pure
//! functions: space metadata (an object, or a JSON string holding one),
//! member roles, passkeys (COSE public keys in base64url or padded
//! standard base64), settings documents, API key prefixes, backup codes.
//! A refusal is a short reason for the report.

use serde_json::{json, Map, Value};
use webauthn_rs::prelude::Passkey;
use webauthn_rs_core::proto::{
    AttestationFormat, AuthenticatorTransport, COSEKey, Credential, ParsedAttestation,
    RegisteredExtensions, UserVerificationPolicy,
};

use super::secrets::decode_base64_any;
use crate::spaces::{model::TYPES, Role};

/// Why a row was not imported, for the report.
pub type Refusal = String;

/// The metadata of an organization: a jsonb object (personal spaces made
/// by the service) or a jsonb string holding one (organizations made
/// through Better Auth's plugin, which stores `JSON.stringify(metadata)`).
/// It must name a valid space type.
pub fn space_metadata(raw: Option<&str>) -> Result<Map<String, Value>, Refusal> {
    let Some(raw) = raw else {
        return Err("metadata is empty: no space type".into());
    };
    let mut value: Value =
        serde_json::from_str(raw).map_err(|_| "metadata is not JSON".to_owned())?;
    if let Value::String(inner) = &value {
        value = serde_json::from_str(inner)
            .map_err(|_| "metadata is a string that is not JSON".to_owned())?;
    }
    let Value::Object(map) = value else {
        return Err("metadata is not an object".into());
    };
    match map.get("type").and_then(Value::as_str) {
        Some(kind) if TYPES.contains(&kind) => Ok(map),
        Some(kind) => Err(format!("unknown space type {kind:?}")),
        None => Err("metadata has no space type".into()),
    }
}

/// A member's role: Better Auth allows a comma list ("admin,member"); the
/// highest known role wins; custom roles alone are refused.
pub fn member_role(raw: &str) -> Result<Role, Refusal> {
    raw.split(',')
        .filter_map(|r| Role::parse(r.trim()).ok())
        .max()
        .ok_or_else(|| format!("role {raw:?} is not owner, admin or member"))
}

/// A user's role, tier and kind are checked against this server's sets.
pub fn check_enum(what: &str, value: &str, allowed: &[&str]) -> Result<(), Refusal> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!("{what} {value:?} is unknown here"))
    }
}

/// A stored passkey: the credential as webauthn-rs keeps it, its transports
/// as a JSON list, and a name.
pub struct ImportedPasskey {
    pub passkey: Passkey,
    pub transports: Option<Value>,
}

/// Builds a webauthn-rs passkey from the service's columns: credential id
/// (base64url), COSE public key (base64url or padded standard base64),
/// signature counter, device type / backed-up flags, CSV transports.
pub fn passkey(
    credential_id: &str,
    public_key: &str,
    counter: i64,
    device_type: &str,
    backed_up: bool,
    transports: Option<&str>,
) -> Result<ImportedPasskey, Refusal> {
    let cred_id = decode_base64_any(credential_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| "credential id is not base64".to_owned())?;
    let cose = decode_base64_any(public_key)
        .ok_or_else(|| "public key is not base64 (url-safe or standard)".to_owned())?;
    let cbor: serde_cbor_2::Value = serde_cbor_2::from_slice(&cose)
        .map_err(|_| "public key is not a CBOR COSE key".to_owned())?;
    let key =
        COSEKey::try_from(&cbor).map_err(|e| format!("public key is not usable here: {e:?}"))?;
    let counter =
        u32::try_from(counter).map_err(|_| "signature counter out of range".to_owned())?;
    let list: Vec<AuthenticatorTransport> = transports
        .unwrap_or("")
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let credential = Credential {
        cred_id: cred_id.into(),
        cred: key,
        counter,
        transports: (!list.is_empty()).then(|| list.clone()),
        // Passkey sign-in here always requires user verification.
        user_verified: true,
        backup_eligible: device_type == "multiDevice" || backed_up,
        backup_state: backed_up,
        registration_policy: UserVerificationPolicy::Required,
        extensions: RegisteredExtensions::none(),
        attestation: ParsedAttestation::default(),
        attestation_format: AttestationFormat::None,
    };
    let passkey: Passkey = serde_json::from_value(json!({ "cred": credential }))
        .map_err(|e| format!("credential does not convert: {e}"))?;
    let transports = (!list.is_empty()).then(|| {
        Value::Array(
            transports
                .unwrap_or("")
                .split(',')
                .map(|t| Value::String(t.trim().to_owned()))
                .filter(|t| t.as_str().is_some_and(|s| !s.is_empty()))
                .collect(),
        )
    });
    Ok(ImportedPasskey {
        passkey,
        transports,
    })
}

/// The display prefix of an API key: the service stored the first 8 hex
/// characters after `sk_live_`; this server shows `sk_live_` and those.
pub fn api_key_prefix(stored: &str) -> String {
    let tail = stored.strip_prefix("sk_live_").unwrap_or(stored);
    format!("sk_live_{}", tail.chars().take(8).collect::<String>())
}

/// API key scopes from the jsonb list.
pub fn api_key_scopes(raw: &str) -> Result<Vec<String>, Refusal> {
    let scopes: Vec<String> =
        serde_json::from_str(raw).map_err(|_| "scopes are not a list of strings".to_owned())?;
    crate::api_keys::check_scopes(Some(scopes)).map_err(|e| e.message)
}

/// One device of the service's `device_settings` document.
pub struct Device {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub last_seen: Option<String>,
    pub apps: Vec<(String, Map<String, Value>)>,
}

/// The parts of a user's settings: global document, app overrides, devices
/// (`{deviceId: {deviceName, deviceType, lastSeen, apps: {appId: {…}}}}`).
/// Entries that cannot be stored here are returned as refusals.
pub struct SettingsParts {
    pub global: Map<String, Value>,
    pub apps: Vec<(String, Map<String, Value>)>,
    pub devices: Vec<Device>,
    pub refused: Vec<Refusal>,
}

fn object(raw: &str) -> Map<String, Value> {
    match serde_json::from_str(raw) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn short_text(v: Option<&Value>, max: usize) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.chars().count() <= max)
        .map(str::to_owned)
}

/// Splits the service's three settings documents.
pub fn settings(global: &str, apps: &str, devices: &str) -> SettingsParts {
    let mut refused = Vec::new();
    let check = |what: &str, id: &str, max: usize| {
        crate::settings::check_id(what, id, max).map_err(|e| e.message)
    };
    let mut app_list = Vec::new();
    for (app_id, doc) in object(apps) {
        match (check("app id", &app_id, 64), doc) {
            (Ok(()), Value::Object(doc)) => app_list.push((app_id, doc)),
            (Err(why), _) => refused.push(format!("app override {app_id:?}: {why}")),
            (Ok(()), _) => refused.push(format!("app override {app_id:?}: not an object")),
        }
    }
    let mut device_list = Vec::new();
    for (device_id, entry) in object(devices) {
        if let Err(why) = check("device id", &device_id, 128) {
            refused.push(format!("device {device_id:?}: {why}"));
            continue;
        }
        let mut apps = Vec::new();
        if let Some(Value::Object(per_app)) = entry.get("apps") {
            for (app_id, doc) in per_app {
                match (check("app id", app_id, 64), doc) {
                    (Ok(()), Value::Object(doc)) => apps.push((app_id.clone(), doc.clone())),
                    _ => refused.push(format!("device {device_id:?} app {app_id:?}: not stored")),
                }
            }
        }
        device_list.push(Device {
            id: device_id,
            name: short_text(entry.get("deviceName"), 100),
            kind: short_text(entry.get("deviceType"), 32),
            last_seen: short_text(entry.get("lastSeen"), 64),
            apps,
        });
    }
    SettingsParts {
        global: object(global),
        apps: app_list,
        devices: device_list,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_as_object_or_as_a_json_string() {
        let obj = space_metadata(Some(r#"{"type":"personal","tier":"beta"}"#)).unwrap();
        assert_eq!(obj["type"], "personal");
        assert_eq!(obj["tier"], "beta");
        let string = space_metadata(Some(r#""{\"type\":\"team\",\"color\":\"red\"}""#)).unwrap();
        assert_eq!(string["type"], "team");
        assert_eq!(string["color"], "red");
        assert!(space_metadata(None).is_err());
        assert!(space_metadata(Some(r#"{"color":"red"}"#)).is_err());
        assert!(space_metadata(Some(r#"{"type":"castle"}"#)).is_err());
        assert!(space_metadata(Some(r#""not json""#)).is_err());
        assert!(space_metadata(Some("[1]")).is_err());
    }

    #[test]
    fn roles_take_the_highest_known() {
        assert_eq!(member_role("owner").unwrap(), Role::Owner);
        assert_eq!(member_role("member, admin").unwrap(), Role::Admin);
        assert_eq!(member_role("trainer,member").unwrap(), Role::Member);
        assert!(member_role("trainer").is_err());
        assert!(member_role("").is_err());
    }

    #[test]
    fn api_key_prefixes_and_scopes() {
        assert_eq!(api_key_prefix("0123abcd"), "sk_live_0123abcd");
        assert_eq!(api_key_prefix("sk_live_0123abcdef"), "sk_live_0123abcd");
        assert_eq!(
            api_key_scopes(r#"["tts","stt"]"#).unwrap(),
            vec!["stt", "tts"]
        );
        assert!(api_key_scopes(r#"["bad scope"]"#).is_err());
        assert!(api_key_scopes(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn settings_split_into_global_apps_and_devices() {
        let parts = settings(
            r#"{"locale":"en"}"#,
            r#"{"calendar":{"theme":{"mode":"dark"}},"bad id!":{}}"#,
            r#"{"dev-1":{"deviceName":"MacBook","deviceType":"desktop","lastSeen":"2026-01-01T00:00:00.000Z",
                 "apps":{"calendar":{"dayStartHour":6}}}}"#,
        );
        assert_eq!(parts.global["locale"], "en");
        assert_eq!(parts.apps.len(), 1);
        assert_eq!(parts.apps[0].0, "calendar");
        assert_eq!(parts.devices[0].name.as_deref(), Some("MacBook"));
        assert_eq!(parts.devices[0].apps[0].1["dayStartHour"], 6);
        assert_eq!(parts.refused.len(), 1);
    }

    /// A COSE EC2 P-256 public key (RFC 8152) of a fresh key pair.
    fn cose_p256() -> Vec<u8> {
        use openssl::bn::{BigNum, BigNumContext};
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        use serde_cbor_2::Value as C;
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = EcKey::generate(&group).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        let mut ctx = BigNumContext::new().unwrap();
        key.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let map = [
            (C::Integer(1), C::Integer(2)),
            (C::Integer(3), C::Integer(-7)),
            (C::Integer(-1), C::Integer(1)),
            (C::Integer(-2), C::Bytes(x.to_vec_padded(32).unwrap())),
            (C::Integer(-3), C::Bytes(y.to_vec_padded(32).unwrap())),
        ];
        serde_cbor_2::to_vec(&C::Map(map.into_iter().collect())).unwrap()
    }

    #[test]
    fn passkeys_from_either_base64() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use base64::Engine;
        let cose = cose_p256();
        for key in [URL_SAFE_NO_PAD.encode(&cose), STANDARD.encode(&cose)] {
            let k = passkey("AQIDBA", &key, 7, "multiDevice", true, Some("usb,internal")).unwrap();
            assert_eq!(k.passkey.cred_id().as_ref(), &[1u8, 2, 3, 4][..]);
            let json = serde_json::to_value(&k.passkey).unwrap();
            assert_eq!(json["cred"]["counter"], 7);
            assert_eq!(json["cred"]["backup_eligible"], true);
            assert_eq!(json["cred"]["backup_state"], true);
            assert_eq!(k.transports, Some(json!(["usb", "internal"])));
        }
        let single = passkey(
            "AQIDBA",
            &STANDARD.encode(&cose),
            0,
            "singleDevice",
            false,
            None,
        )
        .unwrap();
        let json = serde_json::to_value(&single.passkey).unwrap();
        assert_eq!(json["cred"]["backup_eligible"], false);
        assert!(single.transports.is_none());
    }

    #[test]
    fn passkeys_refuse_what_is_not_a_cose_key() {
        assert!(passkey("AAAA", "not base64!", 0, "singleDevice", false, None).is_err());
        assert!(passkey("AAAA", "AAAA", 0, "singleDevice", false, None).is_err());
        assert!(passkey("", "AAAA", 0, "singleDevice", false, None).is_err());
    }
}
