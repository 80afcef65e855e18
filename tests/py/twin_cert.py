#!/usr/bin/env python3
"""Writes the ECDSA twin of a certificate: the same certificate with the
CA's signature (r, s) replaced by (r, n - s), which is just as valid
(ECDSA signatures are malleable) but has another SHA-256 of its DER.

    twin_cert.py IN.pem OUT.pem

Uses the `cryptography` package (Debian python3-cryptography) to decode and
re-encode the signature and to check the twin still parses; the DER around
it is rewritten here (three TLVs: tbsCertificate, signatureAlgorithm,
signatureValue)."""

import base64
import sys

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

# The order of P-256, the curve `serialctl pki init` makes CA keys on.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def read_tlv(data, at):
    tag = data[at]
    first = data[at + 1]
    if first < 0x80:
        length, head = first, 2
    else:
        n = first & 0x7F
        length, head = int.from_bytes(data[at + 2 : at + 2 + n], "big"), 2 + n
    return tag, data[at + head : at + head + length], at + head + length


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def main(src, dst):
    cert = x509.load_pem_x509_certificate(open(src, "rb").read())
    der = cert.public_bytes(Encoding.DER)
    _, body, _ = read_tlv(der, 0)
    t1, tbs, at = read_tlv(body, 0)
    t2, alg, at = read_tlv(body, at)
    t3, bits, _ = read_tlv(body, at)
    assert (t1, t2, t3) == (0x30, 0x30, 0x03), "not a certificate"
    r, s = decode_dss_signature(bits[1:])  # bits[0]: unused-bits count
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.3.2", (
        "the CA does not sign with ECDSA P-256 and SHA-256"
    )
    twin_sig = encode_dss_signature(r, P256_N - s)
    twin = tlv(
        0x30,
        tlv(0x30, tbs) + tlv(0x30, alg) + tlv(0x03, b"\x00" + twin_sig),
    )
    assert twin != der
    parsed = x509.load_der_x509_certificate(twin)
    assert parsed.tbs_certificate_bytes == cert.tbs_certificate_bytes
    pem = base64.encodebytes(twin).decode().replace("\n", "")
    lines = [pem[i : i + 64] for i in range(0, len(pem), 64)]
    with open(dst, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n")
        f.write("\n".join(lines) + "\n")
        f.write("-----END CERTIFICATE-----\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
