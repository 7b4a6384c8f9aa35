//! Token encryption at rest (AES-256-GCM) and the hashing of link tokens and OAuth states.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext+tag`. The associated data binds it to one
//! account, so a ciphertext copied onto another account's row does not open. The key id (the
//! first 8 hex digits of the key's SHA-256) is stored beside each ciphertext, so a future key
//! rotation can tell which key sealed a row.

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("an encryption key must be 32 bytes")]
    KeyLength,
    #[error("a stored token could not be decrypted (wrong key or tampered data)")]
    Open,
    #[error("a stored token was sealed with key {found}, but the configured key is {expected}")]
    WrongKey { found: String, expected: String },
}

/// The 32-byte `TOKEN_ENCRYPTION_KEY`. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct TokenKey {
    cipher: Aes256Gcm,
    id: String,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::KeyLength);
        }
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)),
            id,
        })
    }

    /// A fresh random key, for tests and `dev` set-ups.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(&bytes).expect("32 bytes")
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `secret` for the row identified by `context` (e.g. the account id).
    pub fn seal(&self, secret: &SecretString, context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.expose_secret().as_bytes(),
            aad: context,
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value sealed by [`TokenKey::seal`] with the same key and context.
    pub fn open(
        &self,
        key_id: &str,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<SecretString, CryptoError> {
        if key_id != self.id {
            return Err(CryptoError::WrongKey {
                found: key_id.to_owned(),
                expected: self.id.clone(),
            });
        }
        if sealed.len() <= NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Open)
    }
}

/// A random URL-safe token of 32 bytes (256 bits), for install links and OAuth states.
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let key = TokenKey::generate();
        let sealed = key.seal(&SecretString::from("eyJ-access"), b"account-1");
        assert!(!sealed.windows(10).any(|w| w == b"eyJ-access"));
        let opened = key.open(key.id(), &sealed, b"account-1").expect("opens");
        assert_eq!(opened.expose_secret(), "eyJ-access");
    }

    #[test]
    fn same_secret_seals_differently_each_time() {
        let key = TokenKey::generate();
        let secret = SecretString::from("t");
        assert_ne!(key.seal(&secret, b"a"), key.seal(&secret, b"a"));
    }

    #[test]
    fn other_context_other_key_or_tampering_fail() {
        let key = TokenKey::generate();
        let sealed = key.seal(&SecretString::from("t"), b"account-1");
        assert_eq!(
            key.open(key.id(), &sealed, b"account-2").unwrap_err(),
            CryptoError::Open
        );
        let other = TokenKey::generate();
        assert!(matches!(
            other.open(key.id(), &sealed, b"account-1"),
            Err(CryptoError::WrongKey { .. })
        ));
        let mut tampered = sealed.clone();
        *tampered.last_mut().expect("non-empty") ^= 1;
        assert_eq!(
            key.open(key.id(), &tampered, b"account-1").unwrap_err(),
            CryptoError::Open
        );
        assert_eq!(
            key.open(key.id(), &sealed[..5], b"account-1").unwrap_err(),
            CryptoError::Open
        );
    }

    #[test]
    fn key_id_is_stable_and_debug_hides_the_key() {
        let a = TokenKey::from_bytes(&[1u8; 32]).expect("key");
        let b = TokenKey::from_bytes(&[1u8; 32]).expect("key");
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 8);
        assert!(format!("{a:?}").contains(a.id()));
        assert_eq!(
            TokenKey::from_bytes(&[0u8; 16]).unwrap_err(),
            CryptoError::KeyLength
        );
    }

    #[test]
    fn tokens_are_random_and_hashes_fixed_length() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 32);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
