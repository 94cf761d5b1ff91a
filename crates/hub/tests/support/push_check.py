"""Independent checks of the hub's alert deliveries, with libraries nobody here wrote.

  push_check.py keys    -> a browser-like push subscription key pair (JSON on stdout)
  push_check.py check   <- JSON on stdin: what the test's receivers got; -> JSON verdicts

Web Push bodies are decrypted with `http_ece` (RFC 8188/8291, aes128gcm); VAPID JWTs (RFC 8292)
are verified with `cryptography`; webhook signatures with the standard library's `hmac`; e-mails
are decoded with the standard library's `email` parser.
"""
import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import os
import sys
import time

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keys():
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    print(json.dumps({"private_pem": pem, "p256dh": b64(public), "auth": b64(os.urandom(16))}))


def verify_vapid(authorization: str, endpoint: str) -> dict:
    assert authorization.startswith("vapid t="), authorization
    token, key = authorization[len("vapid t="):].split(", k=")
    header, claims, signature = token.split(".")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    raw = unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(unb64(claims))
    scheme, rest = endpoint.split("://", 1)
    assert claims["aud"] == f"{scheme}://{rest.split('/')[0]}", claims
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
    assert json.loads(unb64(header))["alg"] == "ES256"
    return claims


def check():
    job = json.load(sys.stdin)
    private = serialization.load_pem_private_key(job["private_pem"].encode(), password=None)
    pushes = []
    for push in job["pushes"]:
        verify_vapid(push["authorization"], push["endpoint"])
        plain = http_ece.decrypt(
            base64.b64decode(push["body_b64"]),
            private_key=private,
            auth_secret=unb64(job["auth"]),
            version="aes128gcm",
        )
        pushes.append(json.loads(plain))
    secret = bytes.fromhex(job["webhook_secret_hex"])
    webhooks = []
    for hook in job["webhooks"]:
        body = base64.b64decode(hook["body_b64"])
        expected = hmac.new(secret, hook["timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest("sha256=" + expected, hook["signature"]), "bad webhook signature"
        webhooks.append(json.loads(body))
    mails = []
    for name in sorted(os.listdir(job["maildir"])):
        with open(os.path.join(job["maildir"], name), "rb") as f:
            message = email.parser.BytesParser(policy=email.policy.default).parse(f)
        mails.append({"subject": str(message["subject"]), "body": message.get_content()})
    print(json.dumps({"pushes": pushes, "webhooks": webhooks, "mails": mails}))


if __name__ == "__main__":
    {"keys": keys, "check": check}[sys.argv[1]]()
