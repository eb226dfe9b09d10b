//! The mails, in German (default, like the original) and English, each as
//! plain text and HTML. User-supplied values are HTML-escaped.

use super::Lang;

/// One rendered mail.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A mail with one call-to-action link.
struct Layout<'a> {
    product: &'a str,
    subject: String,
    greeting: String,
    lines: Vec<String>,
    action: Option<(String, &'a str)>,
    footer: String,
}

impl Layout<'_> {
    fn render(self) -> Rendered {
        let mut text = format!("{}\n\n", self.greeting);
        for line in &self.lines {
            text.push_str(line);
            text.push_str("\n\n");
        }
        if let Some((label, url)) = &self.action {
            text.push_str(&format!("{label}:\n{url}\n\n"));
        }
        text.push_str(&format!("{}\n\n-- \n{}\n", self.footer, self.product));

        let mut html = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head>\
             <body style=\"font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f6f8;margin:0;padding:24px;color:#1c2430\">\
             <div style=\"max-width:520px;margin:0 auto;background:#fff;border-radius:12px;padding:32px\">",
        );
        html.push_str(&format!(
            "<h1 style=\"font-size:20px;margin:0 0 16px\">{}</h1>",
            escape(self.product)
        ));
        html.push_str(&format!("<p>{}</p>", escape(&self.greeting)));
        for line in &self.lines {
            html.push_str(&format!("<p>{}</p>", escape(line)));
        }
        if let Some((label, url)) = &self.action {
            let url = escape(url);
            html.push_str(&format!(
                "<p style=\"margin:24px 0\"><a href=\"{url}\" style=\"background:#0b6bcb;color:#fff;padding:12px 20px;\
                 border-radius:8px;text-decoration:none;display:inline-block\">{}</a></p>\
                 <p style=\"font-size:13px;color:#5b6675;word-break:break-all\">{url}</p>",
                escape(label)
            ));
        }
        html.push_str(&format!(
            "<p style=\"font-size:13px;color:#5b6675\">{}</p></div></body></html>",
            escape(&self.footer)
        ));
        Rendered {
            subject: self.subject,
            text,
            html,
        }
    }
}

fn hello(lang: Lang, name: &str) -> String {
    match (lang, name.trim().is_empty()) {
        (Lang::De, true) => "Hallo,".into(),
        (Lang::De, false) => format!("Hallo {},", name.trim()),
        (Lang::En, true) => "Hello,".into(),
        (Lang::En, false) => format!("Hello {},", name.trim()),
    }
}

fn with_note(line: String, note: Option<String>) -> Vec<String> {
    std::iter::once(line).chain(note).collect()
}

fn ignore(lang: Lang) -> String {
    match lang {
        Lang::De => "Wenn du das nicht warst, kannst du diese E-Mail ignorieren.".into(),
        Lang::En => "If this wasn't you, you can ignore this email.".into(),
    }
}

/// The warning in a magic-link or reset mail to an account whose address was
/// never proven: using the link claims the account (`auth::proof::claim`).
fn unproven_note(lang: Lang, reset: bool) -> String {
    match (lang, reset) {
        (Lang::De, false) => "Diese Adresse wurde für das Konto noch nie bestätigt. Wenn du dich mit diesem Link anmeldest, bestätigst du sie; dabei werden das Passwort, alle Sitzungen, API-Schlüssel, Passkeys und die Zwei-Faktor-Anmeldung entfernt, die vorher eingerichtet wurden, denn jemand anderes könnte sie eingerichtet haben.".into(),
        (Lang::De, true) => "Diese Adresse wurde für das Konto noch nie bestätigt. Wenn du mit diesem Link ein neues Passwort festlegst, bestätigst du sie; dabei werden das alte Passwort, alle Sitzungen, API-Schlüssel, Passkeys und die Zwei-Faktor-Anmeldung entfernt, die vorher eingerichtet wurden, denn jemand anderes könnte sie eingerichtet haben.".into(),
        (Lang::En, false) => "This address was never confirmed for the account. Signing in with this link confirms it and removes the password, every session, API key and passkey and the two-factor sign-in set up before, as someone else may have set them up.".into(),
        (Lang::En, true) => "This address was never confirmed for the account. Choosing a new password with this link confirms it and removes the old password, every session, API key and passkey and the two-factor sign-in set up before, as someone else may have set them up.".into(),
    }
}

/// Email address verification after sign-up.
pub fn verification(lang: Lang, product: &str, name: &str, url: &str) -> Rendered {
    let (subject, line, label) = match lang {
        Lang::De => (
            format!("Bestätige deine E-Mail-Adresse für {product}"),
            format!("bitte bestätige deine E-Mail-Adresse, um dein {product}-Konto zu aktivieren. Der Link ist 24 Stunden gültig."),
            "E-Mail-Adresse bestätigen",
        ),
        Lang::En => (
            format!("Confirm your email address for {product}"),
            format!("please confirm your email address to activate your {product} account. The link is valid for 24 hours."),
            "Confirm email address",
        ),
    };
    Layout {
        product,
        subject,
        greeting: hello(lang, name),
        lines: vec![line],
        action: Some((label.into(), url)),
        // The link confirms the registration that asked for it, with the
        // password chosen there: whoever did not register must not click.
        footer: match lang {
            Lang::De => "Wenn du dieses Konto nicht angelegt hast, bestätige nichts und ignoriere diese E-Mail: Dann wird das Konto nie aktiviert.".into(),
            Lang::En => "If you did not create this account, do not confirm it and ignore this email: it is then never activated.".into(),
        },
    }
    .render()
}

