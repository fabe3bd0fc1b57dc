"""Private Postfix and Dovecot (Debian packages) for the MSSanté tests: an operator on the loopback.

Nothing of the system's own mail configuration is read or touched: each test process writes its own
`main.cf`/`master.cf` and `dovecot.conf` into a temporary directory, with its own queue, mail store,
sockets, logs and high loopback ports, and runs the daemons in the foreground as children it stops.

The operator they play (Ref#2 "API LPS", dmp-mss-eprescription.md §2.1):
- submission with STARTTLS (Postfix), mail relayed only for an authenticated client: SASL through
  Dovecot (XOAUTH2/OAUTHBEARER bearer token for a personal mailbox, PLAIN for test users) or a client
  certificate issued by the test IGC-Santé CA (application mailbox), with DSN;
- IMAP with STARTTLS and implicit TLS (Dovecot): the same bearer-token passdb (`oauth2`, token checked
  against the PSC stand-in's introspection endpoint), SASL EXTERNAL from the client certificate;
- delivery from Postfix to Dovecot over LMTP into Maildirs; unknown recipients bounce (a DSN comes back).

Running needs root (Postfix's master and Dovecot drop privileges to their own users), as in CI.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.mss.pki import MailPki, generate_mail_pki
from sandbox.mss.psc import PscIssuer, RunningPsc, start_psc

DOMAIN = "cabinet.mss.test"
PATIENT_DOMAIN = "patient.mssante.fr"
APP_MAILBOX = f"logiciel@{DOMAIN}"  # application mailbox (client certificate)
PRACTITIONER = f"marie.durand@{DOMAIN}"  # personal mailbox (bearer token)
TEST_PASSWORD = "motdepasse-de-test"  # PLAIN login of test users (to read their mailboxes in assertions)


def available() -> str | None:
    """None when Postfix and Dovecot can run here, else why not."""
    for binary in ("/usr/sbin/postfix", "/usr/sbin/dovecot", "/usr/lib/dovecot/lmtp", "/usr/lib/dovecot/imap"):
        if not Path(binary).exists():
            return f"{binary} missing (apt-get install postfix dovecot-imapd dovecot-lmtpd)"
    if os.geteuid() != 0:
        return "Postfix and Dovecot need root to start (CI runs as root)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not listen on {port}:\n{tail}")


class PscThread:
    """The PSC stand-in on its own event loop thread: Dovecot's auth process calls it at any time,
    whatever the tests' own loops are doing."""

    def __init__(self) -> None:
        self.issuer = PscIssuer()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="psc-standin", daemon=True)
        self._thread.start()
        self.running: RunningPsc = asyncio.run_coroutine_threadsafe(start_psc(self.issuer), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass
class MailServers:
    root: Path
    pki: MailPki
    psc: PscThread
    submission_port: int
    imap_port: int  # STARTTLS
    imaps_port: int  # implicit TLS
    host: str = "localhost"  # the certificate's only name
    users: list[str] = field(default_factory=list)
    _postfix: subprocess.Popen[bytes] | None = None
    _dovecot: subprocess.Popen[bytes] | None = None

    def add_user(self, address: str) -> None:
        """A mailbox that exists on the operator (unknown addresses bounce)."""
        if address not in self.users:
            self.users.append(address)
            self._write_users()

    def _write_users(self) -> None:
        lines = "".join(f"{u}:{{PLAIN}}{TEST_PASSWORD}::::::\n" for u in self.users)
        (self.root / "dovecot" / "users").write_text(lines)

    def maildir(self, address: str) -> Path:
        return self.root / "mail" / address

    def delivered(self, address: str, folder: str = "INBOX") -> list[bytes]:
        """Raw messages in `address`'s folder, read from its Maildir (what Dovecot stored)."""
        base = self.maildir(address) / "Maildir"
        if folder != "INBOX":
            base = base / f".{folder}"
        out: list[bytes] = []
        for sub in ("new", "cur"):
            d = base / sub
            if d.is_dir():
                out.extend(p.read_bytes() for p in sorted(d.iterdir()))
        return out

    def log(self, which: str) -> str:
        path = self.root / "log" / f"{which}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_postfix(self) -> None:
        """Stop Postfix for real (the `start-fg` wrapper's SIGTERM alone leaves the master running)."""
        conf = self.root / "postfix"
        subprocess.run(["postfix", "-c", str(conf), "stop"], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                       capture_output=True, timeout=30)
        _stop(self._postfix)
        self._postfix = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.submission_port), timeout=0.2).close()
                time.sleep(0.1)
            except OSError:
                return
        raise RuntimeError("postfix still listening after stop")

    def start_postfix(self) -> None:
        self._postfix = _start_postfix(self)

    def close(self) -> None:
        if self._postfix is not None:
            self.stop_postfix()
        _stop(self._dovecot)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _dovecot_conf(s: MailServers, lmtp_port: int, auth_port: int) -> str:
    r = s.root
    nobody = pwd.getpwnam("nobody")
    return f"""
base_dir = {r}/dovecot/run
state_dir = {r}/dovecot/state
log_path = {r}/log/dovecot.log
info_log_path = {r}/log/dovecot.log
instance_name = vigie-test-{os.getpid()}
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = dovenull
default_login_user = dovenull
first_valid_uid = {nobody.pw_uid}
mail_location = maildir:~/Maildir
mail_uid = {nobody.pw_uid}
mail_gid = {nobody.pw_gid}
ssl = yes
ssl_cert = <{s.pki.server_cert}
ssl_key = <{s.pki.server_key}
ssl_ca = <{s.pki.ca}
ssl_verify_client_cert = yes
ssl_require_crl = no
ssl_cert_username_field = commonName
auth_ssl_username_from_cert = yes
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain external xoauth2 oauthbearer
auth_verbose = yes
auth_failure_delay = 0
auth_verbose_passwords = no
lda_mailbox_autocreate = yes
protocol imap {{
  mail_max_userip_connections = 200
}}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
# Application mailbox: SASL EXTERNAL, the user is the certificate's CN (checked against the test CA).
passdb {{
  driver = static
  mechanisms = external
  args = nopassword=y
}}
# Personal mailboxes: a Pro Santé Connect bearer token, checked by introspection.
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {r}/dovecot/oauth2.conf.ext
}}
# Test users reading their own mailboxes in assertions.
passdb {{
  driver = passwd-file
  mechanisms = plain
  args = {r}/dovecot/users
}}
userdb {{
  driver = passwd-file
  args = {r}/dovecot/users
  default_fields = uid={nobody.pw_uid} gid={nobody.pw_gid} home={r}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {s.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {s.imaps_port}
    ssl = yes
  }}
  process_min_avail = 1
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service auth {{
  inet_listener sasl {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol lmtp {{
  postmaster_address = postmaster@{DOMAIN}
}}
"""


