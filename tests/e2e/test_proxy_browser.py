"""A real browser device server through the proxy's web port (docs/control-plane.md §4.6): the
TVM web runtime's RPCServer from the npm package @mlc-ai/web-runtime 0.27.0-dev0, in headless
Chromium (Debian's), registers through our proxy in tracker mode, and our tracker offers it.

How far a session gets: the npm package ships the JavaScript runtime but not the WASM build
of TVM's runtime that a session needs (a client must send it as "rpc.WasmSession"'s
argument). So the test pairs a client with the browser through the tracker and the proxy,
sends the stock client's InitServer packet, and checks that the browser's RPCServer received
and parsed it ("Received LocalSession init"). Everything up to the session itself is covered.

The package is installed by `make e2e-test` into build-web-runtime/ (npm registry), Chromium
by scripts/deps.sh."""
import os
import shutil
import socket
import subprocess
import tempfile

from conftest import ROOT, free_port, wait_port, wait_until
from tvm_wire import Packet, RPCCode, Session, TrackerClient

RUNTIME = os.environ.get("TVMRPC_WEB_RUNTIME", os.path.join(
    ROOT, "build-web-runtime", "node_modules", "@mlc-ai", "web-runtime", "lib", "index.js"))
KEY = "browser-wasm"

PAGE = """<!doctype html><html><body><script src="tvmjs.js"></script>
<script>
console.log("page: starting RPCServer");
new tvmjs.RPCServer("ws://127.0.0.1:%d/ws", "%s", () => ({}), (m) => console.log("rpc: " + m));
</script></body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("Chromium is missing (scripts/deps.sh check installs it)")


def test_tvm_web_runtime_rpcserver_registers_and_receives_a_session(spawn, tmp_path):
    assert os.path.exists(RUNTIME), "%s is missing (make e2e-test installs it with npm)" % RUNTIME
    tport, pport, web = free_port(), free_port(), free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport), "--port-end",
          str(tport + 1))
    wait_port(tport)
    proxy = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(pport),
                  "--port-end", str(pport + 1), "--tracker", "127.0.0.1:%d" % tport,
                  "--web-port", str(web))
    wait_port(web)
    shutil.copy(RUNTIME, tmp_path / "tvmjs.js")
    (tmp_path / "page.html").write_text(PAGE % (web, KEY))
    log = open(tmp_path / "chromium.log", "w+")
    browser = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--user-data-dir=%s" % tempfile.mkdtemp(dir=tmp_path),
         "--enable-logging=stderr", "--v=0", (tmp_path / "page.html").as_uri()],
        stdout=subprocess.DEVNULL, stderr=log)
    tracker = TrackerClient("127.0.0.1", tport)
    try:
        def console_says(text):
            log.flush()
            with open(log.name, errors="replace") as f:
                return text in f.read()
        wait_until(lambda: console_says("connected..."), timeout=60,
                   what="the browser's RPCServer connecting to the web port")
        proxy.wait_log("pooled as server for key %s" % KEY, timeout=30)

        def offered():
            q = tracker.summary()["queue_info"].get(KEY)
            return q and q["free"] == 1
        wait_until(offered, timeout=30, what="the tracker offering the browser")
        addr, port, matchkey = tracker.request(KEY)
        assert port == pport
        with Session.connect(addr, port, full_key="client:" + matchkey, init=False) as s:
            assert s.server_key.startswith("server:")
            s.send_packet(Packet(RPCCode.INIT_SERVER, version="0.8.0", args=[]))
            wait_until(lambda: console_says("Received LocalSession init"), timeout=30,
                       what="the browser receiving the client's InitServer")
    finally:
        tracker.close()
        browser.kill()
        browser.wait()
        log.close()
