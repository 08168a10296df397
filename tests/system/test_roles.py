"""Roles and scoped tokens on a real daemon (issue 19): tokens made with
the CLI (--role, --vm, --expires-in), each role refused what it may not do
with 403 and a message, over TLS and on the unix socket, the console's
writer needing power, a scoped token seeing its VMs only, and the refusals
in the audit log. docs/api.md "Roles and scoped tokens"."""

import base64
import os
import socket

from daemon_util import Api, Daemon, guest_definition, free_port


def token(d, name, *args):
    p = d.cli("token", "create", name, *args)
    secret = p.stdout.strip().split()[-1]
    assert secret.startswith("svt_"), p.stdout
    return secret


def ws_status(sock_path, path, secret):
    """Status line of a WebSocket upgrade of path on the unix socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {secret}\r\n\r\n").encode())
    line = s.recv(4096).decode(errors="replace").split("\r\n")[0]
    s.close()
    return line


def test_roles_and_scopes(tmp_path, guest):
    port = free_port()
    d = Daemon(tmp_path, extra=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        api = d.api()
        for n in ("web1", "db1"):
            api.ok("POST", "/v1/vms", guest_definition(guest, n))
        ro = token(d, "viewer", "--role", "read-only")
        op = token(d, "ops", "--role", "operator")
        adm = token(d, "boss", "--expires-in", "30d")
        sc = token(d, "webops", "--role", "operator", "--vm", "web1")
        listing = d.cli("token", "list").stdout
        assert "read-only" in listing and "operator" in listing
        assert "web1" in listing
        p = d.cli("token", "create", "x", "--role", "root", check=False)
        assert p.returncode == 1 and "role" in p.stderr

        clients = {}
        for name, secret in (("ro", ro), ("op", op), ("adm", adm),
                             ("sc", sc)):
            clients[name] = [Api(port=port, token=secret),
                             Api(sock=d.sock, token=secret)]

        def refused(c, method, path, body=None, words=()):
            st, j = c.call(method, path, body)
            assert st == 403, f"{method} {path}: {st} {j}"
            msg = j["error"]["message"]
            for w in words:
                assert w in msg, msg

        for i in range(2):   # TLS, then the unix socket
            ro_c, op_c, adm_c, sc_c = (clients[k][i]
                                       for k in ("ro", "op", "adm", "sc"))
            # read-only
            assert ro_c.call("GET", "/v1/vms")[0] == 200
            assert ro_c.call("GET", "/v1/host/stats")[0] == 200
            refused(ro_c, "POST", "/v1/vms/web1/start",
                    words=("read-only", "operator or admin"))
            refused(ro_c, "PATCH", "/v1/vms/web1", {"cpus": 2},
                    words=("admin role",))
            refused(ro_c, "GET", "/v1/audit")
            # operator: power, not configuration
            op_c.ok("POST", "/v1/vms/web1/start")
            op_c.ok("POST", "/v1/vms/web1/pause")
            op_c.ok("POST", "/v1/vms/web1/resume")
            refused(op_c, "PATCH", "/v1/vms/web1",
                    {"qos": {"cpu": {"shares": "high"}}},
                    words=("operator role", "admin"))
            refused(op_c, "POST", "/v1/vms", guest_definition(guest, "new"))
            refused(op_c, "DELETE", "/v1/vms/db1")
            op_c.ok("POST", "/v1/vms/web1/stop")
            # scoped operator: web1 only
            sc_c.ok("POST", "/v1/vms/web1/start")
            sc_c.ok("POST", "/v1/vms/web1/stop")
            refused(sc_c, "POST", "/v1/vms/db1/start",
                    words=("limited to the VMs web1", "db1"))
            refused(sc_c, "GET", "/v1/vms/db1")
            names = [v["name"] for v in sc_c.ok("GET", "/v1/vms")["vms"]]
            assert names == ["web1"]
            st, text = sc_c.call("GET", "/metrics")
            assert st == 200 and 'vm="web1"' in text and 'vm="db1"' \
                not in text
            # admin token: configuration and the audit log, not tokens
            adm_c.ok("POST", "/v1/vms", guest_definition(guest, "tmp"))
            adm_c.ok("DELETE", "/v1/vms/tmp")
            assert adm_c.call("GET", "/v1/audit")[0] == 200
            refused(adm_c, "POST", "/v1/tokens", {"name": "more"})

        # the console: read-only may not type (writer), operator may
        assert ws_status(d.sock, "/v1/vms/web1/console?write=1",
                         ro).split()[1] == "403"
        api.ok("POST", "/v1/vms/web1/start")
        assert ws_status(d.sock, "/v1/vms/web1/console?write=1",
                         op).split()[1] == "101"
        assert ws_status(d.sock, "/v1/vms/db1/console",
                         sc).split()[1] == "403"
        api.ok("POST", "/v1/vms/web1/stop")

        # the refusals are in the audit log, under the token's name
        audit = api.ok("GET", "/v1/audit?limit=10000")["audit"]
        assert any(r["principal"] == "token:viewer" and
                   r["action"] == "vm.start" and r["status"] == 403
                   for r in audit)
        assert any(r["principal"] == "token:webops" and
                   r["target"] == "db1" and r["status"] == 403
                   for r in audit)
        # a console writer's attach is audited, refused or not; a viewer not
        cons = [(r["principal"], r["target"], r["status"]) for r in audit
                if r["action"] == "vm.console"]
        assert cons == [("token:viewer", "web1", 403),
                        ("token:ops", "web1", 101)], cons
        # the unix socket's owner keeps every right
        assert api.call("GET", "/v1/tokens")[0] == 200
        d.cli("token", "revoke", "viewer")
        assert clients["ro"][0].call("GET", "/v1/vms")[0] == 401
        assert clients["ro"][1].call("GET", "/v1/vms")[0] == 401
    finally:
        assert d.stop() == 0, d.tail()
