//! Verifying a password against a stored hash (argon2 PHC or Better
//! Auth's scrypt), with the same work whatever the outcome.

use std::sync::atomic::Ordering;

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};

use super::nfkc;
use super::pool::Memory;
use super::Hasher;
use crate::auth::scrypt_hash::{self, ScryptHash};
use crate::error::{ApiError, Result};

/// One hash computation of a verification (the test compares these lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// argon2 with (algorithm, m, t, p).
    Argon2(String, u32, u32, u32),
    /// Better Auth's scrypt (fixed cost).
    Scrypt(String),
}

/// The outcome of a sign-in's password check.
#[derive(Debug)]
pub struct Verified {
    /// The password is right.
    pub matches: bool,
    /// Set when the stored hash was Better Auth's scrypt and the password
    /// was right: its argon2id replacement, computed in the same job.
    pub rehashed: Option<String>,
}

impl Hasher {
    /// Verifies on the current thread with fresh memory; see `verify_with`.
    pub fn verify_blocking(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        self.verify_with(password, phc, &mut Memory::default())
    }

    /// Verifies `password` against a stored hash, in `memory`: an argon2 PHC
    /// string with the algorithm, version and cost written in it, or a
    /// Better Auth scrypt hash. `None` (unknown account) verifies against
    /// dummies and answers false. A malformed stored hash is an internal
    /// error, not a wrong password.
    pub fn verify_with(
        &self,
        password: &str,
        phc: Option<&str>,
        memory: &mut Memory,
    ) -> Result<bool> {
        Ok(self.check(password, phc, memory, &mut Vec::new())?.0)
    }

    /// The check itself: whether the password matches and whether the
    /// stored hash was scrypt. `work` receives every hash computation done.
    /// Which computations run depends only on whether scrypt hashes are
    /// stored at all, never on the account or the password.
    fn check(
        &self,
        password: &str,
        stored: Option<&str>,
        memory: &mut Memory,
        work: &mut Vec<Work>,
    ) -> Result<(bool, bool)> {
        let scrypt = stored.and_then(ScryptHash::parse);
        if scrypt.is_some() {
            // Only an import writes these, and it refuses to run beside a
            // server; should one appear anyway, equalise from now on.
            self.set_scrypt_stored(true);
        }
        let (phc, argon2_known) = match (stored, &scrypt) {
            (Some(phc), None) => (phc, true),
            _ => (self.dummy.as_str(), false),
        };
        // Hashes are made of the NFKC form (see `nfkc`); older ones of the
        // password as typed. Both are tried when they differ, which depends
        // on the password alone, never on the account.
        let normalised = nfkc(password);
        let mut argon2_ok = self.argon2_matches(password, phc, memory, work)?;
        if normalised != password {
            argon2_ok |= self.argon2_matches(&normalised, phc, memory, work)?;
        }
        let argon2_ok = argon2_ok && argon2_known;
        if !self.scrypt_stored.load(Ordering::Relaxed) {
            return Ok((argon2_ok, false));
        }
        work.push(Work::Scrypt(scrypt_hash::cost()));
        Ok(match scrypt {
            Some(hash) => (hash.verify(password)?, true),
            None => {
                ScryptHash::dummy().verify(password)?;
                (argon2_ok, false)
            }
        })
    }