def _postfix_conf(s: MailServers, lmtp_port: int, auth_port: int) -> tuple[str, str]:
    r = s.root / "postfix"
    main = f"""
compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
maillog_file = {s.root}/log/postfix.log
maillog_file_prefixes = {s.root}
myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
lmtp_host_lookup = native
alias_maps =
alias_database =
local_recipient_maps =
biff = no
virtual_mailbox_domains = {DOMAIN} {PATIENT_DOMAIN}
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_tls_cert_file = {s.pki.server_cert}
smtpd_tls_key_file = {s.pki.server_key}
smtpd_tls_CAfile = {s.pki.ca}
smtpd_tls_security_level = may
smtpd_tls_ask_ccert = yes
smtpd_tls_loglevel = 1
smtpd_tls_auth_only = yes
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth_port}
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_sasl_authenticated, permit_tls_all_clientcerts, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, permit_tls_all_clientcerts, reject
message_size_limit = 26214400
delay_warning_time = 0
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
"""
    services = [
        f"127.0.0.1:{s.submission_port} inet n - n - - smtpd -o syslog_name=postfix/submission",
        "pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr",
        "tlsmgr unix - - n 1000? 1 tlsmgr", "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush", "proxymap unix - - n - - proxymap",
        "proxywrite unix - - n - 1 proxymap", "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
        "showq unix n - n - - showq", "error unix - - n - - error", "retry unix - - n - - error",
        "discard unix - - n - - discard", "lmtp unix - - n - - lmtp", "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd",
    ]
    return main, "\n".join(services) + "\n"


