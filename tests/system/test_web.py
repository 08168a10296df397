"""The web console (issue 19) against a real daemon with a Debian guest:
the daemon serves the page over TLS; Debian's chromium, driven by
playwright-core (web/package-lock.json; never a downloaded browser), logs
in with a token, creates a VM with the form, starts it, sees the console
print the guest's boot and answer a typed command, pauses/resumes/stops
it and sees the events arrive, deletes it. Without chromium or web/node_modules the browser part
is skipped with the reason; the console WebSocket's bearer subprotocol
is checked without a browser. docs/web.md."""

import base64
import gzip
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from conftest import MARKER, TIME_SCALE, append_line
from daemon_util import Daemon, guest_definition, free_port, softvisor_exe

WEB = Path(__file__).resolve().parents[2] / "web"
CHROMIUM = os.environ.get("SV_CHROMIUM", "/usr/bin/chromium")


def https_get(port, path, headers=()):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
                                                 timeout=30))
    headers = dict(headers)
    headers.setdefault("Connection", "close")
    req = f"GET {path} HTTP/1.1\r\nHost: x\r\n"
    req += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    s.sendall((req + "\r\n").encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
        if b"\r\n\r\n" in data and path.endswith("/console"):
            break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def ws_upgrade(port, vm, protocols):
    key = base64.b64encode(os.urandom(16)).decode()
    return https_get(port, f"/v1/vms/{vm}/console", [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", protocols)])


def test_web_console(tmp_path, guest):
    port = free_port()
    d = Daemon(tmp_path, extra=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        api = d.api()
        secret = d.cli("token", "create", "web").stdout.strip().split()[-1]
        ro = d.cli("token", "create", "viewer", "--role",
                   "read-only").stdout.strip().split()[-1]
        api.ok("POST", "/v1/vms", guest_definition(guest, "web1"))

        # the page and its files need no token; the API does
        st, h, body = https_get(port, "/")
        assert st == 200 and h["content-type"].startswith("text/html")
        assert "content-encoding" not in h  # not asked for
        assert h["cache-control"] == "no-cache"  # revalidated: a 304
        assert b"<script>" in body
        # the VM page's files are named by their content's hash
        js = re.search(rb'"(/ui/vmpage\.[0-9a-f]{12}\.js)"', body)
        css = re.search(rb'"(/ui/vmpage\.[0-9a-f]{12}\.css)"', body)
        assert js and css, body[-400:]
        js, css = js.group(1).decode(), css.group(1).decode()
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self' 'sha256-" in csp
        # two inline scripts: boot.js (starts the list's API call at the
        # top of <head>) and the page's script
        assert csp.count("'sha256-") == 2, csp
        assert body.index(b"<script>") < body.index(b"<style>")
        assert "unsafe-eval" not in csp
        st, h2, _ = https_get(port, "/", [("If-None-Match", h["etag"])])
        assert st == 304 and h2["etag"] == h["etag"]
        # gzip when the client takes it: its own ETag, the same content;
        # either ETag revalidates
        st, hz, zbody = https_get(port, "/", [("Accept-Encoding",
                                               "br, gzip")])
        assert st == 200 and hz["content-encoding"] == "gzip"
        assert hz["vary"] == "Accept-Encoding"
        assert hz["etag"] != h["etag"] and gzip.decompress(zbody) == body
        assert len(zbody) < len(body)
        assert https_get(port, "/", [("If-None-Match", hz["etag"])])[0] == 304
        st, hq, _ = https_get(port, "/", [("Accept-Encoding", "gzip;q=0")])
        assert st == 200 and "content-encoding" not in hq
        st, h, jsbody = https_get(port, js)
        assert st == 200 and h["content-type"].startswith("text/javascript")
        assert "immutable" in h["cache-control"]
        assert "max-age=31536000" in h["cache-control"]
        assert b"xterm" in jsbody
        st, _, _ = https_get(port, js, [("If-None-Match", h["etag"])])
        assert st == 304
        st, h, _ = https_get(port, css, [("Accept-Encoding", "gzip")])
        assert st == 200 and h["content-type"].startswith("text/css")
        assert "immutable" in h["cache-control"]
        assert https_get(port, "/ui/nosuch.js")[0] == 404
        assert https_get(port, "/ui/vmpage.js")[0] == 404
        assert https_get(port, "/v1/vms")[0] == 401

        # the list page's one request: what the list shows, the host's
        # name and CPU; a token limited to a VM sees that VM only
        summ = api.ok("GET", "/v1/vms?view=summary")
        assert [v["name"] for v in summ["vms"]] == ["web1"]
        assert summ["vms"][0]["state"] == "defined"
        assert summ["vms"][0]["memory"] > 0 and summ["vms"][0]["cpus"] >= 1
        assert "definition" not in summ["vms"][0]
        assert summ["host"]["hostname"] and summ["host"]["pcpus"] >= 1
        assert api.call("GET", "/v1/vms?view=nosuch")[0] == 400
        api.ok("POST", "/v1/vms", guest_definition(guest, "other1"))
        one = d.cli("token", "create", "one", "--vm",
                    "web1").stdout.strip().split()[-1]
        st, _, b = https_get(port, "/v1/vms?view=summary",
                             [("Authorization", f"Bearer {one}")])
        assert st == 200
        assert [v["name"] for v in json.loads(b)["vms"]] == ["web1"]
        api.ok("DELETE", "/v1/vms/other1")

        # the console WebSocket takes the token as a subprotocol and
        # answers with softvisor.console only (the token is not echoed)
        assert ws_upgrade(port, "web1", "softvisor.console, bearer.x")[0] == 401
        api.ok("POST", "/v1/vms/web1/start")
        st, h, _ = ws_upgrade(port, "web1",
                              f"softvisor.console, bearer.{secret}")
        assert st == 101, h
        assert h["sec-websocket-protocol"] == "softvisor.console"
        api.ok("POST", "/v1/vms/web1/stop")

        if not os.access(CHROMIUM, os.X_OK):
            pytest.skip(f"no browser: {CHROMIUM} is not installed "
                        "(apt-get install chromium; tools/install-deps)")
        if not (WEB / "node_modules" / "playwright-core").is_dir() or \
                not shutil.which("node"):
            pytest.skip("no playwright-core: run `npm ci` in web/ "
                        "(tools/install-deps does)")
        # the browser's VM gets a disk and a NIC from the form; a VM that
        # is off, with a disk, becomes a template and is cloned
        disk = tmp_path / "web2.img"
        with open(disk, "wb") as f:
            f.truncate(4 << 20)
        disks2 = []  # the two disks of a VM made by the form
        for n in ("multi-a.img", "multi-b.img"):
            disks2.append(tmp_path / n)
            with open(disks2[-1], "wb") as f:
                f.truncate(1 << 20)
        # an image for the form's "import from image" disks
        src = tmp_path / "cloud.raw"
        with open(src, "wb") as f:
            f.write(b"MARKI-42")
            f.truncate(1 << 20)
        src_before = src.read_bytes()
        tdisk = tmp_path / "tmpl1.img"
        with open(tdisk, "wb") as f:
            f.truncate(1 << 20)
        api.ok("POST", "/v1/vms", guest_definition(
            guest, "tmpl1", disks=[{"path": str(tdisk)}]))
        # snapshots are taken of a qcow2 disk (web2's raw one is refused)
        sdisk = tmp_path / "snap1.qcow2"
        subprocess.run([softvisor_exe(), "image", "create", str(sdisk), "1M"],
                       check=True, timeout=60 * TIME_SCALE)
        api.ok("POST", "/v1/vms", guest_definition(
            guest, "snap1", disks=[{"path": str(sdisk), "format": "qcow2"}]))
        env = dict(os.environ, SV_URL=f"https://127.0.0.1:{port}",
                   SV_TOKEN=secret, SV_RO_TOKEN=ro, SV_VM="web2", SV_OTHER_VM="web1",
                   SV_KERNEL=str(guest.image), SV_INITRD=str(guest.initrd),
                   SV_APPEND=append_line(after="shell"), SV_MARKER=MARKER,
                   SV_WEB_DIR=str(WEB), SV_OUT=str(tmp_path),
                   SV_CHROMIUM=CHROMIUM, SV_DISK=str(disk),
                   SV_TEMPLATE="tmpl1", SV_CLONE="web3", SV_SNAP_VM="snap1",
                   SV_MULTI_VM="multi1", SV_DISK2=str(disks2[0]),
                   SV_DISK3=str(disks2[1]), SV_IMPORT=str(src),
                   SV_IMPORT_VM="imp1",
                   SV_TIMEOUT_MS=str(int(180000 * TIME_SCALE)))
        p = subprocess.run(["node", str(Path(__file__).parent /
                                        "web_browser.mjs")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, timeout=600 * TIME_SCALE)
        print(p.stderr)
        res = json.loads(p.stdout.strip().splitlines()[-1])
        print("web:", res)
        assert p.returncode == 0 and res["ok"], res
        assert res["listed_state"] == "defined"
        # the form's disk and NIC, as the definition has them
        assert [(x["path"], x.get("format", "raw")) for x in
                res["created"]["disks"]] == [(str(disk), "raw")]
        assert [x.get("type", "user") for x in res["created"]["nics"]] \
            == ["user"]
        assert res["stop_status"] == 200
        # shutdown from the VM page: its task's progress shown, then its
        # end; the guest powered off (no hard stop after the timeout)
        texts = res["shutdown_texts"]
        assert texts and texts[0].startswith("running|shutdown web2: running"), texts
        assert texts[-1].startswith("success|shutdown web2: success"), texts
        assert "powered off" in texts[-1], texts
        assert res["shutdown_state"] == "stopped"
        assert "Memory of running VMs" in res["host_text"]
        assert res["qos"]["cpu"]["shares"] == "high"
        assert res["qos"]["cpu"]["limit_mhz"] == 4000
        assert res["qos"]["memory"]["reservation"] in ("64M", "64MiB",
                                                       str(64 << 20))
        # the VM page's Disks and Network tables: the form's disk and NIC,
        # their counters grown by the guest's reads and DHCP
        assert res["disk_row"] == ["disk0", str(disk), "raw", "read-write"]
        assert res["nic_row"] == ["net0", "52:54:00:12:34:56", "user (NAT)"]
        io = res["io"]
        assert io["after"]["read"] >= io["before"]["read"] + 64 * 4096
        assert io["after"]["read_ops"] > 0
        assert io["after"]["tx"] > io["before"]["tx"]
        assert io["after"]["rx"] > io["before"]["rx"]
        assert io["after"]["rx_bytes"] > 0 and io["after"]["tx_bytes"] > 0
        # per-second rates from the page's successive samples, next to the
        # totals: every counter that has one, a number >= 0; the read's was
        # > 0 in the sample that first showed it
        want = {"disks." + k for k in ("read_bytes", "read_ops", "write_bytes",
                                       "write_ops")} | \
            {"nics." + k for k in ("rx_bytes", "rx_packets", "tx_bytes",
                                   "tx_packets")}
        assert set(res["rates"]) == want, res["rates"]
        for k, r in res["rates"].items():
            assert r["v"] >= 0 and r["text"].endswith("/s") and r["total"], (k, r)
        assert res["read_rate_seen"] > 0, res["rates"]
        # the clone made through the page: linked, a qcow2 overlay on the
        # template's image, in the list, the template marked
        assert res["clone_mode"] == "linked"
        assert res["template_start_disabled"] is True
        assert res["template_tag"] == "template"
        assert res["template_actions"] == ["clone"]
        assert res["clone_disk_row"][0] == "disk0"
        assert res["clone_disk_row"][2] == "qcow2"
        web3 = api.ok("GET", "/v1/vms/web3")
        assert web3["definition"]["disks"][0]["path"] == \
            res["clone_disk_row"][1]
        assert web3["definition"]["disks"][0]["format"] == "qcow2"
        assert api.ok("GET", "/v1/vms/tmpl1")["template"] is True
        # snapshots: web2's raw disk refused with the API's reason; snap1's
        # taken (as the API lists it), a second s1 refused, reverted and
        # deleted, all from its page
        assert res["snap_memory_default"] is True  # web2 was running
        assert "raw" in res["snap_refused"], res["snap_refused"]
        assert res["snap_none_shown"] is True
        assert res["snap_memory_disabled"] is True  # snap1 is off
        assert res["snap_row"][0] == "s1" and res["snap_row"][2] == "disk-only"
        assert res["snap_row"][3] == "before the test"
        assert [(x["name"], x["memory"], x.get("description")) for x in
                res["snap_api"]] == [("s1", False, "before the test")]
        assert "already" in res["snap_dup"], res["snap_dup"]
        assert res["snap_after_delete"] == []
        assert res["snap_ext_kind"] == "disk-only (overlays)"
        assert res["snap_ext_api"] == [["x1", "external", False, 1]], \
            res["snap_ext_api"]
        assert res["snap_ext_after_delete"] == []
        # then running: with memory by default, reverted (it runs on from
        # the snapshot), deleted while it runs
        assert res["snap_live_memory_default"] is True
        assert res["snap_live_kind"] == "with memory"
        assert res["snap_live_api"] == [["m1", True, "running"]]
        assert res["snap_live_after_delete"] == []
        assert res["snap_live_state"] == "running"
        # devices of a running VM: the API's 409, shown, nothing changed
        assert "is running" in res["edit_running"] and "stop it" in \
            res["edit_running"], res["edit_running"]
        assert res["disks_after_refusal"] == 1
        # two disks and two NICs from the create form (an added row
        # removed again is not sent), in the definition and on its page
        mc = res["multi_created"]
        assert [(x["path"], x["format"], x["readonly"]) for x in
                mc["disks"]] == [(str(disks2[0]), "raw", False),
                                 (str(disks2[1]), "raw", True)], mc["disks"]
        assert [x["type"] for x in mc["nics"]] == ["user", "user"], mc["nics"]
        assert res["multi_disk_rows"] == 2 and res["multi_nic_rows"] == 2
        # edited while off (PATCH): the first disk and the second NIC gone,
        # the disk left made writable, the NIC left unchanged
        me = res["multi_edited"]
        assert [(x["path"], x["readonly"]) for x in me["disks"]] == \
            [(str(disks2[1]), False)], me["disks"]
        assert me["nics"] == mc["nics"][:1], me["nics"]
        # two disks made from one image by the form: a copy (the task
        # followed to its end) and a linked overlay; a missing image is
        # refused with the API's message; the image is not written
        assert res["import_format_disabled"] is True
        assert "disks[0].import_from: " in res["import_error"] and \
            "no such file" in res["import_error"], res["import_error"]
        assert "(1 linked, 1 copied)" in res["import_msg"], res["import_msg"]
        ic = res["import_created"]["disks"]
        assert [(x["path"], x["format"]) for x in ic] == [
            (str(d.state / "disks" / "imp1-disk0.qcow2"), "qcow2"),
            (str(d.state / "disks" / "imp1-disk1.qcow2"), "qcow2")], ic
        assert src.read_bytes() == src_before
        assert res["page_errors"] == []
        # what the browser did is in the audit log under the token
        got = [(r["action"], r["target"]) for r in
               api.ok("GET", "/v1/audit")["audit"]
               if r["principal"] == "token:web"]
        for want in [("vm.create", "web2"), ("vm.start", "web2"),
                     ("vm.console", "web2"), ("vm.pause", "web2"),
                     ("vm.edit", "web2"), ("vm.stop", "web2"),
                     ("vm.shutdown", "web2"),
                     ("vm.delete", "web2"), ("vm.template", "tmpl1"),
                     ("vm.clone", "tmpl1"), ("vm.create", "imp1")]:
            assert want in got, got
    finally:
        rc = d.stop()
    assert rc == 0, d.tail()
