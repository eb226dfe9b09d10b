//! Secret settings: never printed, never a command-line flag, read from the
//! environment or a `_FILE`.

use std::fmt;
use std::path::PathBuf;

use super::Config;

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// The secret itself; call sites are easy to audit.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret<String> {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// The secret settings: environment variable (or the same name + `_FILE`,
/// a path whose content is the value) only, never a command-line flag,
/// which every local user can read in `ps` or `/proc/*/cmdline`.
pub const SECRET_SETTINGS: [&str; 4] = [
    "MANA_AUTH_KEK",
    "MANA_SERVICE_KEY",
    "SMTP_PASS",
    "METRICS_TOKEN",
];

/// Reads one secret setting from `NAME` or `NAME_FILE` (not both). A file's
/// trailing newline is dropped. Errors name the setting, never the value.
fn secret_from(
    name: &str,
    var: &impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<Secret<String>>, String> {
    let file_name = format!("{name}_FILE");
    match (var(name), var(&file_name)) {
        (Some(_), Some(_)) => Err(format!("set {name} or {file_name}, not both")),
        (Some(value), None) => value
            .into_string()
            .map(|v| Some(Secret::new(v)))
            .map_err(|_| format!("{name} is not valid UTF-8")),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{file_name}: cannot read {}: {}",
                    PathBuf::from(&path).display(),
                    e.kind()
                )
            })?;
            Ok(Some(Secret::new(
                text.trim_end_matches(['\r', '\n']).to_owned(),
            )))
        }
        (None, None) => Ok(None),
    }
}

impl Config {
    /// Fills the secret settings (`SECRET_SETTINGS`) from the environment
    /// given by `var`: each from its variable or its `_FILE`. Every problem
    /// is reported, naming the setting.
    pub fn read_secrets(
        &mut self,
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut read = |name: &str| {
            secret_from(name, &var).unwrap_or_else(|p| {
                problems.push(p);
                None
            })
        };
        if let Some(key) = read("MANA_SERVICE_KEY") {
            self.mana_service_key = key;
        }
        self.mana_auth_kek = read("MANA_AUTH_KEK");
        self.smtp_pass = read("SMTP_PASS");
        self.metrics_token = read("METRICS_TOKEN");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let mut c = Config::from_args(Vec::<String>::new()).unwrap();
        c.mana_service_key = Secret::new("super-secret-value".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("super-secret-value"));
    }

    #[test]
    fn secrets_are_no_flags_and_come_from_the_environment_or_a_file() {
        for flag in [
            "--mana-auth-kek",
            "--mana-service-key",
            "--smtp-pass",
            "--metrics-token",
        ] {
            assert!(Config::from_args([flag, "x"]).is_err(), "{flag} is a flag");
        }
        let dir = std::env::temp_dir().join(format!("mana-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pass");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let env = |pairs: Vec<(&'static str, std::ffi::OsString)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let mut c = Config::from_args(Vec::<String>::new()).unwrap();
        c.read_secrets(env(vec![
            ("SMTP_PASS_FILE", file.clone().into_os_string()),
            ("MANA_SERVICE_KEY", "from-the-env".into()),
        ]))
        .unwrap();
        assert_eq!(c.smtp_pass.as_ref().unwrap().expose(), "from-a-file");
        assert_eq!(c.mana_service_key.expose(), "from-the-env");
        assert!(c.mana_auth_kek.is_none() && c.metrics_token.is_none());

        let problems = c
            .read_secrets(env(vec![
                ("METRICS_TOKEN", "a".into()),
                ("METRICS_TOKEN_FILE", file.clone().into_os_string()),
                ("MANA_AUTH_KEK_FILE", dir.join("missing").into_os_string()),
            ]))
            .unwrap_err()
            .join("\n");
        assert!(
            problems.contains("METRICS_TOKEN or METRICS_TOKEN_FILE"),
            "{problems}"
        );
        assert!(
            problems.contains("MANA_AUTH_KEK_FILE: cannot read"),
            "{problems}"
        );
        assert!(!problems.contains("from-a-file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
