//! `Config::validate`: every problem with a configuration at once.

use super::{Config, SmtpTls, DEFAULT_SERVICE_KEY};

impl Config {
    /// Every problem with this configuration, each naming its setting.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.is_production() {
            match &self.mana_auth_kek {
                None => problems.push(
                    "MANA_AUTH_KEK is missing: production needs a 32-byte key, base64 encoded \
                     (generate one with `openssl rand -base64 32`)"
                        .to_owned(),
                ),
                Some(_) if self.kek().is_none() => problems.push(
                    "MANA_AUTH_KEK is malformed or short: it must be base64 of exactly 32 bytes"
                        .to_owned(),
                ),
                Some(_) => {}
            }
            let key = self.mana_service_key.expose();
            if key == DEFAULT_SERVICE_KEY || key.len() < 16 {
                problems.push(
                    "MANA_SERVICE_KEY is the development default or shorter than 16 characters: \
                     set a random value in production"
                        .to_owned(),
                );
            }
            if self.base_url.is_none() {
                problems.push("BASE_URL is missing: production needs the public URL".to_owned());
            }
            if self.smtp_sends_in_clear() && (self.smtp_user.is_some() || self.smtp_pass.is_some())
            {
                problems.push(format!(
                    "SMTP_TLS={} sends the SMTP password and the mailed links in clear to                      {} when the relay offers no STARTTLS (or someone strips the offer):                      use SMTP_TLS=required or wrapper in production",
                    if self.smtp_tls == SmtpTls::None { "none" } else { "opportunistic" },
                    self.smtp_host.as_deref().unwrap_or_default()
                ));
            }
        } else if self.mana_auth_kek.is_some() && self.kek().is_none() {
            problems.push(
                "MANA_AUTH_KEK is malformed or short: it must be base64 of exactly 32 bytes"
                    .to_owned(),
            );
        }
        if let Err(problem) = crate::runner_key::RunnerKey::from_settings(
            self.mana_ai_public_key_pem.as_deref(),
            self.mana_ai_public_key_pem_file.as_deref(),
        ) {
            problems.push(problem);
        }
        if let Some(url) = &self.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "BASE_URL must start with http:// or https:// (got {url:?})"
                ));
            }
        }
        for origin in &self.cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(format!(
                    "CORS_ORIGINS entry {origin:?} is not an http(s) origin"
                ));
            }
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism.max(1)
            || self.argon2_iterations == 0
            || self.argon2_parallelism == 0
        {
            problems.push(
                "ARGON2_* parameters are out of range (memory >= 8 KiB per lane, iterations >= 1)"
                    .to_owned(),
            );
        }
        if self.max_body_bytes < 1024 {
            problems.push("MAX_BODY_BYTES must be at least 1024".to_owned());
        }
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
    use crate::config::Secret;

    #[test]
    fn production_names_every_missing_setting() {
        let c = Config::from_args(["--node-env", "production"]).unwrap();
        let problems = c.validate().unwrap_err().join("\n");
        assert!(problems.contains("MANA_AUTH_KEK"));
        assert!(problems.contains("MANA_SERVICE_KEY"));
        let mut short = Config::from_args([
            "--mana-env",
            "production",
            "--base-url",
            "https://auth.example.com",
        ])
        .unwrap();
        short.mana_auth_kek = Some(Secret::new("c2hvcnQ=".into()));
        short.mana_service_key = Secret::new("0123456789abcdef0123".into());
        let problems = short.validate().unwrap_err().join("\n");
        assert!(
            problems.contains("MANA_AUTH_KEK is malformed"),
            "{problems}"
        );
        assert!(!problems.contains("MANA_SERVICE_KEY"));
    }
}