/// Password reset link (1 hour); `unproven`: the address was never
/// confirmed (the mail says what using the link removes).
pub fn password_reset(
    lang: Lang,
    product: &str,
    name: &str,
    url: &str,
    unproven: bool,
) -> Rendered {
    let (subject, line, label) = match lang {
        Lang::De => (
            format!("Setze dein {product}-Passwort zurück"),
            "jemand hat angefragt, das Passwort deines Kontos zurückzusetzen. Der Link ist eine Stunde gültig und funktioniert nur einmal.".to_owned(),
            "Neues Passwort festlegen",
        ),
        Lang::En => (
            format!("Reset your {product} password"),
            "someone asked to reset the password of your account. The link is valid for one hour and works once.".to_owned(),
            "Choose a new password",
        ),
    };
    Layout {
        product,
        subject,
        greeting: hello(lang, name),
        lines: with_note(line, unproven.then(|| unproven_note(lang, true))),
        action: Some((label.into(), url)),
        footer: ignore(lang),
    }
    .render()
}

/// Passwordless sign-in link (10 minutes, single use); `unproven` as for
/// `password_reset`.
pub fn magic_link(lang: Lang, product: &str, name: &str, url: &str, unproven: bool) -> Rendered {
    let (subject, line, label) = match lang {
        Lang::De => (
            format!("Dein Anmeldelink für {product}"),
            "mit diesem Link meldest du dich ohne Passwort an. Er ist zehn Minuten gültig und funktioniert nur einmal.".to_owned(),
            "Jetzt anmelden",
        ),
        Lang::En => (
            format!("Your {product} sign-in link"),
            "use this link to sign in without a password. It is valid for ten minutes and works once.".to_owned(),
            "Sign in now",
        ),
    };
    Layout {
        product,
        subject,
        greeting: hello(lang, name),
        lines: with_note(line, unproven.then(|| unproven_note(lang, false))),
        action: Some((label.into(), url)),
        footer: ignore(lang),
    }
    .render()
}

/// Confirmation of a new address (sent to the new address).
pub fn email_change(lang: Lang, product: &str, name: &str, new_email: &str, url: &str) -> Rendered {
    let (subject, line, label) = match lang {
        Lang::De => (
            format!("Bestätige deine neue E-Mail-Adresse für {product}"),
            format!("bitte bestätige, dass {new_email} die neue E-Mail-Adresse deines {product}-Kontos sein soll."),
            "Neue Adresse bestätigen",
        ),
        Lang::En => (
            format!("Confirm your new email address for {product}"),
            format!("please confirm that {new_email} should become the email address of your {product} account."),
            "Confirm new address",
        ),
    };
    Layout {
        product,
        subject,
        greeting: hello(lang, name),
        lines: vec![line],
        action: Some((label.into(), url)),
        footer: ignore(lang),
    }
    .render()
}

/// Invitation into a space.
pub fn invitation(
    lang: Lang,
    product: &str,
    inviter: &str,
    space: &str,
    role: &str,
    url: &str,
) -> Rendered {
    let (subject, line, label) = match lang {
        Lang::De => (
            format!("{inviter} lädt dich zu „{space}“ auf {product} ein"),
            format!("{inviter} hat dich als {role} in den Bereich „{space}“ eingeladen. Die Einladung ist 48 Stunden gültig."),
            "Einladung ansehen",
        ),
        Lang::En => (
            format!("{inviter} invited you to “{space}” on {product}"),
            format!("{inviter} invited you to join the space “{space}” as {role}. The invitation is valid for 48 hours."),
            "View invitation",
        ),
    };
    let footer = match lang {
        Lang::De => "Wenn du niemanden dort kennst, kannst du diese E-Mail ignorieren.".to_owned(),
        Lang::En => "If you don't know anyone there, you can ignore this email.".to_owned(),
    };
    Layout {
        product,
        subject,
        greeting: hello(lang, ""),
        lines: vec![line],
        action: Some((label.into(), url)),
        footer,
    }
    .render()
}

/// Notice that an account and its data were deleted.
pub fn account_deleted(lang: Lang, product: &str, name: &str) -> Rendered {
    let (subject, line, footer) = match lang {
        Lang::De => (
            format!("Dein {product}-Konto wurde gelöscht"),
            format!("dein {product}-Konto und alle dazugehörigen Daten wurden gelöscht."),
            "Wenn du das nicht veranlasst hast, antworte bitte umgehend auf diese E-Mail."
                .to_owned(),
        ),
        Lang::En => (
            format!("Your {product} account was deleted"),
            format!("your {product} account and all of its data have been deleted."),
            "If you did not ask for this, please reply to this email right away.".to_owned(),
        ),
    };
    Layout {
        product,
        subject,
        greeting: hello(lang, name),
        lines: vec![line],
        action: None,
        footer,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_are_escaped_in_html() {
        let r = invitation(
            Lang::En,
            "Mana",
            "<script>x</script>",
            "A&B",
            "member",
            "https://a.b/?x=1&y=2",
        );
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("A&amp;B"));
        assert!(r.html.contains("https://a.b/?x=1&amp;y=2"));
        assert!(r.text.contains("https://a.b/?x=1&y=2"));
    }

    #[test]
    fn german_is_the_default_wording() {
        let r = verification(Lang::De, "Mana", "Ada", "https://x/verify");
        assert_eq!(r.subject, "Bestätige deine E-Mail-Adresse für Mana");
        assert!(r.text.starts_with("Hallo Ada,"));
    }
}
