//! Web Push, the message part (no I/O): payload encryption for a browser's push subscription
//! (RFC 8291 with the `aes128gcm` content coding of RFC 8188) and the hub's VAPID identity
//! (RFC 8292: an ES256 JWT and the P-256 public key). All crypto from `ring`.
//!
//! Encryption, per RFC 8291 §3.4: an ephemeral P-256 key pair per message; ECDH with the
//! subscription's `p256dh`; `IKM = HKDF(auth, ecdh, "WebPush: info" ‖ 0 ‖ ua_public ‖
//! as_public, 32)`; a random 16-byte salt; `CEK = HKDF(salt, IKM, "Content-Encoding:
//! aes128gcm" ‖ 0, 16)`, `NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" ‖ 0, 12)`; one
//! record: the payload, the delimiter 2, sealed with AES-128-GCM; the header is salt ‖ record
//! size (u32) ‖ key-id length ‖ as_public.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SecureRandom;
use ring::signature::KeyPair;
use ring::{aead, agreement, hkdf, rand, signature};

/// Why a push message could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The subscription's keys are not what a browser sends.
    #[error("bad subscription key: {0}")]
    BadKey(&'static str),
    /// The crypto library refused (should not happen).
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    /// The payload does not fit in one record.
    #[error("payload of {0} bytes is too long for one push message")]
    TooLong(usize),
}

/// Record size written in the header (one record per message).
const RECORD_SIZE: u32 = 4096;

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) -> Result<(), PushError> {
    prk.expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| PushError::Crypto("hkdf"))
}

/// Encrypts `payload` for a subscription (`p256dh`: the browser's public key, 65 bytes
/// uncompressed; `auth`: its 16-byte secret); returns the request body.
pub fn encrypt(p256dh: &[u8], auth: &[u8], payload: &[u8]) -> Result<Vec<u8>, PushError> {
    if p256dh.len() != 65 || p256dh[0] != 4 {
        return Err(PushError::BadKey(
            "p256dh must be an uncompressed P-256 point",
        ));
    }
    if auth.len() != 16 {
        return Err(PushError::BadKey("auth must be 16 bytes"));
    }
    // One record: payload, delimiter, tag must fit the record size.
    if payload.len() + 1 + 16 > RECORD_SIZE as usize {
        return Err(PushError::TooLong(payload.len()));
    }
    let rng = rand::SystemRandom::new();
    let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| PushError::Crypto("key generation"))?;
    let as_public = ephemeral
        .compute_public_key()
        .map_err(|_| PushError::Crypto("public key"))?;
    let as_public = as_public.as_ref().to_vec();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, p256dh);
    let mut ikm = [0u8; 32];
    agreement::agree_ephemeral(ephemeral, &peer, |ecdh_secret| {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, auth).extract(ecdh_secret);
        expand(&prk, &[b"WebPush: info\0", p256dh, &as_public], &mut ikm)
    })
    .map_err(|_| PushError::BadKey("p256dh is not a point on P-256"))??;
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)
        .map_err(|_| PushError::Crypto("random"))?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    expand(&prk, &[b"Content-Encoding: aes128gcm\0"], &mut cek)?;
    expand(&prk, &[b"Content-Encoding: nonce\0"], &mut nonce)?;
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek)
            .map_err(|_| PushError::Crypto("aes key"))?,
    );
    let mut record = payload.to_vec();
    record.push(2); // the last (and only) record's delimiter
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut record,
    )
    .map_err(|_| PushError::Crypto("seal"))?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// The hub's VAPID identity: a P-256 signing key (PKCS#8), kept in a file so subscriptions
/// survive restarts.
pub struct Vapid {
    key: signature::EcdsaKeyPair,
    subject: String,
}

