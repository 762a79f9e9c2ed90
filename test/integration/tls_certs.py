"""Test PKI made at test time with the openssl CLI (no private key is committed): a CA and leaf
certificates it signs, as files in a temporary directory."""
import os
import subprocess
import tempfile


class Pki:
    def __init__(self, name="Test CA"):
        self.dir = tempfile.mkdtemp(prefix="gw-pki-")
        self.ca_key = self.path("ca.key")
        self.ca = self.path("ca.pem")
        self._run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                   "-subj", "/O=Gateway Test/CN=" + name])

    def path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, args):
        subprocess.run(["openssl"] + args, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=20)

    def leaf(self, name, cn, sans=(), client=False):
        """Writes <name>.pem and <name>.key signed by this CA; returns (cert, key) paths."""
        key, csr, cert, ext = (self.path(name + s) for s in (".key", ".csr", ".pem", ".ext"))
        self._run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", csr, "-subj", "/O=Gateway Test/CN=" + cn])
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
            if sans:
                f.write("subjectAltName=" + ",".join(sans) + "\n")
        self._run(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                   "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext])
        return cert, key
