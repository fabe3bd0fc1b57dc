"""Enveloped XML-DSig (exc-c14n, RSA-SHA256, SHA-256), signed through a `Signer` port.

Shared by the INSi CPS assertion and the DMP VIHF: the signature is assembled here so that the private
key never has to be in this process — the `Signer` (a CPS card over PKCS#11, a keyring-held PKCS#12)
only signs the canonical SignedInfo bytes. `sign_enveloped` blocks on the signer: run it in a worker
thread.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Protocol, runtime_checkable

from lxml import etree

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
ALG_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ALG_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


@runtime_checkable
class Signer(Protocol):
    def certificate(self) -> bytes:
        """The signing certificate, DER."""
        ...

    def sign(self, data: bytes) -> bytes:
        """RSA-SHA256, PKCS#1 v1.5 signature of `data` (blocking)."""
        ...


def c14n(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


def _sub(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS_DS}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def sign_enveloped(element: etree._Element, signer: Signer, *, after: str | None = None) -> etree._Element:
    """Insert an enveloped signature of `element` (which must have an `ID`) right after its child
    `after` (a Clark name, e.g. the SAML Issuer), or first when absent. Blocking: calls the signer."""
    ref_id = element.get("ID")
    if not ref_id:
        raise ValueError("the element to sign has no ID")
    # The enveloped-signature transform removes the Signature: digest the element before inserting it.
    digest = base64.b64encode(hashlib.sha256(c14n(element)).digest()).decode()
    signature = etree.Element(f"{{{NS_DS}}}Signature", nsmap={None: NS_DS})
    signed_info = _sub(signature, "SignedInfo")
    _sub(signed_info, "CanonicalizationMethod", Algorithm=ALG_EXC_C14N)
    _sub(signed_info, "SignatureMethod", Algorithm=ALG_RSA_SHA256)
    reference = _sub(signed_info, "Reference", URI=f"#{ref_id}")
    transforms = _sub(reference, "Transforms")
    _sub(transforms, "Transform", Algorithm=ALG_ENVELOPED)
    _sub(transforms, "Transform", Algorithm=ALG_EXC_C14N)
    _sub(reference, "DigestMethod", Algorithm=ALG_SHA256)
    _sub(reference, "DigestValue", digest)
    value = _sub(signature, "SignatureValue")
    key_info = _sub(signature, "KeyInfo")
    cert_der = signer.certificate()
    _sub(_sub(key_info, "X509Data"), "X509Certificate", base64.b64encode(cert_der).decode())
    anchor = element.find(after) if after else None
    element.insert(0 if anchor is None else element.index(anchor) + 1, signature)
    # SignedInfo is canonicalised where it stands (exc-c14n makes that independent of ancestors).
    value.text = base64.b64encode(signer.sign(c14n(signed_info))).decode()
    return element