impl Vapid {
    /// A new PKCS#8 key, for a file.
    pub fn generate_pkcs8() -> Result<Vec<u8>, PushError> {
        let rng = rand::SystemRandom::new();
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| PushError::Crypto("vapid key generation"))
    }

    /// The identity from a PKCS#8 key; `subject` is the contact push services may use
    /// (`mailto:` or `https:`).
    pub fn from_pkcs8(pkcs8: &[u8], subject: &str) -> Result<Self, PushError> {
        let rng = rand::SystemRandom::new();
        let key = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &rng,
        )
        .map_err(|_| PushError::BadKey("the VAPID key is not a P-256 PKCS#8 key"))?;
        Ok(Self {
            key,
            subject: subject.to_owned(),
        })
    }

    /// The public key, base64url (the browser's `applicationServerKey`).
    pub fn public_key(&self) -> String {
        B64.encode(self.key.public_key().as_ref())
    }

    /// The `Authorization` header for a push to `endpoint` (RFC 8292 §3): `vapid t=JWT, k=key`,
    /// the JWT's audience the endpoint's origin, valid until `expires_s` (Unix seconds, at
    /// most 24 h ahead).
    pub fn authorization(&self, endpoint: &str, expires_s: i64) -> Result<String, PushError> {
        let origin = origin(endpoint).ok_or(PushError::BadKey("the endpoint is not a URL"))?;
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = B64.encode(
            serde_json::json!({"aud": origin, "exp": expires_s, "sub": self.subject})
                .to_string()
                .as_bytes(),
        );
        let signing_input = format!("{header}.{claims}");
        let rng = rand::SystemRandom::new();
        let signature = self
            .key
            .sign(&rng, signing_input.as_bytes())
            .map_err(|_| PushError::Crypto("sign"))?;
        Ok(format!(
            "vapid t={signing_input}.{}, k={}",
            B64.encode(signature.as_ref()),
            self.public_key()
        ))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Decodes base64url (with or without padding), as browsers send subscription keys.
pub fn decode_key(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decrypts like a browser would (the inverse of [`encrypt`]), for the round trip.
    fn decrypt(
        ua_private: agreement::EphemeralPrivateKey,
        ua_public: &[u8],
        auth: &[u8],
        body: &[u8],
    ) -> Vec<u8> {
        let salt = &body[..16];
        let idlen = body[20] as usize;
        let as_public = &body[21..21 + idlen];
        let record = &body[21 + idlen..];
        let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, as_public);
        let mut ikm = [0u8; 32];
        agreement::agree_ephemeral(ua_private, &peer, |secret| {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, auth).extract(secret);
            expand(&prk, &[b"WebPush: info\0", ua_public, as_public], &mut ikm).unwrap();
        })
        .unwrap();
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        expand(&prk, &[b"Content-Encoding: aes128gcm\0"], &mut cek).unwrap();
        expand(&prk, &[b"Content-Encoding: nonce\0"], &mut nonce).unwrap();
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
        let mut data = record.to_vec();
        let plain = key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::empty(),
                &mut data,
            )
            .unwrap();
        assert_eq!(plain.last(), Some(&2), "the last record's delimiter");
        plain[..plain.len() - 1].to_vec()
    }

    #[test]
    fn a_message_decrypts_with_the_subscription_key() {
        let rng = rand::SystemRandom::new();
        let ua = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
        let ua_public = ua.compute_public_key().unwrap().as_ref().to_vec();
        let auth = [7u8; 16];
        let body = encrypt(
            &ua_public,
            &auth,
            "遷延一過性徐脈 clinic-a bed-2".as_bytes(),
        )
        .unwrap();
        assert_eq!(
            u32::from_be_bytes(body[16..20].try_into().unwrap()),
            RECORD_SIZE
        );
        assert_eq!(body[20], 65);
        assert_eq!(
            decrypt(ua, &ua_public, &auth, &body),
            "遷延一過性徐脈 clinic-a bed-2".as_bytes()
        );
    }

    #[test]
    fn bad_keys_are_refused_not_panicked_on() {
        assert!(matches!(
            encrypt(&[4; 64], &[0; 16], b"x"),
            Err(PushError::BadKey(_))
        ));
        assert!(matches!(
            encrypt(&[4; 65], &[0; 15], b"x"),
            Err(PushError::BadKey(_))
        ));
        assert!(
            matches!(encrypt(&[4; 65], &[0; 16], b"x"), Err(PushError::BadKey(_))),
            "not on the curve"
        );
        let rng = rand::SystemRandom::new();
        let ua = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
        let ua_public = ua.compute_public_key().unwrap().as_ref().to_vec();
        assert!(matches!(
            encrypt(&ua_public, &[0; 16], &[0; 5000]),
            Err(PushError::TooLong(5000))
        ));
    }

    #[test]
    fn the_vapid_header_carries_a_verifiable_es256_jwt() {
        let vapid = Vapid::from_pkcs8(
            &Vapid::generate_pkcs8().unwrap(),
            "mailto:oncall@example.test",
        )
        .unwrap();
        let header = vapid
            .authorization("https://push.example.test:8443/send/abc?x=1", 1_800_000_000)
            .unwrap();
        let (t, k) = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(k, vapid.public_key());
        let (signed, signature) = t.rsplit_once('.').unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(signed.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        assert_eq!(claims["aud"], "https://push.example.test:8443");
        assert_eq!(claims["sub"], "mailto:oncall@example.test");
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            B64.decode(k).unwrap(),
        );
        public
            .verify(signed.as_bytes(), &B64.decode(signature).unwrap())
            .expect("the signature verifies");
    }
}