    fn argon2_matches(
        &self,
        password: &str,
        phc: &str,
        memory: &mut Memory,
        work: &mut Vec<Work>,
    ) -> Result<bool> {
        let unreadable = |e: &dyn std::fmt::Display| {
            ApiError::internal(format!("stored password hash unreadable: {e}"))
        };
        let parsed = PasswordHash::new(phc).map_err(|e| unreadable(&e))?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(&e))?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| unreadable(&e))?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(unreadable(&"no salt or no hash"));
        };
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| unreadable(&e))?;
        let mut out = vec![0u8; expected.len()];
        work.push(Work::Argon2(
            algorithm.to_string(),
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
        ));
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                memory.blocks(&params),
            )
            .map_err(|e| ApiError::internal(format!("argon2 verify: {e}")))?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out).map_err(|e| unreadable(&e))? == expected)
    }

    /// Verifies off the async workers; see `verify_with`.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool> {
        self.run(None, move |h, memory| {
            h.verify_with(&password, phc.as_deref(), memory)
        })
        .await
    }

    /// Verifies a sign-in's password off the async workers; when it was
    /// right and the stored hash was scrypt, also computes the argon2id
    /// hash that replaces it (in the same job: the password is at hand).
    /// The caller is not signed in: under the anonymous ceiling.
    pub async fn verify_for_login(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified> {
        let permit = self.admit_anonymous()?;
        self.run(Some(permit), move |h, memory| {
            let (matches, scrypt) =
                h.check(&password, stored.as_deref(), memory, &mut Vec::new())?;
            let rehashed = if matches && scrypt {
                Some(h.hash_with(&password, memory)?)
            } else {
                None
            };
            Ok(Verified { matches, rehashed })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::SaltString;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let phc = h.hash_blocking("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify_blocking("correct horse", Some(&phc)).unwrap());
        assert!(!h.verify_blocking("wrong horse", Some(&phc)).unwrap());
        assert!(!h.verify_blocking("correct horse", None).unwrap());
        assert!(h.verify_blocking("x", Some("not a phc string")).is_err());
    }

    #[test]
    fn reused_memory_agrees_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let h = Hasher::new(256, 2, 1, 1).unwrap();
        let mut memory = Memory::default();
        // Ours, checked by the crate's verifier.
        let ours = h.hash_with("correct horse", &mut memory).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=256,t=2,p=1$"));
        let parsed = PasswordHash::new(&ours).unwrap();
        let crate_argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, h.params().clone());
        assert!(crate_argon
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        // The crate's hash (how stored hashes were made), checked by ours,
        // also with other costs than the hasher's and with the same memory.
        for (m, t, p) in [(256, 2, 1), (64, 1, 1), (512, 3, 2)] {
            let params = Params::new(m, t, p, None).unwrap();
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            let theirs = argon.hash_password(b"pw 12345", &salt).unwrap().to_string();
            assert!(h
                .verify_with("pw 12345", Some(&theirs), &mut memory)
                .unwrap());
            assert!(!h
                .verify_with("pw 12346", Some(&theirs), &mut memory)
                .unwrap());
        }
        assert!(h
            .verify_with("correct horse", Some(&ours), &mut memory)
            .unwrap());
    }

    #[test]
    fn dummy_hash_has_the_real_shape_and_cost() {
        let h = Hasher::new(64, 3, 2, 1).unwrap();
        let real = PasswordHash::new(&h.hash_blocking("pw").unwrap())
            .unwrap()
            .to_string();
        let dummy = PasswordHash::new(h.dummy.as_str()).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.salt.unwrap().len(), real.salt.unwrap().len());
        assert_eq!(dummy.hash.unwrap().len(), real.hash.unwrap().len());
        // Verifying against it is a normal verify that answers false.
        assert!(!h.verify_blocking("pw", Some(h.dummy.as_str())).unwrap());
        assert!(!h.verify_blocking("pw", None).unwrap());
    }

    /// Made by Better Auth 1.7.25's `hashPassword` (Node) for
    /// "correct-horse-battery"; the API tests make fresh ones with Node.
    const BETTER_AUTH_HASH: &str = "b1ea2e6b9f346d607f5af74a41a24b37:afa46aa6d850b134ad15a36ccee22e5e\
        19d9452f8612def0b0607847ce931cab92f0d74362415424762fac637b16ccfa6d8edc2666f13dc0ce5676a8c3fcd5d8";

    #[test]
    fn better_auth_hashes_verify() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        assert!(h
            .verify_blocking("correct-horse-battery", Some(BETTER_AUTH_HASH))
            .unwrap());
        assert!(!h
            .verify_blocking("correct-horse-batterx", Some(BETTER_AUTH_HASH))
            .unwrap());
    }

    #[test]
    fn every_failure_does_the_same_work() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let argon = h.hash_blocking("right password").unwrap();
        let scrypt = scrypt_hash::hash("right password").unwrap();
        let mut memory = Memory::default();
        let argon2_only = vec![Work::Argon2("argon2id".into(), 64, 1, 1)];
        // No scrypt hash stored: one argon2id per check, as before.
        for stored in [Some(argon.as_str()), None] {
            let mut work = Vec::new();
            assert!(!h.check("wrong", stored, &mut memory, &mut work).unwrap().0);
            assert_eq!(work, argon2_only);
        }
        // With scrypt hashes stored, the three failures compute the same.
        h.set_scrypt_stored(true);
        let both = vec![
            Work::Argon2("argon2id".into(), 64, 1, 1),
            Work::Scrypt(scrypt_hash::cost()),
        ];
        for stored in [Some(argon.as_str()), Some(scrypt.as_str()), None] {
            let mut work = Vec::new();
            assert!(!h.check("wrong", stored, &mut memory, &mut work).unwrap().0);
            assert_eq!(work, both, "stored: {stored:?}");
        }
        // Successes too, and each kind still matches only its own hash.
        for (stored, scrypt_kind) in [(&argon, false), (&scrypt, true)] {
            let mut work = Vec::new();
            let found = h.check("right password", Some(stored), &mut memory, &mut work);
            assert_eq!(found.unwrap(), (true, scrypt_kind));
            assert_eq!(work, both);
        }
    }

    #[test]
    fn equivalent_forms_of_a_password_match_new_hashes() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let composed = "Gr\u{fc}\u{df}e-Pa\u{fb01}word";
        let decomposed = "Gru\u{308}\u{df}e-Pafiword";
        let new = h.hash_blocking(composed).unwrap();
        assert!(h.verify_blocking(decomposed, Some(&new)).unwrap());
        assert!(h.verify_blocking(composed, Some(&new)).unwrap());
        // A hash of the password as typed (made before normalising) still
        // matches exactly that input.
        let params = Params::new(64, 1, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let raw = argon2::password_hash::PasswordHasher::hash_password(
            &argon,
            composed.as_bytes(),
            &salt,
        )
        .unwrap()
        .to_string();
        assert!(h.verify_blocking(composed, Some(&raw)).unwrap());
        // The work depends on the password typed, never on the account.
        h.set_scrypt_stored(true);
        let scrypt = scrypt_hash::hash(composed).unwrap();
        let mut works = Vec::new();
        for stored in [Some(new.as_str()), Some(scrypt.as_str()), None] {
            let mut work = Vec::new();
            h.check("Gru\u{308}n", stored, &mut Memory::default(), &mut work)
                .unwrap();
            works.push(work);
        }
        assert_eq!(works[0].len(), 3);
        assert!(works.iter().all(|w| *w == works[0]));
    }

    #[test]
    fn a_scrypt_hash_turns_equalising_on() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let scrypt = scrypt_hash::hash("pw 12345").unwrap();
        assert!(h.verify_blocking("pw 12345", Some(&scrypt)).unwrap());
        let mut work = Vec::new();
        h.check("pw", None, &mut Memory::default(), &mut work)
            .unwrap();
        assert_eq!(work.len(), 2);
    }

    #[tokio::test]
    async fn a_right_scrypt_password_comes_back_rehashed() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let scrypt = scrypt_hash::hash("pw 12345").unwrap();
        let v = h
            .verify_for_login("pw 12345".into(), Some(scrypt.clone()))
            .await
            .unwrap();
        assert!(v.matches);
        let new = v.rehashed.unwrap();
        assert!(new.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify_blocking("pw 12345", Some(&new)).unwrap());
        let wrong = h
            .verify_for_login("pw 12346".into(), Some(scrypt))
            .await
            .unwrap();
        assert!(!wrong.matches && wrong.rehashed.is_none());
        let argon = h.hash_blocking("pw 12345").unwrap();
        let right = h
            .verify_for_login("pw 12345".into(), Some(argon))
            .await
            .unwrap();
        assert!(right.matches && right.rehashed.is_none());
    }
}
