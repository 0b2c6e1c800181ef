"""Test certificates made with the openssl CLI: a CA, a server certificate
for 127.0.0.1/localhost, client certificates (valid, expired, revoked), a
second CA that nobody trusts, and a CRL. Everything goes under one
directory; nothing is read from outside it."""

import os
import subprocess

CA_CONF = """
[ca]
default_ca = ca_default
[ca_default]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/newcerts
serial = {d}/serial
crlnumber = {d}/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
copy_extensions = copy
unique_subject = no
[policy_any]
commonName = supplied
organizationName = optional
[ext_server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[ext_server_ip]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1
[ext_client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
"""


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class CA:
    """A CA under dir/name: ca.pem, ca-key.pem; issue() signs leaf certs."""

    def __init__(self, top, name):
        self.dir = os.path.join(top, name)
        os.makedirs(os.path.join(self.dir, "newcerts"))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(self.dir, "crlnumber"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(self.dir, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(CA_CONF.format(d=self.dir))
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca-key.pem")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "30",
             "-subj", "/CN=metcd test " + name, cwd=self.dir)

    def issue(self, name, cn, kind="client", start=None, end=None):
        """Signs a new key for cn; returns (cert path, key path)."""
        key = os.path.join(self.dir, name + "-key.pem")
        csr = os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".pem")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, cwd=self.dir)
        args = ["ca", "-batch", "-config", self.conf, "-cert", self.cert, "-keyfile",
                self.key, "-in", csr, "-out", cert, "-extensions", "ext_" + kind, "-notext"]
        if start is not None:
            args += ["-startdate", start, "-enddate", end]
        _run(*args, cwd=self.dir)
        return cert, key

    def revoke(self, cert):
        _run("ca", "-batch", "-config", self.conf, "-cert", self.cert, "-keyfile", self.key,
             "-revoke", cert, cwd=self.dir)

    def crl(self, path):
        _run("ca", "-batch", "-config", self.conf, "-cert", self.cert, "-keyfile", self.key,
             "-gencrl", "-out", path, cwd=self.dir)
        return path


class Certs:
    """Every certificate the TLS tests use, made once under top."""

    def __init__(self, top):
        self.top = top
        self.ca = CA(top, "ca")
        self.other_ca = CA(top, "other")
        self.server, self.server_key = self.ca.issue("server", "metcd-server", "server")
        self.client, self.client_key = self.ca.issue("client", "root")
        self.expired, self.expired_key = self.ca.issue(
            "expired", "expired", start="20200101000000Z", end="20200102000000Z")
        self.revoked, self.revoked_key = self.ca.issue("revoked", "revoked")
        self.stranger, self.stranger_key = self.other_ca.issue("stranger", "stranger")
        self.ca.revoke(self.revoked)
        self.crl = self.ca.crl(os.path.join(top, "crl.pem"))
        self.empty_crl = None

    def peer(self, name):
        """A certificate a member uses as server and client on the peer port."""
        return self.ca.issue("peer-" + name, name, "server")
