//! Decoy credential lists. Email-scoped sign-in options list the account's
//! credential ids; for an address with no account, or an account without
//! passkeys, the list is made up instead, so the answer does not tell who
//! has passkeys: one or two ids (as real accounts mostly have), each 16, 20
//! or 32 bytes (the lengths common authenticators use), all derived from an
//! HMAC-SHA-256 of the normalised address under a server secret — stable
//! for an address across calls and restarts, unpredictable without the
//! secret, different between addresses. Real and decoy entries both leave
//! out `transports`, so the entries have the same fields.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use webauthn_rs_proto::AllowCredentials;

/// Name of the server secret the lists are derived from.
pub const SECRET_NAME: &str = "passkey-decoy-v1";

const ID_LENGTHS: [usize; 3] = [16, 20, 32];

#[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The decoy list of `address` (already normalised).
pub fn allow_list(key: &[u8; 32], address: &str) -> Vec<AllowCredentials> {
    let seed = mac(key, &[b"list", address.as_bytes()]);
    let count = if seed[0] % 4 == 0 { 2 } else { 1 };
    (0..count)
        .map(|i| {
            let id = mac(key, &[b"id", &[i as u8], address.as_bytes()]);
            let len = ID_LENGTHS[usize::from(seed[1 + i]) % ID_LENGTHS.len()];
            AllowCredentials {
                type_: "public-key".to_owned(),
                id: id[..len].to_vec().into(),
                transports: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_stable_per_address_and_key_and_differ_otherwise() {
        let k = [3u8; 32];
        let a = allow_list(&k, "a@example.com");
        let again = allow_list(&k, "a@example.com");
        let ids = |l: &[AllowCredentials]| -> Vec<Vec<u8>> {
            l.iter().map(|c| c.id.as_ref().to_vec()).collect()
        };
        assert_eq!(ids(&a), ids(&again));
        assert_ne!(ids(&a), ids(&allow_list(&k, "b@example.com")));
        assert_ne!(ids(&a), ids(&allow_list(&[4u8; 32], "a@example.com")));
        let mut counts = [0usize; 3];
        for i in 0..400 {
            let l = allow_list(&k, &format!("user{i}@example.com"));
            counts[l.len()] += 1;
            for c in &l {
                assert!(ID_LENGTHS.contains(&c.id.as_ref().len()));
                assert!(c.transports.is_none() && c.type_ == "public-key");
            }
        }
        assert!(counts[1] > counts[2] && counts[2] > 0, "{counts:?}");
    }
}
