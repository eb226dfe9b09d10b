//! The admin's create-or-update request for a persona, checked as the
//! original service checks it: every failed check is named in `details`.

use serde_json::{json, Map, Value};

use super::CADENCES;
use crate::auth::password;
use crate::error::{ApiError, Result};
use crate::users;

/// Longest archetype, in characters.
pub const MAX_ARCHETYPE: usize = 100;
/// Longest system prompt, in characters.
pub const MAX_SYSTEM_PROMPT: usize = 20_000;
/// Most modules in a module mix.
pub const MAX_MODULES: usize = 50;
/// Longest module name, in characters.
pub const MAX_MODULE_NAME: usize = 100;

/// A checked create-or-update request.
#[derive(Debug, Clone)]
pub struct Spec {
    pub email: String,
    pub name: String,
    pub password: Option<String>,
    pub archetype: String,
    pub system_prompt: String,
    pub module_mix: Map<String, Value>,
    pub tick_cadence: String,
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn check_module_mix(value: Option<&Value>) -> Option<Map<String, Value>> {
    let mix = value?.as_object()?;
    let ok = mix.len() <= MAX_MODULES
        && mix.iter().all(|(k, v)| {
            !k.is_empty()
                && k.chars().count() <= MAX_MODULE_NAME
                && v.as_f64().is_some_and(|w| w.is_finite() && w >= 0.0)
        });
    ok.then(|| mix.clone())
}

/// Checks the admin's body (`None`: not JSON). Every failed check is named
/// in `details` of one `ValidationError`, as the original service does.
pub fn check_spec(body: Option<&Value>) -> Result<Spec> {
    let Some(body) = body.and_then(Value::as_object) else {
        return Err(ApiError::validation("Invalid JSON body"));
    };
    let mut errors: Vec<String> = Vec::new();
    let email = text(body, "email")
        .filter(|e| e.contains('@'))
        .and_then(|e| users::normalize_email(e).ok());
    if email.is_none() {
        errors.push("email required".into());
    }
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.chars().count() >= password::MIN_LEN => {
            match password::check_strength(p) {
                Ok(()) => Some(p.clone()),
                Err(e) => {
                    errors.push(e.message);
                    None
                }
            }
        }
        Some(_) => {
            errors.push("password ≥ 8 chars required".into());
            None
        }
    };
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => users::check_name(n).ok().or_else(|| {
            errors.push(format!(
                "name must be at most {} characters",
                users::MAX_NAME_LEN
            ));
            None
        }),
        Some(_) => {
            errors.push("name must be a string".into());
            None
        }
    };
    let archetype = text(body, "archetype").filter(|a| !a.trim().is_empty());
    match archetype {
        None => errors.push("archetype required".into()),
        Some(a) if a.chars().count() > MAX_ARCHETYPE => errors.push(format!(
            "archetype must be at most {MAX_ARCHETYPE} characters"
        )),
        Some(_) => {}
    }
    let system_prompt = text(body, "systemPrompt").filter(|p| !p.trim().is_empty());
    match system_prompt {
        None => errors.push("systemPrompt required".into()),
        Some(p) if p.chars().count() > MAX_SYSTEM_PROMPT => errors.push(format!(
            "systemPrompt must be at most {MAX_SYSTEM_PROMPT} characters"
        )),
        Some(_) => {}
    }
    let module_mix = check_module_mix(body.get("moduleMix"));
    if module_mix.is_none() {
        errors.push("moduleMix object required".into());
    }
    let tick_cadence = match body.get("tickCadence") {
        None | Some(Value::Null) => Some("daily"),
        Some(v) => v.as_str().filter(|c| CADENCES.contains(c)),
    };
    if tick_cadence.is_none() {
        errors.push(format!(
            "tickCadence must be one of {}",
            CADENCES.join(", ")
        ));
    }
    match (email, archetype, system_prompt, module_mix, tick_cadence) {
        (Some(email), Some(archetype), Some(prompt), Some(module_mix), Some(cadence))
            if errors.is_empty() =>
        {
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
            Ok(Spec {
                email,
                name,
                password,
                archetype: archetype.to_owned(),
                system_prompt: prompt.to_owned(),
                module_mix,
                tick_cadence: cadence.to_owned(),
            })
        }
        _ => Err(ApiError::validation("ValidationError").with_field("details", json!(errors))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_every_failed_check() {
        let e = check_spec(Some(
            &json!({"email": "nope", "moduleMix": [1], "tickCadence": "weekly"}),
        ))
        .unwrap_err();
        assert_eq!(e.message, "ValidationError");
        let details = e.extra.unwrap()["details"].clone();
        assert_eq!(
            details,
            json!([
                "email required",
                "archetype required",
                "systemPrompt required",
                "moduleMix object required",
                "tickCadence must be one of daily, weekdays, hourly"
            ])
        );
        assert_eq!(check_spec(None).unwrap_err().message, "Invalid JSON body");
        let ok = check_spec(Some(&json!({
            "email": "Anna@Mana.Test", "archetype": "adhd-student", "systemPrompt": "You are Anna.",
            "moduleMix": {"todo": 0.5, "notes": 0.5}
        })))
        .unwrap();
        assert_eq!(ok.email, "anna@mana.test");
        assert_eq!(ok.name, "anna");
        assert_eq!(ok.tick_cadence, "daily");
        assert!(ok.password.is_none());
        let short = check_spec(Some(&json!({
            "email": "a@b.de", "archetype": "x", "systemPrompt": "y", "moduleMix": {}, "password": "short"
        })))
        .unwrap_err();
        assert_eq!(
            short.extra.unwrap()["details"],
            json!(["password ≥ 8 chars required"])
        );
    }
}
