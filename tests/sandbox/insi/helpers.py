"""Helpers for the INSi sandbox tests: TLS contexts, request builders, an XML structure digest."""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from signxml import XMLSigner, methods

from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox
from tests.fixtures import insi_sample

SOAP_CT = "application/soap+xml; charset=utf-8"
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = {
    "soap": SOAP_ENV,
    "wsa": "http://www.w3.org/2005/08/addressing",
    "siram": "urn:siram",
    "r": "http://www.cnamts.fr/INSiResultat",
}
SAMPLE_MESSAGE_ID = "uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def sample(name: str) -> bytes:
    return insi_sample(name)


def client_context(pki: SandboxPki, which: str | None, directory: Path) -> ssl.SSLContext:
    """An aiohttp client context trusting the sandbox CAs, with the INSI-AUTO ("auto") or wrong-CN ("wrong")
    certificate taken from its PKCS#12 (converted to PEM files with cryptography), or none."""
    ctx = ssl.create_default_context(cafile=str(pki.root_ca))
    if which is None:
        return ctx
    p12, passphrase = ((pki.client_p12, pki.client_passphrase) if which == "auto"
                       else (pki.wrong_client_p12, pki.wrong_client_passphrase))
    key, cert, extra = pkcs12.load_key_and_certificates(p12.read_bytes(), passphrase.encode())
    assert key is not None and cert is not None
    cert_file, key_file = directory / f"{which}.crt", directory / f"{which}.key"
    cert_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [cert, *extra]))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body)

    def find(self, path: str) -> etree._Element | None:
        return self.xml().find(path, NS)

    @property
    def cr(self) -> str | None:
        return self.xml().findtext(".//r:CR/r:CodeCR", namespaces=NS)

    @property
    def error_code(self) -> str | None:
        erreur = self.find(".//siram:Erreur")
        return erreur.get("code") if erreur is not None else None