def _start_postfix(s: MailServers) -> subprocess.Popen[bytes]:
    conf = s.root / "postfix"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MAIL_CONFIG": str(conf)}
    check = subprocess.run(["postfix", "-c", str(conf), "check"], env=env, capture_output=True, text=True)
    if check.returncode != 0:  # its fatal messages go to the log file (stderr only when it is a tty)
        tail = (s.root / "log" / "postfix.log").read_text(errors="replace")[-2000:] if (
            s.root / "log" / "postfix.log").exists() else ""
        raise RuntimeError(f"postfix check failed: {check.stderr}{tail}")
    log = s.root / "log" / "postfix.log"
    proc = subprocess.Popen(["postfix", "-c", str(conf), "start-fg"], env=env, stdout=subprocess.DEVNULL,
                            stderr=(s.root / "log" / "postfix.stderr").open("ab"), start_new_session=True)
    _wait_port(s.submission_port, proc, "postfix", log)
    return proc


@contextmanager
def mail_servers() -> Iterator[MailServers]:
    root = Path(tempfile.mkdtemp(prefix="vigie-mail-"))
    os.chmod(root, 0o755)  # Dovecot's and Postfix's unprivileged users walk into it
    for sub in ("log", "mail", "dovecot/run", "dovecot/state", "postfix/queue", "postfix/data"):
        (root / sub).mkdir(parents=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
    postfix_user = pwd.getpwnam("postfix")
    os.chown(root / "postfix" / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    pki = generate_mail_pki(root / "pki", app_mailbox=APP_MAILBOX)
    os.chmod(root / "pki", 0o755)  # daemons read the server key as root; keys stay 0600
    psc = PscThread()
    servers = MailServers(root=root, pki=pki, psc=psc, submission_port=_free_port(), imap_port=_free_port(),
                          imaps_port=_free_port())
    servers.users = [APP_MAILBOX, PRACTITIONER, f"postmaster@{DOMAIN}"]
    servers._write_users()
    lmtp_port, auth_port = _free_port(), _free_port()
    (root / "dovecot" / "oauth2.conf.ext").write_text(
        f"introspection_url = {psc.running.introspection_url}\nintrospection_mode = post\n"
        "username_attribute = email\nactive_attribute = active\nactive_value = true\n")
    (root / "dovecot" / "dovecot.conf").write_text(_dovecot_conf(servers, lmtp_port, auth_port))
    main, master = _postfix_conf(servers, lmtp_port, auth_port)
    (root / "postfix" / "main.cf").write_text(main)
    (root / "postfix" / "master.cf").write_text(master)
    try:
        servers._dovecot = subprocess.Popen(
            ["dovecot", "-F", "-c", str(root / "dovecot" / "dovecot.conf")], stdout=subprocess.DEVNULL,
            stderr=(root / "log" / "dovecot.stderr").open("ab"), start_new_session=True)
        _wait_port(servers.imap_port, servers._dovecot, "dovecot", root / "log" / "dovecot.log")
        _wait_port(auth_port, servers._dovecot, "dovecot auth", root / "log" / "dovecot.log")
        servers.start_postfix()
        yield servers
    finally:
        servers.close()
        psc.close()
        shutil.rmtree(root, ignore_errors=True)
