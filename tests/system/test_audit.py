"""The audit log end to end (issue 19): a real daemon with a Debian guest,
driven over the unix socket and TLS; one record per changing call with the
right principal, source, target and outcome (refused calls too), read back
with GET /v1/audit and `softvisor audit`; the token's secret appears
nowhere, not even in the inventory's files. docs/api.md "Audit log"."""

import json
import os

from daemon_util import Api, Daemon, guest_definition, free_port


def records(api, query=""):
    return api.ok("GET", "/v1/audit" + query)["audit"]


def test_audit_log(tmp_path, guest):
    port = free_port()
    d = Daemon(tmp_path, extra=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        api = d.api()
        uid = os.getuid()
        assert records(api) == []

        # local (unix socket) calls, by name and by id
        vm = api.ok("POST", "/v1/vms", guest_definition(guest, "web1"))
        api.ok("PATCH", "/v1/vms/web1", {"qos": {"cpu": {"shares": "high"}}})
        api.ok("POST", f"/v1/vms/{vm['id']}/start")
        st, j = api.call("POST", "/v1/vms/web1/start")   # refused
        assert st == 409, j
        api.ok("POST", "/v1/vms/web1/pause")
        api.ok("POST", "/v1/vms/web1/resume")
        api.ok("POST", "/v1/vms/web1/stop")
        assert api.call("POST", "/v1/vms/nosuch/start")[0] == 404
        assert api.call("GET", "/v1/vms/web1")[0] == 200   # not audited

        # tokens and TLS
        secret = d.cli("token", "create", "ops").stdout.strip().split()[-1]
        assert secret.startswith("svt_")
        tls = Api(port=port, token=secret)
        tls.ok("POST", "/v1/vms/web1/start")
        tls.ok("POST", "/v1/vms/web1/stop")
        assert tls.call("POST", "/v1/tokens", {"name": "x"})[0] == 403
        assert Api(port=port).call("DELETE", "/v1/vms/web1")[0] == 401
        assert Api(port=port, token="svt_1_" + "0" * 64).call(
            "POST", "/v1/vms/web1/start")[0] == 401
        tls.ok("DELETE", "/v1/vms/web1")
        d.cli("token", "revoke", "ops")

        got = [(r["principal"], r["action"], r["target"], r["status"])
               for r in records(api)]
        want = [
            ("local", "vm.create", "web1", 201),
            ("local", "vm.edit", "web1", 200),
            ("local", "vm.start", "web1", 200),   # named by id
            ("local", "vm.start", "web1", 409),
            ("local", "vm.pause", "web1", 200),
            ("local", "vm.resume", "web1", 200),
            ("local", "vm.stop", "web1", 200),
            ("local", "vm.start", "nosuch", 404),
            ("local", "token.create", "ops", 201),
            ("token:ops", "vm.start", "web1", 200),
            ("token:ops", "vm.stop", "web1", 200),
            ("token:ops", "token.create", "", 403),   # body not read
            ("unauthenticated", "vm.delete", "web1", 401),
            ("unauthenticated", "vm.start", "web1", 401),
            ("token:ops", "vm.delete", "web1", 204),
            ("local", "token.revoke", "ops", 204),
        ]
        assert got == want

        rec = records(api)
        for r in rec:
            if r["principal"] == "local":
                assert r["source"] == "unix" and r["uid"] == uid, r
            else:
                assert r["source"].startswith("127.0.0.1:"), r
                assert r["uid"] is None, r
            # the token by id too (a name can be reused after a revoke)
            if r["principal"] == "token:ops":
                assert r["token_id"] == int(secret.split("_")[1]), r
            else:
                assert r["token_id"] is None, r
        times = [r["time_ms"] for r in rec]
        assert times == sorted(times)

        # filters: vm, limit (the newest), since
        vm_only = records(api, "?vm=web1")
        assert all(r["action"].startswith("vm.") and r["target"] == "web1"
                   for r in vm_only)
        assert len(vm_only) == 12
        last2 = records(api, "?limit=2")
        assert [r["action"] for r in last2] == ["vm.delete", "token.revoke"]
        since = records(api, f"?since={rec[-3]['time_ms']}")
        assert since[-1] == rec[-1] and len(since) >= 3
        assert api.call("GET", "/v1/audit?limit=nope")[0] == 400

        # the CLI: table and JSON
        out = d.cli("audit", "--vm", "web1").stdout
        assert "PRINCIPAL" in out and "token:ops" in out and "409" in out
        js = json.loads(d.cli("audit", "--limit", "3", "--output",
                              "json").stdout)
        assert [r["action"] for r in js["audit"]] == \
            ["vm.start", "vm.delete", "token.revoke"]
        assert len(json.loads(d.cli("audit", "--since", "1h", "--output",
                                    "json").stdout)["audit"]) == len(rec)
        assert json.loads(d.cli("audit", "--since", "4102444800000",
                                "--output", "json").stdout)["audit"] == []
        p = d.cli("audit", "--since", "yesterday", check=False)
        assert p.returncode == 2 and "--since" in p.stderr

        # a token over TLS may read the audit log
        tls2_secret = d.cli("token", "create", "reader").stdout.split()[-1]
        assert Api(port=port, token=tls2_secret).ok(
            "GET", "/v1/audit?limit=1")["audit"][0]["action"] == \
            "token.create"

        # the secrets are nowhere: not in the API's answers, not in the
        # inventory's files (database and write-ahead log)
        everything = json.dumps(records(api, "?limit=10000"))
        for s in (secret, tls2_secret):
            assert s not in everything
            hexpart = s.split("_")[-1]
            for f in (d.state).glob("inventory.db*"):
                data = f.read_bytes()
                assert s.encode() not in data and \
                    hexpart.encode() not in data, f
    finally:
        assert d.stop() == 0, d.tail()