class Client:
    def __init__(self, sandbox: InsiSandbox, contexts: dict[str | None, ssl.SSLContext]) -> None:
        self.sandbox = sandbox
        self.contexts = contexts

    async def post(self, body: bytes, *, cert: str | None = "auto", content_type: str = SOAP_CT,
                   timeout: float = 10.0, path: str = "/lps", headers: dict[str, str] | None = None) -> Reply:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, session.post(
                f"{self.sandbox.base_url}{path}", data=body, ssl=self.contexts[cert], headers=all_headers) as resp:
            return Reply(resp.status, resp.headers.get("Content-Type", ""), await resp.read())

    async def admin(self, method: str, name: str, payload: Any = None, *, headers: dict[str, str] | None = None,
                    data: bytes | None = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.request(
                method, f"{self.sandbox.admin_url}/{name}", json=payload, data=data, headers=headers,
                ssl=self.contexts[None]) as resp:
            return resp.status, await resp.json()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(body: str, *, idam: str, operation: str = "rechercherInsAvecTraitsIdentite",
             message_id: str | None = SAMPLE_MESSAGE_ID, security: str = "", bam: bool = True,
             action: str | None = None) -> bytes:
    """A request laid out as padoa sends it (insi.md §3), with other prefixes than the sample's."""
    bam_xml = (f'<b:ContexteBAM xmlns:b="urn:siram:bam:ctxbam" Version="01_02"><b:Id>{uuid.uuid4()}</b:Id>'
               f"<b:Temps>{now_iso()}</b:Temps><b:Emetteur>10B0152872</b:Emetteur><b:COUVERTURE/></b:ContexteBAM>"
               if bam else "")
    action = f"urn:ServiceIdentiteCertifiee:1.0.0:{operation}" if action is None else action
    action_xml = f'<a:Action xmlns:a="http://www.w3.org/2005/08/addressing">{action}</a:Action>' if action else ""
    mid = (f'<a:MessageID xmlns:a="http://www.w3.org/2005/08/addressing">{message_id}</a:MessageID>'
           if message_id else "")
    return (
        f'<?xml version="1.0" encoding="utf-8"?><e:Envelope xmlns:e="{SOAP_ENV}"><e:Header>{bam_xml}'
        f'<l:ContexteLPS xmlns:l="urn:siram:lps:ctxlps" Nature="CTXLPS" Version="01_00"><l:Id>{uuid.uuid4()}</l:Id>'
        f"<l:Temps>{now_iso()}</l:Temps><l:Emetteur>10B0152872</l:Emetteur><l:LPS><l:IDAM R=\"4\">{idam}</l:IDAM>"
        f"<l:Version>0.1.0</l:Version><l:Instance>{uuid.uuid4()}</l:Instance><l:Nom>urn:lps:vigie:0.1.0</l:Nom>"
        f"</l:LPS></l:ContexteLPS>{action_xml}{mid}{security}</e:Header><e:Body>{body}</e:Body></e:Envelope>"
    ).encode()


def traits(name: str, first_names: list[str], sex: str, date: str, place: str | None = None) -> str:
    parts = [f"<s:NomNaissance>{name}</s:NomNaissance>", *(f"<s:Prenom>{p}</s:Prenom>" for p in first_names),
             f"<s:Sexe>{sex}</s:Sexe>", f"<s:DateNaissance>{date}</s:DateNaissance>"]
    if place:
        parts.append(f"<s:LieuNaissance>{place}</s:LieuNaissance>")
    return f'<s:RECSANSVITALE xmlns:s="http://www.cnamts.fr/INSiRecSans">{"".join(parts)}</s:RECSANSVITALE>'


def vitale(*, nir: str | None = None, key: str | None = None, name: str | None = None, date: str | None = None,
           rank: int | None = None) -> str:
    parts = []
    if nir:
        parts.append(f"<v:MatriculeIndividu><v:NumIdentifiant>{nir}</v:NumIdentifiant><v:Cle>{key}</v:Cle>"
                     "<v:TypeMatricule>NIR</v:TypeMatricule></v:MatriculeIndividu>")
    if name:
        parts.append(f"<v:NomNaissance>{name}</v:NomNaissance>")
    if date:
        parts.append(f"<v:DateNaissance>{date}</v:DateNaissance>")
    if rank is not None:
        parts.append(f"<v:RangNaissance>{rank}</v:RangNaissance>")
    return f'<v:RECVITALE xmlns:v="http://www.cnamts.fr/INSiRecVit">{"".join(parts)}</v:RECVITALE>'


def signed_assertion(pki: SandboxPki, *, national_id: str | None = None, attributes: dict[str, str] | None = None,
                     issue_instant: str | None = None, key: bytes | None = None, cert: str | None = None) -> str:
    """A CPS-mode PS assertion laid out as padoa's fixture (insi.md §3.4), signed with signxml."""
    assertion_id = f"_{uuid.uuid4()}"
    attrs = attributes if attributes is not None else {"identifiantFacturation": "991234567",
                                                       "secteurActivite": "SA07"}
    statements = "".join(f'<Attribute Name="{k}"><AttributeValue>{v}</AttributeValue></Attribute>'
                         for k, v in attrs.items())
    assertion = etree.fromstring(
        f'<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="{assertion_id}" '
        f'IssueInstant="{issue_instant or now_iso()}" Version="2.0">'
        '<Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">'
        "2.5.4.42=OLIVIER+CN=00B6087510+SN=SANDBOX,T=Médecin,C=FR</Issuer>"
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"/>'
        f'<Subject><NameID NameQualifier="CPS">{national_id or pki.ps_national_id}</NameID></Subject>'
        f"<AttributeStatement>{statements}</AttributeStatement></Assertion>")
    signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                       c14n_algorithm=EXC_C14N)
    signed = signer.sign(assertion, key=key or pki.ps_key.read_bytes(), cert=cert or pki.ps_cert.read_text(),
                         reference_uri=assertion_id)
    return etree.tostring(signed, encoding="unicode")


def security(*assertions: str) -> str:
    return ('<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
            f'secext-1.0.xsd">{"".join(assertions)}</wsse:Security>')


def structure(data: bytes | etree._Element, *, header: bool = False) -> Any:
    """Element names, prefixes, new namespace declarations, attributes and texts; the SOAP Header is left
    out unless `header`."""
    root = etree.fromstring(data) if isinstance(data, bytes) else data

    def walk(el: etree._Element, parent_ns: dict[str | None, str]) -> Any:
        declared = {k: v for k, v in el.nsmap.items() if parent_ns.get(k) != v}
        children = [walk(c, dict(el.nsmap)) for c in el if isinstance(c.tag, str)
                    and (header or c.tag != f"{{{SOAP_ENV}}}Header")]
        return (el.prefix, el.tag, sorted(declared.items(), key=str), sorted(el.attrib.items()),
                (el.text or "").strip(), children)

    return walk(root, {})
